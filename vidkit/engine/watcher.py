"""Watching a live source: frames in as they come, class scores out, in bounded memory.

Two threads. The reading thread pulls frames from a :class:`~vidkit.io.live.LiveReader` and cuts them
into what the model takes — the sliding windows of a clip model (:class:`WindowCutter`: ``window_s``
long, one every ``hop_s``, each planned by the model's test sampler exactly as ``vidkit tag --segments
W --stride H`` plans its windows, so aligned windows get the same frames), or single frames every
``step_s`` for a model that streams (the causal TSM, :class:`FrameTicker`). It hands them over through a
:class:`Handoff` of a few places. The calling thread runs the model on what the handoff holds (windows
batched, a streaming model's frames stepped as one chunk) and yields a :class:`WatchEvent` per window.

When the model is slower than the source, the handoff fills: with ``drop="oldest"`` (live sources) the
oldest waiting window or frame is dropped and counted, so the events stay current and memory stays
flat; with ``drop="block"`` (a file read as fast as it decodes) the reading waits instead, and nothing
is dropped. Memory is the frames of one window plus the handoff's places, whatever the stream's length.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from vidkit.data.transforms import crop_box
from vidkit.data.views import ViewSpec
from vidkit.engine.loop import Precision
from vidkit.engine.readouts import ClassProbabilities
from vidkit.engine.tagger import WindowTiming
from vidkit.io.limits import limit

DROPS = ("oldest", "block")
_EPS_S = 1e-6


def can_stream(model: nn.Module) -> bool:
    """Whether ``model`` scores frames one at a time as they come (``streaming()`` and ``step()``: the
    causal TSM)."""
    return bool(getattr(model, "streamable", False))


@dataclass
class Window:
    """What the model is handed: a window's frames (uint8 ``[T, H, W, 3]``, the sampler's times) with its
    stream times, or one stepped frame (``[1, H, W, 3]``) with its time and when the next is due; when its
    last frame arrived, and which connection of the source it belongs to."""

    frames: np.ndarray
    start_s: float
    end_s: float
    arrived: float
    connection: int


@dataclass(frozen=True)
class WatchEvent:
    """One window's scores: ``scores`` (class probabilities, smoothed as asked) for stream times
    ``[start_s, end_s)``; ``latency_s`` from the arrival of the window's last frame to its scores;
    ``wall_time`` (``time.time()``) when they were ready; ``frames`` the model saw for it."""

    start_s: float
    end_s: float
    scores: torch.Tensor
    latency_s: float
    wall_time: float
    frames: int


class WindowCutter:
    """Sliding windows over a stream of :class:`~vidkit.io.live.LiveFrame`: window ``k`` of a connection
    covers ``[origin + k·hop_s, … + window_s)``, ``origin`` being the connection's first frame. A window is
    cut once its last frame has arrived (and the frame its sampler's last time needs); each of its times takes the
    nearest frame (the earlier on a tie, as the file readers do). Only the frames a coming window may
    need are held."""

    def __init__(self, spec: ViewSpec, *, window_s: float, hop_s: float):
        self.sampler = spec.sampler()
        self.window_s, self.hop_s = window_s, hop_s
        self.ring: collections.deque = collections.deque()
        self.times: collections.deque = collections.deque()
        self.connection = -1
        self.peak = 0

    def push(self, frame, fps: float) -> list[Window]:
        """The windows ``frame`` completes (a new connection starts the windows over)."""
        if frame.connection != self.connection:
            self.ring.clear()
            self.times.clear()
            self.connection, self.origin, self.k, self.last_end = frame.connection, frame.time_s, 0, -math.inf
        self.fps = fps
        self.ring.append(frame)
        self.times.append(frame.time_s)
        self._bound(frame)
        out = []
        while True:
            start = self.origin + self.k * self.hop_s
            times = self._plan(start, self.window_s)
            # complete once its last frame is in (a clip shorter than the window may need less)
            if frame.time_s < max(*times, start + self.window_s - 1.0 / fps) - _EPS_S:
                break
            out.append(self._cut(start, start + self.window_s, times))
            self.k += 1
        self._trim(self.origin + self.k * self.hop_s)
        return out

    def finish(self) -> list[Window]:
        """At the end of the stream: the window that runs past it, cut short at its end, unless a window
        already reached it — ``vidkit tag``'s last window of a file."""
        if not self.ring:
            return []
        last = self.ring[-1].time_s
        end = last + 1.0 / self.fps
        start = self.origin + self.k * self.hop_s
        if self.last_end >= end - _EPS_S or start > last + _EPS_S:
            return []
        return [self._cut(start, end, self._plan(start, end - start))]

    def _plan(self, start: float, length: float) -> tuple[float, ...]:
        timing = WindowTiming.between(start, start + length, self.fps)
        return tuple(t for plan in self.sampler(timing)[:1] for t in plan.timestamps)

    def _cut(self, start: float, end: float, times: tuple[float, ...]) -> Window:
        picked = [self.ring[self._nearest(t)] for t in times]
        self.last_end = end
        return Window(
            frames=np.stack([f.rgb for f in picked]),
            start_s=start,
            end_s=end,
            arrived=max(f.arrived for f in picked),
            connection=self.connection,
        )

    def _nearest(self, t: float) -> int:
        i = bisect.bisect_left(self.times, t - 1e-9)
        if i >= len(self.times):
            return len(self.times) - 1
        if i > 0 and t - self.times[i - 1] <= self.times[i] - t:
            return i - 1
        return i

    def _trim(self, next_start: float) -> None:
        """Drop the frames no coming window can take (one frame before the next start stays: it may be nearest)."""
        while len(self.times) > 1 and self.times[1] <= next_start:
            self.ring.popleft()
            self.times.popleft()

    def _bound(self, frame) -> None:
        """A stream with far more frames a second than it said: the oldest go, within the chunk limit."""
        most = max(2, limit("VIDKIT_MAX_CHUNK_BYTES") // max(1, frame.rgb.nbytes))
        while len(self.ring) > most:
            self.ring.popleft()
            self.times.popleft()
        self.peak = max(self.peak, len(self.ring))


class FrameTicker:
    """One frame every ``step_s`` of stream time (the first at or after each tick) for a streaming model;
    a new connection starts the ticks over at its first frame."""

    def __init__(self, step_s: float):
        self.step_s = step_s
        self.connection, self.next = -1, 0.0
        self.peak = 1

    def push(self, frame, fps: float) -> list[Window]:
        if frame.connection != self.connection:
            self.connection, self.next = frame.connection, frame.time_s
        if frame.time_s < self.next - _EPS_S:
            return []
        while self.next <= frame.time_s + _EPS_S:
            self.next += self.step_s
        # end_s: when the next stepped frame is due (the next tick, or the next frame when frames come slower)
        due = max(self.next, frame.time_s + 1.0 / fps)
        return [Window(frame.rgb[None], frame.time_s, due, frame.arrived, frame.connection)]

    def finish(self) -> list[Window]:
        return []


class Handoff:
    """A bounded queue from the reading thread to the model: ``size`` places; when full, ``put`` drops the
    oldest item (``drop="oldest"``, counted in :attr:`dropped`) or waits for a place (``"block"``)."""

    def __init__(self, size: int, drop: str):
        if drop not in DROPS:
            raise ValueError(f"drop {drop!r}: expected one of {', '.join(DROPS)}")
        self.size, self.drop = size, drop
        self.items: collections.deque = collections.deque()
        self.cond = threading.Condition()
        self.closed = False
        self.error: BaseException | None = None
        self.dropped = 0
        self.peak = 0

    def put(self, item, *, stop: threading.Event) -> None:
        with self.cond:
            while self.drop == "block" and len(self.items) >= self.size and not stop.is_set():
                self.cond.wait(0.1)
            if len(self.items) >= self.size:
                self.items.popleft()
                self.dropped += 1
            self.items.append(item)
            self.peak = max(self.peak, len(self.items))
            self.cond.notify_all()

    def close(self, error: BaseException | None = None) -> None:
        with self.cond:
            self.closed, self.error = True, error
            self.cond.notify_all()

    def take(self, most: int, timeout_s: float) -> list | None:
        """Up to ``most`` waiting items, oldest first; [] when none came within ``timeout_s``; None once
        the queue is closed and empty."""
        with self.cond:
            if not self.items and not self.closed:
                self.cond.wait(timeout_s)
            if not self.items:
                return None if self.closed else []
            taken = [self.items.popleft() for _ in range(min(most, len(self.items)))]
            self.cond.notify_all()
            return taken


class Watcher:
    """Score a live source with ``model`` (see the module's docstring). ``stream``: step a streaming
    model frame by frame (every ``step_s``) and score the last ``window_s`` of frames every ``hop_s``;
    otherwise each sliding window is one clip, cut as ``spec`` says. ``queue``: places in the hand-over
    (default 1 when dropping, 4 when the reading waits). ``smooth``: scores averaged over this many
    windows. ``max_seconds``: stop after this much stream time. ``on_frame(frame)``: called in the reading
    thread with every frame that carries its full-size picture (a reader with ``picture=True``), before
    the picture is let go (``vidkit watch --draw``)."""

    def __init__(
        self,
        reader,
        model: nn.Module,
        *,
        spec: ViewSpec,
        transform,
        device: torch.device,
        precision: Precision = Precision(),
        window_s: float = 2.0,
        hop_s: float = 0.5,
        stream: bool = False,
        step_s: float | None = None,
        queue: int | None = None,
        drop: str = "oldest",
        batch_size: int = 8,
        smooth: int = 1,
        max_seconds: float | None = None,
        on_frame=None,
    ):
        self.reader, self.model = reader, model.eval()
        self.on_frame = on_frame
        self.spec, self.transform = spec, transform
        self.device, self.precision = device, precision
        self.window_s, self.hop_s = window_s, hop_s
        self.stream = stream
        self.step_s = step_s or spec.interval_s
        self.cutter = FrameTicker(self.step_s) if stream else WindowCutter(spec, window_s=window_s, hop_s=hop_s)
        # dropping: one place, so an event waits for at most one model call and stays current; waiting: a few,
        # so the model takes them as a batch
        self.handoff = Handoff(queue or (1 if drop == "oldest" else 4), drop)
        self.batch_size = batch_size
        self.smooth = collections.deque(maxlen=max(1, smooth))
        self.max_seconds = max_seconds
        self.readout = ClassProbabilities()
        self._stop = threading.Event()
        self.windows = 0
        self.reached_max = False

    def stop(self) -> None:
        """End the watching: the reading stops, what was handed over is scored, :meth:`run` returns."""
        self._stop.set()
        self.reader.stop()

    def run(self) -> Iterator[WatchEvent]:
        """Start reading and yield the events as they come; re-raises the reader's error (a source that
        could not be opened, or was given up) after the events before it."""
        thread = threading.Thread(target=self._read, name="vidkit-watch-reader", daemon=True)
        thread.start()
        scorer = self._stepped() if self.stream else None
        if scorer is not None:
            next(scorer)
        try:
            while True:
                items = self.handoff.take(self.batch_size, 0.2)
                if items is None:
                    break
                if not items:
                    continue
                if scorer is not None:
                    yield from scorer.send(items)
                else:
                    yield from self._windows(items)
        finally:
            if scorer is not None:
                scorer.close()
        if self.handoff.error is not None:
            raise self.handoff.error

    # -- the reading thread --------------------------------------------------------------------------
    def _read(self) -> None:
        error, frames = None, self.reader.frames()
        try:
            for frame in frames:
                if self.max_seconds is not None and frame.time_s >= self.max_seconds - _EPS_S:
                    self.reached_max = True
                    break
                if frame.picture is not None:  # drawn on and written here; the windows keep only the small frames
                    if self.on_frame is not None:
                        self.on_frame(frame)
                    frame = dataclasses.replace(frame, picture=None)
                for item in self.cutter.push(frame, self.reader.stats.fps or 25.0):
                    self.handoff.put(item, stop=self._stop)
                if self._stop.is_set():
                    break
            else:
                for item in self.cutter.finish():
                    self.handoff.put(item, stop=self._stop)
        except BaseException as e:  # the source's error, given to the caller in its own thread
            error = e
        finally:
            frames.close()
            self.handoff.close(error)

    # -- the model -----------------------------------------------------------------------------------
    def _views(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``[N, T, H, W, 3]`` → the normalised crops ``[N·V, 3, T, S, S]`` (each item's views together)."""
        height, width = frames.shape[2:4]
        size, crops = self.spec.crop_size, self.spec.num_crops
        boxes = [crop_box(height, width, size, i, crops) for i in range(crops)]
        views = torch.stack([f[:, top : top + size, left : left + size] for f in frames for top, left in boxes])
        return self.transform.normalize(views)

    @torch.inference_mode()
    def _windows(self, items: list[Window]) -> Iterator[WatchEvent]:
        clips = torch.from_numpy(np.stack([w.frames for w in items])).to(self.device)
        x = self._views(clips)
        probs = self.readout(self.model, x, precision=self.precision, device=self.device, batch_size=self.batch_size)
        per_window = probs.view(len(items), self.spec.num_crops, -1).mean(1)
        for window, scores in zip(items, per_window):
            yield self._event(window.start_s, window.end_s, scores, window.arrived, len(window.frames))

    def _stepped(self):
        """A coroutine: sent the stepped frames, it returns the events they complete. The model's caches
        start over on a new connection."""
        frames: collections.deque = collections.deque()  # (time, probabilities) of the frames a window may take
        events: list[WatchEvent] = []
        connection, next_end, context = None, 0.0, None
        try:
            while True:
                items = yield events
                events = []
                for run in _runs(items):
                    if run[0].connection != connection:  # a new connection: the caches and windows start over
                        if context is not None:
                            context.__exit__(None, None, None)
                        context = self.model.streaming()
                        context.__enter__()
                        connection, next_end = run[0].connection, run[0].start_s + self.window_s
                        frames.clear()
                        self.smooth.clear()
                    for window, p in zip(run, self._step([w.frames for w in run])):
                        t = window.start_s
                        frames.append((t, p))
                        while t >= next_end - _EPS_S:  # windows whose last frames never came (dropped)
                            next_end += self.hop_s
                        while window.end_s >= next_end - _EPS_S:  # the last frame of [next_end - window_s, next_end)
                            start = next_end - self.window_s
                            inside = [q for u, q in frames if u >= start - _EPS_S]
                            events.append(
                                self._event(start, next_end, torch.stack(inside).mean(0), window.arrived, len(inside))
                            )
                            next_end += self.hop_s
                        while frames and frames[0][0] < next_end - self.window_s - _EPS_S:
                            frames.popleft()
        finally:
            if context is not None:
                context.__exit__(None, None, None)

    @torch.inference_mode()
    def _step(self, frames: list[np.ndarray]) -> torch.Tensor:
        """Step the streaming model through frames in order → each frame's probabilities ``[t, K]``."""
        clip = torch.from_numpy(np.concatenate(frames))[None].to(self.device)  # [1, t, H, W, 3]
        x = self.precision.prepare(self._views(clip))  # [V, 3, t, S, S]
        with self.precision.autocast(self.device):
            logits = self.model.step(x)  # [V, t, K]
        return logits.float().softmax(-1).mean(0).cpu()

    def _event(self, start: float, end: float, scores: torch.Tensor, arrived: float, frames: int) -> WatchEvent:
        self.smooth.append(scores.float().cpu())
        smoothed = torch.stack(list(self.smooth)).mean(0)
        self.windows += 1
        now = time.monotonic()
        return WatchEvent(
            start_s=start,
            end_s=end,
            scores=smoothed,
            latency_s=max(0.0, now - arrived),
            wall_time=time.time(),
            frames=frames,
        )

    @property
    def peak_frames(self) -> int:
        """The most frames held at once: the reading side's and the handoff's."""
        per_item = 1 if self.stream else self.spec.num_frames
        return self.cutter.peak + self.handoff.peak * per_item


def _runs(items: list[Window]) -> list[list[Window]]:
    """``items`` in runs of one connection each, in order."""
    runs: list[list[Window]] = []
    for item in items:
        if runs and runs[-1][0].connection == item.connection:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


__all__ = ["DROPS", "FrameTicker", "Handoff", "WatchEvent", "Watcher", "Window", "WindowCutter", "can_stream"]
