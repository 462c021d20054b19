"""Decoders: open a video, learn what it is, stream its frames or read the ones nearest to given times.

>>> with open_video("clip.mp4") as video:        # PyAV, streaming (default)
...     frames = video.read_at([0.0, 0.5, 1.0])  # Frames(data=uint8 [3, H, W, 3], pts=[...])

Finding the videos comes first: :func:`walk_videos` (one folder) and :func:`find_videos` (a job's path
arguments) in :mod:`vidkit.io.walk`.
"""

from __future__ import annotations

import os

from vidkit.errors import DecodeTimeoutError, VideoDecodeError
from vidkit.io._probing import is_still_image
from vidkit.io._types import Frames, VideoInfo
from vidkit.io.reader import VideoReader
from vidkit.io.walk import VIDEO_EXTENSIONS, find_videos, is_video_name, walk_videos

BACKENDS = ("pyav", "decord", "torchcodec")


def open_video(
    path: str | os.PathLike,
    backend: str = "pyav",
    *,
    apply_rotation: bool = True,
    timeout_s: float = 60.0,
    threads: int = 0,
    short_side: int | None = None,
    max_pixels: int | None = None,
) -> VideoReader:
    """Open ``path`` with a decoding backend: ``"pyav"`` (streaming, default), ``"decord"`` (random access)
    or ``"torchcodec"`` (random access on the CPU; the optional ``torchcodec`` extra and FFmpeg's shared
    libraries). ``short_side`` scales every frame so its shorter side has that many pixels (in the
    decoder's RGB conversion; None keeps the stored size). Frames over ``max_pixels`` are refused
    before any is decoded (None: ``VIDKIT_MAX_PIXELS``, 8K UHD by default; :mod:`vidkit.io.limits`). Raises
    :class:`VideoDecodeError` naming the file and the reason when it cannot be read."""
    if backend == "pyav":
        from vidkit.io.pyav_reader import PyAVReader as reader
    elif backend == "decord":
        from vidkit.io.decord_reader import DecordReader as reader
    elif backend == "torchcodec":
        from vidkit.io.torchcodec_reader import TorchCodecReader as reader
    else:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    return reader(
        path,
        apply_rotation=apply_rotation,
        timeout_s=timeout_s,
        threads=threads,
        short_side=short_side,
        max_pixels=max_pixels,
    )


def probe(path: str | os.PathLike, *, timeout_s: float = 60.0) -> VideoInfo:
    """What the decoder sees in ``path`` (codec, size, fps, duration, frame count, VFR, rotation)."""
    with open_video(path, timeout_s=timeout_s) as video:
        return video.info


__all__ = [
    "BACKENDS",
    "VIDEO_EXTENSIONS",
    "DecodeTimeoutError",
    "Frames",
    "VideoDecodeError",
    "VideoInfo",
    "VideoReader",
    "find_videos",
    "is_still_image",
    "is_video_name",
    "open_video",
    "probe",
    "walk_videos",
]
