"""Random access through decord: it indexes every frame up front, then fetches any set of frames
with one seek per group. Metadata, rotation and bad-input checks come from the PyAV probe, so both
backends describe a file the same way; where decord 0.6 is known to fail, the PyAV reader steps in
and says so in the warnings."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from vidkit.errors import VideoDecodeError
from vidkit.io._timing import REORDER_WARNING, reorder_depth, sorted_stamps
from vidkit.io._types import Frames
from vidkit.io.pyav_reader import PyAVReader
from vidkit.io.reader import VideoReader


def _import_decord():
    try:
        import decord
    except ImportError:  # pragma: no cover - decord has wheels for x86_64 only
        raise VideoDecodeError(
            "<decord>", "backend 'decord' is not installed (pip install decord; x86_64 only) — use backend='pyav'"
        ) from None
    return decord


class DecordReader(VideoReader):
    """Random-access reader on decord. Same arguments as :class:`PyAVReader` (``timeout_s`` bounds
    the probe and the PyAV fallback; decord's own calls cannot be interrupted).

    decord 0.6 cannot decode rotated videos (dmlc/decord#336: it allocates the batch at the stored
    size), so those are read with PyAV; a batch decord fails on (a damaged packet) is read again
    with PyAV, which skips the damage. Both cases are reported in ``warnings``.
    """

    backend = "decord"

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
        decord = _import_decord()
        self._pyav = PyAVReader(
            path, apply_rotation=apply_rotation, timeout_s=timeout_s, short_side=short_side, max_pixels=max_pixels
        )
        self.short_side = short_side
        info = self._pyav.info
        self.path = info.path
        self.apply_rotation = apply_rotation
        self.warnings = list(info.warnings)
        self._vr = None
        refusal = None
        if info.rotation:
            refusal = f"decord cannot decode rotated video (rotation {info.rotation}); read with PyAV"
        elif self._pyav.header_ignored:  # decord sizes its index by the header: 10^12 s aborts the process
            refusal = "decord trusts the header, which cannot be true; read with PyAV"
        elif info.times_assumed:  # decord measures a file by its container, which a raw stream has none of
            refusal = "decord cannot index a raw stream (no container); read with PyAV"
        elif reorder_depth(info.container, info.has_b_frames):  # decord 0.6 has no stamps for them, and seeks wrong
            refusal = f"decord cannot time or seek B-frames in {info.container.upper()}; read with PyAV"
        elif self._pyav.stamps_jump_back():  # decord orders frames by stamp, which mixes the recordings up
            refusal = "decord cannot follow timestamps that jump back (concatenated recordings?); read with PyAV"
        if refusal:
            self.warnings.append(refusal)
            self.info = type(info)(**{**info.__dict__, "backend": "decord", "warnings": tuple(self.warnings)})
            return
        try:
            height, width = self._pyav.output_size()  # not rotated: decord scales the stored frames
            size = {"width": width, "height": height} if short_side is not None else {}
            self._vr = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=threads, **size)
            self._pts = self._exact_times(self._vr.get_frame_timestamp(np.arange(len(self._vr)))[:, 0])
        except decord.DECORDError as e:
            self.close()
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise VideoDecodeError(self.path, f"decord cannot read it ({reason})") from None
        n = len(self._vr)
        if n == 0:
            self.close()
            raise VideoDecodeError(self.path, "decord found no frames")
        if not info.num_frames_exact and abs(n - info.num_frames) > 1:
            self.warnings.append(f"decord indexes {n} frames; the container header suggests {info.num_frames}")
        self.info = type(info)(
            **{
                **info.__dict__,
                "backend": "decord",
                "num_frames": n,
                "num_frames_exact": True,
                "num_frames_source": "packets",  # decord indexes every packet
                "warnings": tuple(self.warnings),
            }
        )

    def _exact_times(self, seconds_f32: np.ndarray) -> np.ndarray:
        """decord reports times as float32 (8.2 s comes back as 8.19999981); snap them to the
        stream's time base in float64 (exact while the float32 error stays under half a tick).

        Stamps that lie are repaired as the PyAV reader repairs them (:mod:`vidkit.io._timing`), with
        the same warnings. Where decord has no usable stamps (AVI with B-frames: it reports FFmpeg's
        "no timestamp" value) or its table cannot be repaired alone, the times come from one PyAV
        pass over the file (decoding, no RGB conversion), frame for frame, when it counts as many."""
        tb = self._pyav.time_base
        ticks = np.round(seconds_f32.astype(np.float64) * tb.denominator / tb.numerator)
        seconds = ticks * tb.numerator / tb.denominator
        pyav = self._pyav
        depth = reorder_depth(pyav.info.container, pyav.info.has_b_frames)
        if depth == 0 and bool(np.all(np.diff(seconds) > 0)) and (len(seconds) == 0 or seconds[0] >= -1e-6):
            return seconds  # well stamped: as decord says
        if len(seconds) and np.isfinite(seconds).all() and seconds.min() >= -1e-6 and not pyav.info.is_vfr:
            interval = 1 / pyav.info.fps if pyav.info.fps else 0.04
            repaired, said = sorted_stamps(seconds, depth, interval)
            if said == [REORDER_WARNING] or (not said and bool(np.all(np.diff(repaired) > 0))):
                self.warnings += said
                return repaired
        start = len(pyav.warnings)
        times = np.asarray([t for _, t in pyav.av_frames()], dtype=np.float64)
        if len(times) != len(seconds):
            raise VideoDecodeError(
                self.path, f"decord cannot time its frames (it indexes {len(seconds)}, PyAV decodes {len(times)})"
            )
        self.warnings += pyav.warnings[start:]
        return times

    @property
    def end_s(self) -> float | None:
        return self._pyav.end_s if self._vr is None else float(self._pts[-1])

    def close(self) -> None:
        self._vr = None
        self._pyav.close()

    def stream(
        self, chunk_size: int = 32, *, start_s: float | None = None, end_s: float | None = None
    ) -> Iterator[Frames]:
        if self._vr is None:
            yield from self._pyav.stream(chunk_size, start_s=start_s, end_s=end_s)
            return
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        chunk_size = self.frames_per_chunk(chunk_size)
        lo = 0 if start_s is None else int(np.searchsorted(self._pts, start_s - 1e-6))
        hi = len(self._pts) if end_s is None else int(np.searchsorted(self._pts, end_s - 1e-6))
        for first in range(lo, hi, chunk_size):
            yield self._get(np.arange(first, min(first + chunk_size, hi)), span=True)

    def read_at(self, timestamps: Sequence[float]) -> Frames:
        if self._vr is None:
            return self._pyav.read_at(timestamps)
        requested = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        if requested.size == 0:
            raise ValueError("read_at needs at least one timestamp")
        if not np.isfinite(requested).all():
            raise ValueError(f"timestamps must be finite, got {timestamps!r}")
        pts = self._pts
        right = np.clip(np.searchsorted(pts, requested), 0, len(pts) - 1)
        left = np.clip(right - 1, 0, len(pts) - 1)
        # ties go to the earlier frame, as in the PyAV reader
        nearest = np.where(np.abs(requested - pts[left]) <= np.abs(pts[right] - requested), left, right)
        unique, inverse = np.unique(nearest, return_inverse=True)
        frames = self._get(unique)
        past = requested > pts[-1] + 1e-6
        if past.any():
            frames.warnings.append(
                f"{int(past.sum())} requested time(s) from {requested[past].min():.3f} s lie past the "
                f"last frame ({pts[-1]:.3f} s); the last frame is repeated"
            )
        index = torch.from_numpy(inverse.reshape(-1))
        return Frames(frames.data[index], frames.pts[index], frames.warnings)

    def _get(self, indices: np.ndarray, *, span: bool = False) -> Frames:
        """Frames at ``indices``; on a decord failure, PyAV reads them instead: the frames nearest to
        their times, or with ``span`` (a run of consecutive frames) every frame it can decode in that
        stretch, so a damaged frame is left out rather than replaced by its neighbour."""
        try:
            data = self._vr.get_batch(indices.tolist()).asnumpy()
        except Exception as e:  # decord raises its own error types from C++
            message = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            warning = f"decord failed on frames {indices[0]}..{indices[-1]} ({message}); read them with PyAV"
            self.warnings.append(warning)
            if span:
                end = self._pts[indices[-1] + 1] if indices[-1] + 1 < len(self._pts) else None
                chunks = list(self._pyav.stream(len(indices) + 1, start_s=float(self._pts[indices[0]]), end_s=end))
                frames = Frames(
                    torch.cat([c.data for c in chunks]),
                    torch.cat([c.pts for c in chunks]),
                    [w for c in chunks for w in c.warnings],
                )
            else:
                frames = self._pyav.read_at(self._pts[indices])
            frames.warnings.insert(0, warning)
            return frames
        return Frames(torch.from_numpy(data), torch.from_numpy(self._pts[indices].copy()), [])
