"""What the random-access readers (decord, torchcodec) share: a library that indexes every frame up front,
then fetches any set of frames by index, beside a PyAV reader that probes the file for them (metadata,
rotation, bad-input checks, so every backend describes a file the same way) and reads in their place
where the library cannot be trusted with a file, or fails on some of its frames.

A backend implements :meth:`IndexedReader._require`, :meth:`IndexedReader._index`,
:meth:`IndexedReader._fetch` and :meth:`IndexedReader._fetch_failed`; the frame choice by time, the chunks
of a stream and the hand-over to PyAV are here, the same for each.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from vidkit.io._types import Frames, VideoInfo
from vidkit.io.pyav_reader import PyAVReader
from vidkit.io.reader import VideoReader


class IndexedReader(VideoReader):
    """A reader on a library with a frame index. Same arguments as :class:`PyAVReader`; ``timeout_s``
    bounds the probe and the PyAV fallback (the library's own calls cannot be interrupted).

    ``_decoder`` is the library's handle, None where the PyAV reader reads the file (the library refused
    it, or the reader is closed); ``_pts`` holds the indexed frames' times in seconds, increasing.
    """

    backend: str

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
        self._require(path)
        self._pyav = PyAVReader(
            path, apply_rotation=apply_rotation, timeout_s=timeout_s, short_side=short_side, max_pixels=max_pixels
        )
        self.short_side = short_side
        info = self._pyav.info
        self.path = info.path
        self.apply_rotation = apply_rotation
        self.warnings = list(info.warnings)
        self._decoder = None
        try:
            refusal = self._index(info, threads=threads, timeout_s=timeout_s, max_pixels=max_pixels)
        except BaseException:
            self.close()
            raise
        if refusal:
            self.warnings.append(refusal)
            self.info = type(info)(**{**info.__dict__, "backend": self.backend, "warnings": tuple(self.warnings)})
            return
        n = len(self._pts)
        if not info.num_frames_exact and abs(n - info.num_frames) > 1:
            self.warnings.append(f"{self.backend} indexes {n} frames; the container header suggests {info.num_frames}")
        self.info = type(info)(
            **{
                **info.__dict__,
                "backend": self.backend,
                "num_frames": n,
                "num_frames_exact": True,
                "num_frames_source": "packets",  # the library's index holds every packet
                "warnings": tuple(self.warnings),
            }
        )

    # -- what each library does its own way ----------------------------------------------------------
    @staticmethod
    @abc.abstractmethod
    def _require(path) -> None:
        """Raise :class:`VideoDecodeError` when the library cannot be used in this process."""

    @abc.abstractmethod
    def _index(self, info: VideoInfo, *, threads: int, timeout_s: float, max_pixels: int | None) -> str | None:
        """Open the library's decoder on the file (``_decoder``) and index its frames (``_pts``); or the
        reason to read with PyAV instead (the decoder left None). Raises where the file cannot be read."""

    @abc.abstractmethod
    def _fetch(self, indices: np.ndarray, *, span: bool) -> torch.Tensor:
        """uint8 ``[T, H, W, 3]``: the frames at ``indices`` (sorted, unique; with ``span`` a run of
        consecutive frames), as :meth:`stream` and :meth:`read_at` return them. Raises where the library
        fails on them."""

    @abc.abstractmethod
    def _fetch_failed(self, indices: np.ndarray, span: bool, error: Exception) -> str:
        """The warning for :meth:`_fetch` raising ``error``, after which PyAV reads those frames."""

    # -- the same for every library -------------------------------------------------------------------
    @property
    def end_s(self) -> float | None:
        return self._pyav.end_s if self._decoder is None else float(self._pts[-1])

    def close(self) -> None:
        self._decoder = None
        self._pyav.close()

    def stream(
        self, chunk_size: int = 32, *, start_s: float | None = None, end_s: float | None = None
    ) -> Iterator[Frames]:
        if self._decoder is None:
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
        if self._decoder is None:
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
        """Frames at ``indices`` (sorted, unique), at the times of the index. Where the library fails on
        them, PyAV reads them instead: the frames nearest to their times, or with ``span`` (a run of
        consecutive frames) every frame it can decode in that stretch, so a damaged frame is left out
        rather than replaced by its neighbour."""
        times = self._pts[indices]
        try:
            data = self._fetch(indices, span=span)
        except Exception as e:  # the libraries raise their own error types from C++
            warning = self._fetch_failed(indices, span, e)
            self.warnings.append(warning)
            if span:
                end = self._pts[indices[-1] + 1] if indices[-1] + 1 < len(self._pts) else None
                chunks = list(self._pyav.stream(len(indices) + 1, start_s=float(times[0]), end_s=end))
                frames = Frames(
                    torch.cat([c.data for c in chunks]),
                    torch.cat([c.pts for c in chunks]),
                    [w for c in chunks for w in c.warnings],
                )
            else:
                frames = self._pyav.read_at(times)
            frames.warnings.insert(0, warning)
            return frames
        return Frames(data, torch.from_numpy(times.copy()), [])
