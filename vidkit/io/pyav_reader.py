"""The streaming reader, on PyAV (FFmpeg): the default backend.

It never holds more than one chunk of frames, converts to RGB only the frames it returns, and
keeps going past damaged packets, saying where it skipped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from fractions import Fraction

import av
import numpy as np
import torch

from vidkit.errors import DecodeTimeoutError, VideoDecodeError
from vidkit.io._checks import check_path, describe_open_failure, open_container
from vidkit.io._probing import (
    assumed_times_warning,
    first_packets,
    frame_spacing,
    implausible,
    is_raw_stream,
    keyframe_between,
    measure,
)
from vidkit.io._timing import (
    Cursor,
    Retimer,
    Timed,
    TimingState,
    ending_warnings,
    reorder_depth,
    seeking_lands_wrong,
)
from vidkit.io._types import Frames, VideoInfo, short_side_size
from vidkit.io.limits import limit
from vidkit.io.reader import VideoReader
from vidkit.utils import cpu_count

# Decoding this many packets in a row without one frame coming out means the stream is unusable.
_MAX_BARREN_PACKETS = 256


class PyAVReader(VideoReader):
    """Stream or random-access a video through PyAV.

    Args:
        path: the video file.
        apply_rotation: rotate frames upright according to the display matrix (phones record
            portrait video as rotated landscape). When False, frames come out as stored and
            ``info.rotation`` says how they should be turned.
        timeout_s: a decode that makes no progress (no frame out) for this long raises
            :class:`DecodeTimeoutError`; FFmpeg's own blocking reads are bounded by it too.
        threads: decoder threads (0 lets FFmpeg choose).
        short_side: scale frames so their shorter (upright) side has this many pixels, in the same
            FFmpeg pass that converts them to RGB (bilinear); None keeps the stored size. Testing
            at one scale (``vidkit eval``) needs no full-size frames, which can be 10x larger.
        max_pixels: frames larger than this are refused before any is decoded (None: the limit in
            :mod:`vidkit.io.limits`, 8K UHD by default), so a forged header cannot make the decoder
            allocate gigabytes.
    """

    backend = "pyav"

    def __init__(
        self,
        path,
        *,
        apply_rotation: bool = True,
        timeout_s: float = 60.0,
        threads: int = 0,
        short_side: int | None = None,
        max_pixels: int | None = None,
    ):
        self.path = check_path(path)
        self.short_side = short_side
        self.max_pixels = max_pixels or limit("VIDKIT_MAX_PIXELS")
        #: True when the header's duration or frame count was found impossible and measured instead:
        #: decoders that trust headers (decord) must not be handed the file.
        self.header_ignored = False
        #: Time of the last frame, once a read has reached the end of the stream (None until then).
        self.end_s: float | None = None
        self.apply_rotation = apply_rotation
        self.timeout_s = timeout_s
        self.threads = threads
        # RGB conversion runs in FFmpeg's scaler threads beside the decoder's, which pays for the
        # one copy that packing frames into a chunk costs.
        self._sws_threads = threads or min(cpu_count(), 4)
        self.warnings: list[str] = []  # everything that went wrong, over the reader's life
        self._pending: list[str] = []  # what went wrong since the last Frames was returned
        self.info = None
        self._dts_lag = 0.0
        self._frame_interval: float | None = None  # seconds between frames when the rate is constant
        self._container = None
        self.frames_decoded = 0
        self._open()
        try:
            self.info = self._probe()
        except BaseException:
            self.close()
            raise
        self._rgb = {"format": "rgb24", "threads": self._sws_threads}
        if short_side is not None:
            height, width = short_side_size(*self.info.display_size, short_side)
            if self.info.rotation in (90, 270):  # scaled before it is turned upright
                height, width = width, height
            self._rgb.update(width=width, height=height, interpolation="BILINEAR")

    # -- container management -------------------------------------------------------------
    def _open(self) -> None:
        self.close()
        try:
            self._container = open_container(self.path, timeout_s=self.timeout_s, max_pixels=self.max_pixels)
        except av.error.ExitError:  # FFmpeg's interrupt callback: the timeout ran out while opening
            raise DecodeTimeoutError(self.path, f"timed out opening it (no data within {self.timeout_s:g} s)") from None
        except av.error.FFmpegError as e:
            raise VideoDecodeError(self.path, describe_open_failure(self.path, e)) from None
        container = self._container
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            detail = "audio only" if kinds == ["audio"] else ("no streams" if not kinds else "has " + ", ".join(kinds))
            self.close()
            raise VideoDecodeError(self.path, f"no video stream ({detail})")
        self._stream = container.streams.video[0]
        if self._stream.codec_context is None:
            name = getattr(self._stream.codec, "name", None) if hasattr(self._stream, "codec") else None
            self.close()
            raise VideoDecodeError(
                self.path,
                f"the video stream cannot be decoded (no decoder for codec {name or 'unknown'}; "
                "truncated or damaged header?)",
            )
        self._stream.thread_type = "AUTO"
        self._stream.thread_count = self.threads
        self._tb = self.time_base = self._stream.time_base or Fraction(1, 1000)
        self._head = None

    def close(self) -> None:
        # Drop the decoder generator held for the next stream: it refers back to this reader, and a
        # cycle left for the garbage collector can be collected in a forked child (a data-loader
        # worker), whose freeing of the inherited decoder waits forever on threads it does not have.
        self._drop_head()
        if self._container is not None:
            self._container.close()
            self._container = None

    def _drop_head(self) -> None:
        head, self._head = getattr(self, "_head", None), None
        if head is not None and hasattr(head[1], "close"):
            head[1].close()

    # -- probing ----------------------------------------------------------------------------
    def _probe(self) -> VideoInfo:
        stream, container, tb = self._stream, self._container, self._tb
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        header_frames = stream.frames
        if stream.duration:
            duration = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = header_frames / fps if fps and header_frames else 0.0
        entries = stream.index_entries
        index = [(e.timestamp, e.is_keyframe) for e in (entries[i] for i in range(len(entries)))]
        fields = dict(
            path=self.path,
            backend=self.backend,
            container=container.format.name.split(",")[0],
            codec=ctx.codec.canonical_name,  # "av1", not the decoder's name "libdav1d"
            width=ctx.width,
            height=ctx.height,
            pix_fmt=ctx.pix_fmt,
            bit_rate=ctx.bit_rate or container.bit_rate or None,
        )

        # Demux (no decoding) the first packets: their timestamps tell VFR, reordering and GOP length.
        pts, keys, reordered, damage = first_packets(container, stream)
        if damage:
            self.warnings.append(damage)

        # Decoding one frame proves the stream decodes and carries the display matrix. Rewinding
        # is cheaper than reopening; reopen when the rewind does not land on the first frame (which
        # stamps that repeat cannot tell: a broken timing table).
        try:
            container.seek(0, backward=True, any_frame=False)
            first, rest = self._first_frame()
            rewound = not pts or (abs(first.frame.pts - min(pts)) <= 1 and len(set(pts)) == len(pts))
        except (av.error.FFmpegError, VideoDecodeError):
            rewound = False
        if not rewound:
            self._open()
            first, rest = self._first_frame()
        self._head = (first, rest)  # a stream from the start carries on from here: no second open
        start_s = first.time
        rotation = (round((first.frame.rotation or 0) / 90) * 90) % 360
        has_b_frames = bool(self._stream.codec_context.has_b_frames) or reordered

        is_vfr, self._frame_interval = frame_spacing(pts, tb)
        raw = is_raw_stream(fields["container"])  # no stamps, no duration, no count: all measured or assumed
        if raw and self._frame_interval:  # a parser's stamps, at the rate the stream's header states (MPEG-2)
            fps = 1 / self._frame_interval

        exact = header_frames > 0 and len(index) == header_frames
        # The index holds decode times; display times of keyframes trail them by the reorder delay.
        index_keys = sorted(float(ts * tb) for ts, key in index if key)
        self._dts_lag = max(0.0, start_s - index_keys[0]) if index_keys else 0.0
        self._keyframes_s = [k + self._dts_lag for k in index_keys] or [float(k * tb) for k in sorted(keys)]

        if exact:
            num_frames = header_frames
        else:
            num_frames = max(1, round(duration * fps)) if fps else (header_frames or 1)
        if raw or implausible(self.path, duration, num_frames, fps):
            duration, num_frames, exact, fps, lie = measure(
                self.path,
                duration=0.0 if raw else duration,
                num_frames=num_frames,
                fps=fps,
                start_s=start_s,
                timeout_s=self.timeout_s,
                max_pixels=self.max_pixels,
            )
            if lie:
                self.header_ignored = True
                self.warnings.append(lie)
            source = "packets"
        else:
            source = "index" if exact else "estimate"
        if not fps and duration:
            fps = num_frames / duration
        if raw:
            header_fps = float(ctx.framerate) if ctx.framerate else None
            self.warnings.append(assumed_times_warning(fields["codec"], fps or 25.0, header_fps))
        key_gaps = np.diff(np.asarray(sorted(keys), dtype=np.float64) * float(tb))
        return VideoInfo(
            **fields,
            fps=fps,
            duration_s=duration,
            num_frames=num_frames,
            num_frames_exact=exact,
            num_frames_source=source,
            is_vfr=is_vfr,
            rotation=rotation,
            has_b_frames=has_b_frames,
            start_s=start_s,
            keyframe_interval_s=float(np.median(key_gaps)) if len(key_gaps) else None,
            times_assumed=raw,
            warnings=tuple(self.warnings),
        )

    def _first_frame(self) -> tuple[Timed, Iterator[Timed]]:
        frames = self._decode()
        for frame in frames:
            return frame, frames
        reason = "no decodable video frames"
        if self.warnings:
            reason += f" ({self.warnings[-1]})"
        raise VideoDecodeError(self.path, reason)

    # -- decoding -----------------------------------------------------------------------------
    _timing: TimingState | None = None  # what the decodes learnt about the stamps (made by the first)

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Frames in presentation order from the container's current position, skipping damaged
        packets (recorded in ``self.warnings``) and bounded by the stall timeout. Stamps that lie are
        repaired on the way (:mod:`vidkit.io._timing`)."""
        stream = self._stream
        fps = (self.info.fps if self.info else 0) or 25.0
        if self._timing is None:
            self._timing = TimingState()
        retimer = Retimer(
            depth=reorder_depth(self._container.format.name, stream.codec_context.has_b_frames),
            interval=self._frame_interval or 1 / fps,
            state=self._timing,
            warn=self._warn,
        )
        deadline = time.monotonic() + self.timeout_s
        barren = 0
        packets = self._container.demux(stream)
        last_time = first_time = None
        given = 0  # frames yielded
        ended = None  # None while reading; then whether the stream ended normally (not damaged or barren)
        while ended is None:
            try:
                packet = next(packets)
            except StopIteration:
                ended = True
            except av.error.ExitError:  # FFmpeg's interrupt callback: a read blocked past the timeout
                raise DecodeTimeoutError(self.path, f"timed out reading after {_fmt(last_time)}") from None
            except av.error.FFmpegError as e:
                self._warn(f"container damaged after {_fmt(last_time)}; stopped reading ({e})")
                ended = False
            if ended is None:
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as e:
                    frames = []
                    self._warn(f"damaged packet after {_fmt(last_time)} skipped ({e})")
                if not frames:
                    barren += 1
                    if barren > _MAX_BARREN_PACKETS and packet.size:
                        self._warn(f"{barren} packets in a row gave no frame after {_fmt(last_time)}; stopped")
                        ended = False
                self.frames_decoded += len(frames)
                timed = retimer.feed(frames, [frame.time for frame in frames])
            else:
                timed = retimer.flush()  # the frames held back to re-sort their stamps
            for frame, frame_time in timed:
                barren = 0
                deadline = time.monotonic() + self.timeout_s
                if frame.is_corrupt:
                    self._warn(f"frame at {_fmt(frame_time)} is corrupt (concealed by the decoder)")
                if frame_time is None:  # streams without timestamps (raw bitstreams)
                    frame.pts = None
                    last_time = (last_time + 1 / fps) if last_time is not None else 0.0
                    frame_time = last_time
                else:
                    interval = self._frame_interval
                    if interval and last_time is not None and frame_time - last_time > 1.5 * interval + 1e-4:
                        missing = round((frame_time - last_time) / interval) - 1
                        self._warn(
                            f"{missing} frame(s) missing between {last_time:.3f} s and {frame_time:.3f} s "
                            "(damaged data skipped by the demuxer)"
                        )
                    last_time = frame_time
                if first_time is None:
                    first_time = frame_time
                given += 1
                yield Timed(frame, frame_time)
                # Time the caller spends with a frame is not the decoder stalling.
                deadline = time.monotonic() + self.timeout_s
            if time.monotonic() > deadline:
                raise DecodeTimeoutError(
                    self.path, f"decoding stalled: no frame for {self.timeout_s:g} s after {_fmt(last_time)}"
                )
        if ended:
            self._check_ending(last_time, given if first_time is not None and first_time <= self._start_s() else None)

    def _check_ending(self, last_time: float | None, count: int | None = None) -> None:
        """Say so when the stream ends well before the duration the header promises (a truncated file), and
        (unless truncated) when a decode from the first frame (``count`` frames) gave far fewer frames than
        the container lists (broken timing tables, which FFmpeg's demuxer drops samples over)."""
        if self.info is not None and last_time is not None:
            stalled = self._timing is not None and self._timing.stalled
            for warning in ending_warnings(self.info, last_time, count, self._stream.frames, stalled=stalled):
                self._warn(warning)

    def _start_s(self) -> float:
        return (self.info.start_s if self.info else 0.0) + 1e-6

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        self._pending.append(message)

    def _frames_from(self, t: float) -> Iterator[Timed]:
        """Decoded frames starting no later than ``t``. Carries on from where the decoder was left
        (``_head``) when no keyframe lies between there and ``t``; otherwise seeks to the keyframe before
        ``t``. Demuxers differ in what their seek compares with (MP4's: display times; others: decode
        times, which trail them by the reorder delay), so the seek aims at ``t`` first and, when it lands
        after ``t``, earlier by that delay, then by 1 s, 2 s, ... Only one such iterator is live at a
        time: starting another restarts the decoder."""
        head = self._head
        if head is not None and head[0].time <= t + 1e-6 and not self._keyframe_between(head[0].time, t):
            self._head = None
            return Cursor(*head)
        if self.stamps_jump_back():  # stamps that jump back: a seek by time lands in the wrong recording
            return self._from_start()
        for back in self._seek_backs():
            target = t - back
            if target <= self.info.start_s + 1e-6:
                return self._from_start()
            self._container.seek(int(target / self._tb), stream=self._stream, backward=True, any_frame=False)
            self._drop_head()
            frames = self._decode()
            first = next(frames, None)
            if first is not None and first.time <= t + 1e-6:
                return Cursor(first, frames)
        raise AssertionError("unreachable: the seeks back end at the start")

    def stamps_jump_back(self) -> bool:
        """True when the stamps jump back somewhere (found while decoding, or, in MPEG-TS/PS files, by
        demuxing the whole file once): then frames are found by decoding forward, never by seeking."""
        return seeking_lands_wrong(self._timing, self._container.format.name, self.path, timeout_s=self.timeout_s)

    def _seek_backs(self) -> Iterator[float]:
        """How far before the time asked each seek aims: 0, the reorder delay, then 1 s, 2 s, 4 s, ... (the
        last ones reach the start of any stream)."""
        yield 0.0
        if self._dts_lag > 0:
            yield self._dts_lag
        back = 1.0
        while True:
            yield max(back, self._dts_lag)
            back *= 2

    def _from_start(self) -> Iterator[Timed]:
        head = self._head
        if head is None or head[0].time > self.info.start_s + 1e-6:  # none, or left mid-stream
            self._open()
            return self._decode()
        self._head = None
        return Cursor(*head)

    @property
    def av_stream(self):
        """The PyAV video stream as opened now: FFmpeg's own view of it (rates, time base) for callers
        that hand its frames back to FFmpeg. Read it before :meth:`av_frames`, which may reopen the file."""
        return self._stream

    def av_frames(self) -> Iterator[tuple[av.VideoFrame, float]]:
        """Every frame from the start as PyAV's ``VideoFrame`` (stored size, format and orientation,
        never converted to RGB) with its presentation time in seconds, under the same checks as
        :meth:`stream`: damaged packets skipped and counted in ``warnings``, stalls bounded by the
        timeout. For re-encoding (:func:`vidkit.io.reencode.reencode`)."""
        for timed in self._from_start():
            yield timed.frame, timed.time

    def stream(
        self, chunk_size: int = 32, *, start_s: float | None = None, end_s: float | None = None
    ) -> Iterator[Frames]:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        chunk_size = self.frames_per_chunk(chunk_size)
        self._pending = []
        frames = self._frames_from(self.info.start_s if start_s is None else start_s)
        batch: list[np.ndarray] = []
        times: list[float] = []
        timed = None
        for timed in frames:
            if start_s is not None and timed.time < start_s - 1e-6:
                continue
            if end_s is not None and timed.time >= end_s:
                break
            batch.append(timed.frame.to_ndarray(**self._rgb))
            times.append(timed.time)
            if len(batch) == chunk_size:
                yield self._pack(batch, times)
                batch, times = [], []
        else:
            if timed is not None:  # the stream's last frame
                self.end_s = timed.time
        if batch:
            yield self._pack(batch, times)
        elif self._pending:  # nothing left to yield but the news of why
            height, width = self.output_size()
            empty = torch.empty((0, height, width, 3), dtype=torch.uint8)
            yield Frames(empty, torch.empty(0, dtype=torch.float64), self._take_pending())

    def read_at(self, timestamps: Sequence[float]) -> Frames:
        requested = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        if requested.size == 0:
            raise ValueError("read_at needs at least one timestamp")
        if not np.isfinite(requested).all():
            raise ValueError(f"timestamps must be finite, got {timestamps!r}")
        self._pending = []
        targets = np.unique(requested)  # sorted
        # Each chosen frame is converted to RGB as it is chosen, once however many times ask for it: a read
        # holds its output and at most two decoded frames (the one before a target and the one after),
        # never a decoded frame per target.
        chosen: list[tuple[np.ndarray, float] | None] = [None] * len(targets)
        last: list = [None, None]  # the frame converted last, and its RGB

        def rgb(timed: Timed) -> tuple[np.ndarray, float]:
            if last[0] is not timed:
                last[:] = timed, timed.frame.to_ndarray(**self._rgb)
            return last[1], timed.time

        i, prev = 0, None
        frames = self._frames_from(float(targets[0]))
        sought = float(targets[0])  # never seek twice for the same target
        while i < len(targets):
            current = next(frames, None)
            if current is None:
                break
            # Every target at or before this frame is decided: it is nearer to this frame or the previous one.
            while i < len(targets) and current.time >= targets[i]:
                if prev is not None and targets[i] - prev.time <= current.time - targets[i]:
                    chosen[i] = rgb(prev)
                else:
                    chosen[i] = rgb(current)
                i += 1
            prev = current
            if i < len(targets) and targets[i] > sought and self._keyframe_between(current.time, float(targets[i])):
                # Jump ahead; frames skipped lie before a keyframe that is itself no later than the
                # target, so none of them can be nearer to it.
                sought = float(targets[i])
                frames = self._frames_from(sought)
        if i == len(targets):
            # The decoder stays where this read left it: a later read of times after ``prev`` carries on from
            # here instead of seeking back to the keyframe (a policy stepping forward through a long GOP).
            self._head = (prev, frames.rest if isinstance(frames, Cursor) else frames)
        else:
            if prev is None:
                raise VideoDecodeError(self.path, f"no frame could be decoded at or after {targets[0]:.3f} s")
            self.end_s = prev.time
            self._warn(
                f"{len(targets) - i} requested time(s) from {targets[i]:.3f} s lie past the last frame "
                f"({prev.time:.3f} s); the last frame is repeated"
            )
            for j in range(i, len(targets)):
                chosen[j] = rgb(prev)
        del last[:], prev, current

        # The output is stacked in the requested order directly: one copy, however the requests repeat or
        # interleave.
        picked = [chosen[position] for position in np.searchsorted(targets, requested).tolist()]
        return self._pack([array for array, _ in picked], [t for _, t in picked])

    def _keyframe_between(self, now: float, target: float) -> bool:
        """True when seeking saves work: a keyframe lies well after ``now`` and at or before ``target``. Past
        the last keyframe the index lists (Matroska's cues may list only the first), by the keyframe
        interval the probe measured: true when ``target`` is more than one interval after ``now``."""
        if self.stamps_jump_back():
            return False
        return keyframe_between(self._keyframes_s, self.info.keyframe_interval_s, self.info.fps, now, target)

    def _pack(self, arrays: list[np.ndarray], times: list[float]) -> Frames:
        data = np.stack(arrays)
        k = (self.info.rotation // 90) if self.apply_rotation else 0
        if k:
            data = np.ascontiguousarray(np.rot90(data, k=k, axes=(1, 2)))
        return Frames(torch.from_numpy(data), torch.tensor(times, dtype=torch.float64), self._take_pending())

    def _take_pending(self) -> list[str]:
        pending, self._pending = self._pending, []
        return pending


def _fmt(t: float | None) -> str:
    return "the start" if t is None or math.isnan(t) else f"{t:.3f} s"
