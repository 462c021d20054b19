"""Repairing the presentation times a container gives decoded frames, when they lie.

The readers trust a frame's stamp when the stamps increase; three kinds of files break that:

- **AVI with B-frames** (DivX/Xvid-era MPEG-4 Part 2, "packed" B-frames): AVI stamps packets in
  decode order and FFmpeg guesses display stamps from them, so the decoder returns the frames in
  display order with their stamps permuted (1, 2, 4, 3, 5, 7, 6, ...). The frames are right; the
  stamps are not. :class:`Retimer` holds back a few frames (the decoder's reorder depth) and gives
  each frame it lets go the smallest stamp it holds: the stamps re-sorted over that window.
  :func:`sorted_stamps` does the same to a whole table at once (the decord backend's).
- **Concatenated recordings** (``cat a.ts b.ts``): the stamps jump back at the join. The frames after
  the jump are shifted to follow on at the frame interval, and the jump is reported. Seeking by time
  is meaningless past such a join, so the reader decodes forward instead (``discontinuous``).
- **Broken timing tables** (MP4 sample durations of zero, negative or huge): frames whose stamps do
  not increase get one frame interval after the previous frame.

Each repair is said once per reader. Well-stamped files pass through untouched: without reordering
(every container but AVI) a frame costs one comparison here.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator

import av
import numpy as np

from vidkit.io._checks import open_container

# Containers that stamp packets in decode order only, so display stamps of B-frame streams are guesses.
_DECODE_ORDER_CONTAINERS = frozenset({"avi"})
# Containers whose stamps may restart mid-file (concatenated or spliced transport streams).
_DISCONTINUOUS_CONTAINERS = frozenset({"mpegts", "mpeg"})
# A step back by more than this many frame intervals is a join of two recordings, not a glitch.
_JUMP_FRAMES = 4

REORDER_WARNING = "the container's timestamps were out of order (B-frames stamped in decode order); repaired"


def reorder_depth(container: str, has_b_frames: int) -> int:
    """How many frames to hold back to re-sort stamps: 0 (none) unless the container stamps in decode
    order and the codec reorders frames; then the decoder's reorder depth plus one, between 2 and 4."""
    if not has_b_frames or container.split(",")[0] not in _DECODE_ORDER_CONTAINERS:
        return 0
    return max(2, min(4, int(has_b_frames) + 1))


def may_be_discontinuous(container: str) -> bool:
    """True for containers whose stamps can restart mid-file (MPEG transport and program streams)."""
    return container.split(",")[0] in _DISCONTINUOUS_CONTAINERS


def stamps_jump_back(path: str, *, timeout_s: float) -> bool:
    """True when the video stream's decode stamps step back somewhere (a join of two recordings),
    found by demuxing the whole file without decoding it: for MPEG-TS/PS files, before the first seek,
    since a seek by time lands in whichever recording holds that stamp."""
    try:
        with open_container(path, timeout_s=timeout_s) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or 25
            allowed, tb = _JUMP_FRAMES / float(rate), stream.time_base
            top = None
            for packet in container.demux(stream):
                if packet.dts is None:
                    continue
                t = float(packet.dts * tb)
                if top is not None and t < top - allowed:
                    return True
                top = t if top is None else max(top, t)
    except (av.error.FFmpegError, IndexError):
        return False  # damage is the decoder's to report
    return False


class TimingState:
    """What a reader has learnt about its file's stamps, across passes: which warnings were said, and
    whether the stamps jump back somewhere (then seeking by time cannot be trusted)."""

    def __init__(self):
        self.said: set = set()  # keys of the warnings said
        self.discontinuous = False
        self.scanned = False  # whether the whole file was checked for jumps (stamps_jump_back)

    @property
    def stalled(self) -> bool:
        """Whether some frames' stamps did not increase (and got times at the frame interval)."""
        return "stall" in self.said


