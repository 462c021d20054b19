"""Random access through decord: it indexes every frame up front, then fetches any set of frames
with one seek per group. Metadata, rotation and bad-input checks come from the PyAV probe, so both
backends describe a file the same way."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from vidkit.errors import VideoDecodeError
from vidkit.io._types import Frames
from vidkit.io.pyav_reader import PyAVReader
from vidkit.io.reader import VideoReader


def _import_decord():
    try:
        import decord
    except ImportError:  # pragma: no cover - decord has wheels for x86_64 only
        raise VideoDecodeError("<decord>", "backend 'decord' is not installed (pip install decord; x86_64 only) — use backend='pyav'") from None
    return decord


class DecordReader(VideoReader):
    """Random-access reader on decord. Same arguments as :class:`PyAVReader` (``timeout_s`` bounds
    only the probe: decord's own calls cannot be interrupted)."""

    backend = "decord"

    def __init__(self, path, *, apply_rotation: bool = True, timeout_s: float = 60.0, threads: int = 0):
        decord = _import_decord()
        with PyAVReader(path, apply_rotation=apply_rotation, timeout_s=timeout_s) as probe:
            info = probe.info
        self.path = info.path
        self.apply_rotation = apply_rotation
        try:
            self._vr = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=threads)
            self._pts = self._vr.get_frame_timestamp(np.arange(len(self._vr)))[:, 0].astype(np.float64)
        except decord.DECORDError as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise VideoDecodeError(self.path, f"decord cannot read it ({reason})") from None
        n = len(self._vr)
        if n == 0:
            raise VideoDecodeError(self.path, "decord found no frames")
        warnings = list(info.warnings)
        if not info.num_frames_exact and abs(n - info.num_frames) > 1:
            warnings.append(f"decord indexes {n} frames; the container header suggests {info.num_frames}")
        self.info = type(info)(**{**info.__dict__, "backend": "decord", "num_frames": n, "num_frames_exact": True,
                                  "warnings": tuple(warnings)})
        self.warnings = warnings

    def close(self) -> None:
        self._vr = None

    def stream(self, chunk_size: int = 32, *, start_s: float | None = None, end_s: float | None = None) -> Iterator[Frames]:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        lo = 0 if start_s is None else int(np.searchsorted(self._pts, start_s - 1e-6))
        hi = len(self._pts) if end_s is None else int(np.searchsorted(self._pts, end_s - 1e-9))
        for first in range(lo, hi, chunk_size):
            yield self._get(np.arange(first, min(first + chunk_size, hi)))

    def read_at(self, timestamps: Sequence[float]) -> Frames:
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
            frames.warnings.append(f"{int(past.sum())} requested time(s) from {requested[past].min():.3f} s lie past the "
                                   f"last frame ({pts[-1]:.3f} s); the last frame is repeated")
        index = torch.from_numpy(inverse.reshape(-1))
        return Frames(frames.data[index], frames.pts[index], frames.warnings)

    def _get(self, indices: np.ndarray) -> Frames:
        try:
            data = self._vr.get_batch(indices.tolist()).asnumpy()
        except Exception as e:  # decord raises its own error types from C++
            raise VideoDecodeError(self.path, f"decord failed decoding frames {indices[0]}..{indices[-1]} ({e})") from None
        # decord applies the display matrix itself; undo it when the caller wants stored frames.
        if not self.apply_rotation and self.info.rotation:
            data = np.ascontiguousarray(np.rot90(data, k=-(self.info.rotation // 90), axes=(1, 2)))
        return Frames(torch.from_numpy(data), torch.from_numpy(self._pts[indices].copy()), [])
