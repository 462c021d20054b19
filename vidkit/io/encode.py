"""Encode frames into a video file through PyAV: the one writer used by the synthetic data, the
tests and the re-encoding tools."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from vidkit.utils import atomic_path

# Container chosen from the file extension when the caller does not name one.
FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray | torch.Tensor],
    *,
    fps: float = 25.0,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    timestamps: Sequence[float] | None = None,
    rotation: int = 0,
    container_format: str | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Write RGB uint8 frames ``[H, W, 3]`` to ``path`` and return it.

    ``timestamps`` (seconds, increasing) gives each frame its own presentation time, which makes a
    variable-frame-rate file; otherwise frames are ``1/fps`` apart. ``rotation`` stores a display
    matrix (degrees counter-clockwise), as phones do. The file is written next to its destination
    and renamed into place, so an interrupted write never leaves a half-written video behind.
    """
    path = Path(path)
    fmt = container_format or FORMATS.get(path.suffix.lower())
    with atomic_path(path) as tmp:
        _encode(tmp, fmt, container_options or {}, frames, fps, codec, pix_fmt, options or {}, timestamps, rotation)
    return path


def _encode(tmp, fmt, container_options, frames, fps, codec, pix_fmt, options, timestamps, rotation):
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(tmp, "w", format=fmt, container_options=container_options) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.pix_fmt = pix_fmt
        stream.options = dict(options)
        if timestamps is not None:
            # Millisecond ticks carry any frame spacing a test or a phone would produce.
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(frames):
            array = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
            if i == 0:
                stream.height, stream.width = array.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array, dtype=np.uint8), format="rgb24")
            if timestamps is not None:
                frame.pts = round(timestamps[i] * 1000)
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