class Retimer:
    """One decoding pass's times: ``feed`` the frames the decoder returns with their stamps in seconds
    (None for frames without one), get back ``(frame, time)`` pairs, the same frames in the same
    order; ``flush`` at the end gives back the frames held for re-sorting.

    Args:
        depth: frames held back to re-sort stamps (:func:`reorder_depth`); 0 passes frames on at once.
        interval: seconds between frames, for frames whose stamps do not increase.
        state: the reader's :class:`TimingState`.
        warn: records a warning (each message is said once per reader).
    """

    def __init__(self, *, depth: int, interval: float, state: TimingState, warn: Callable[[str], None]):
        self.depth = depth
        self.interval = interval
        self.state = state
        self._warn = warn
        self._held: deque = deque()
        self._stamps: list[float] = []  # a heap of the held frames' stamps
        self._offset = 0.0  # added to stamps after a jump back
        self._last: float | None = None  # the last time given out
        self._last_raw = 0.0  # its stamp as the container gave it

    def feed(self, frames: Iterable, times: Iterable[float | None]) -> list[tuple[object, float | None]]:
        if not self.depth:
            return [self._follow_on(frame, t) for frame, t in zip(frames, times)]
        out = []
        for frame, t in zip(frames, times):
            if t is None:  # no stamp to re-sort: let everything held go first
                out += self.flush()
                out.append((frame, None))
                continue
            self._held.append((frame, t))
            heapq.heappush(self._stamps, t)
            if len(self._held) > self.depth:
                out.append(self._release())
        return out

    def flush(self) -> list[tuple[object, float | None]]:
        out = []
        while self._held:
            out.append(self._release())
        return out

    def _release(self) -> tuple[object, float | None]:
        frame, own = self._held.popleft()
        t = heapq.heappop(self._stamps)
        if t != own:
            self._say("reorder", REORDER_WARNING)
        return self._follow_on(frame, t)

    def _follow_on(self, frame, raw: float | None) -> tuple[object, float | None]:
        """The stamp, shifted after a jump back; a stamp that still does not increase gets one interval."""
        if raw is None:
            return frame, None
        t = raw + self._offset
        last = self._last
        if last is not None and t <= last:
            if self._last_raw - raw > _JUMP_FRAMES * self.interval:  # a step back, not a stall
                self.state.discontinuous = True
                self._say(
                    ("jump", round(self._last_raw, 6), round(raw, 6)),
                    f"timestamps jump back from {self._last_raw:.3f} s to {raw:.3f} s after the frame at "
                    f"{last:.3f} s; the stream continues (concatenated recordings?) with times shifted",
                )
                self._offset += last + self.interval - t
            else:
                self._say(
                    "stall",
                    f"timestamps do not increase at {last:.3f} s (zero or negative frame durations in the "
                    f"container?); such frames are given times {self.interval:.3f} s apart",
                )
            t = last + self.interval
        self._last, self._last_raw = t, raw
        return frame, t

    def _say(self, key, message: str) -> None:
        if key not in self.state.said:
            self.state.said.add(key)
            self._warn(message)


def sorted_stamps(seconds: np.ndarray, depth: int, interval: float) -> tuple[np.ndarray, list[str]]:
    """A whole table of stamps (decode output order) repaired as :class:`Retimer` repairs them one by
    one, with the warnings it says: for the decord backend, which reads its table up front."""
    said: list[str] = []
    state = TimingState()
    retimer = Retimer(depth=depth, interval=interval, state=state, warn=said.append)
    values = [float(s) for s in seconds]
    out = retimer.feed(range(len(values)), values) + retimer.flush()
    return np.asarray([t for _, t in out], dtype=np.float64), said


def seeking_lands_wrong(state: TimingState, container: str, path: str, *, timeout_s: float) -> bool:
    """True when a seek by time cannot be trusted: the stamps were seen to jump back, or (checked once, in
    containers whose stamps may restart) the whole file's decode stamps step back somewhere."""
    if not state.scanned and may_be_discontinuous(container):
        state.scanned = True
        state.discontinuous = stamps_jump_back(path, timeout_s=timeout_s) or state.discontinuous
    return state.discontinuous


def ending_warnings(info, last_time: float, count: int | None, listed: int, *, stalled: bool) -> list[str]:
    """What a decode that reached the stream's end (its last frame at ``last_time``) says: that the stream
    ends well before the duration the header promises (a truncated file), and (unless truncated) that a
    decode from the first frame (``count`` frames; None for one that started later) gave far fewer frames
    than the container lists (``listed``: broken timing tables, which FFmpeg's demuxer drops samples over)."""
    said = []
    expected_end = info.start_s + info.duration_s
    truncated = bool(info.fps) and last_time + 1 / info.fps < expected_end - 2 / info.fps
    if truncated:
        said.append(f"stream ends at {last_time:.3f} s but the header says {expected_end:.3f} s: file truncated?")
    # A truncated file is short by what was cut off; times given to stalled stamps end early by themselves.
    if count is not None and (stalled or not truncated) and fewer_than_listed(count, listed):
        said.append(f"decoded {count} of the {listed} frames the index lists (broken timing table?)")
    return said


def fewer_than_listed(decoded: int, listed: int) -> bool:
    """True when a decode from the first frame gave far fewer frames than the container lists (under 90%
    and two or more short): a broken table, not a frame or two the decoder could not use."""
    return listed > 0 and decoded < 0.9 * listed and listed - decoded >= 2


class Timed:
    """A decoded frame and its presentation time in seconds (frames without timestamps get one)."""

    __slots__ = ("frame", "time")

    def __init__(self, frame: av.VideoFrame, time: float):
        self.frame, self.time = frame, time


class Cursor:
    """The decoder at one place: a frame in hand, yielded first, then ``rest`` (the decoder after it).
    A read that stops here hands ``rest`` on, so resuming never nests one iterator in another."""

    __slots__ = ("first", "rest")

    def __init__(self, first: Timed, rest: Iterator[Timed]):
        self.first, self.rest = first, rest

    def __iter__(self):
        return self

    def __next__(self) -> Timed:
        if self.first is None:
            return next(self.rest)
        first, self.first = self.first, None
        return first
