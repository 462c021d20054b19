"""Motion vectors from the bitstream, as dense fields: what the codec already computed, no optical flow.

FFmpeg exports each decoded frame's motion vectors when asked (``flags2=+export_mvs``); PyAV hands
them over as a structured array, one row per block: its size ``w × h``, its centre in this frame
(``dst_x, dst_y``), the offset ``motion_x / motion_scale`` (sub-pixel precision: ``motion_scale`` is
4 for quarter-pel H.264) and ``source`` (negative: a past reference, positive: a future one). This
module paints those blocks onto a grid of ``grid``-pixel cells, vectorised (no per-block Python
loop), in pixels as float32 — never wrapped into int8.

Convention: a vector is the codec's, ``src - dst`` — it points from a block of this frame to where
its content came from in the reference frame. (The content moved by minus the vector.)

FFmpeg exports vectors for H.264, MPEG-1/2/4 Part 2 and H.263; its HEVC, VP9 and AV1 decoders export
none, which :func:`motion_fields` says up front rather than returning empty fields.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from vidkit.errors import VideoDecodeError

# FFmpeg decoders that fill AV_FRAME_DATA_MOTION_VECTORS with flags2=+export_mvs.
EXPORTING_CODECS = frozenset({"h264", "mpeg4", "mpeg2video", "mpeg1video", "h263", "h263p", "msmpeg4v2", "msmpeg4v3",
                              "wmv1", "wmv2", "flv1"})

__all__ = ["EXPORTING_CODECS", "MotionFrame", "dense_field", "motion_fields", "decoded_with_vectors"]

PICT_TYPES = {1: "I", 2: "P", 3: "B", 4: "S", 5: "SI", 6: "SP", 7: "BI"}


@dataclass
class MotionFrame:
    """One decoded frame's motion: ``past`` / ``future`` float32 ``[2, H/grid, W/grid]`` (x, y in
    pixels; zero where no block referenced that direction), with ``past_mask`` / ``future_mask`` bool
    ``[H/grid, W/grid]`` saying where a vector was given."""

    pts_s: float
    pict_type: str  # "I", "P", "B" (or "S", "SI", "SP", "BI" for the rarer kinds)
    gop: int  # which group of pictures: 0 up to the second key frame, then 1, ... (presentation order)
    past: np.ndarray
    future: np.ndarray
    past_mask: np.ndarray
    future_mask: np.ndarray


def dense_field(vectors: np.ndarray, height: int, width: int, *, grid: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(past, future, past_mask, future_mask)`` from PyAV's structured vector array, on a grid of
    ``ceil(height/grid) × ceil(width/grid)`` cells: every cell a block covers takes that block's
    vector (blocks are at least 4×4, so ``grid=4`` loses nothing; ``grid=16`` samples one value per
    macroblock, at its top-left 4x4 corner's block)."""
    gh, gw = -(-height // grid), -(-width // grid)
    fields = np.zeros((2, 2, gh, gw), np.float32)
    masks = np.zeros((2, gh, gw), bool)
    if len(vectors):
        w, h = vectors["w"].astype(np.int64), vectors["h"].astype(np.int64)
        x0 = vectors["dst_x"].astype(np.int64) - w // 2
        y0 = vectors["dst_y"].astype(np.int64) - h // 2
        scale = np.maximum(vectors["motion_scale"].astype(np.float32), 1.0)
        dx = vectors["motion_x"].astype(np.float32) / scale
        dy = vectors["motion_y"].astype(np.float32) / scale
        direction = (vectors["source"] > 0).astype(np.int64)  # 0 past, 1 future
        # cells whose top-left pixel lies inside each block: [c0, c1) in each axis
        cx0, cx1 = np.clip(-(-x0 // grid), 0, gw), np.clip(-(-(x0 + w) // grid), 0, gw)
        cy0, cy1 = np.clip(-(-y0 // grid), 0, gh), np.clip(-(-(y0 + h) // grid), 0, gh)
        nx, ny = np.maximum(cx1 - cx0, 0), np.maximum(cy1 - cy0, 0)
        counts = nx * ny
        block = np.repeat(np.arange(len(vectors)), counts)
        # position of each cell within its block, without a loop: offsets from the block's first cell
        k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        cx = cx0[block] + k % np.maximum(nx[block], 1)
        cy = cy0[block] + k // np.maximum(nx[block], 1)
        d = direction[block]
        fields[d, 0, cy, cx] = dx[block]
        fields[d, 1, cy, cx] = dy[block]
        masks[d, cy, cx] = True
    return fields[0], fields[1], masks[0], masks[1]


def motion_fields(path: str | os.PathLike, *, grid: int = 4, timeout_s: float = 60.0) -> Iterator[MotionFrame]:
    """Stream every frame's motion fields, in presentation order as the decoder outputs them.

    Raises :class:`VideoDecodeError` for a file that cannot be read and for a codec whose FFmpeg
    decoder exports no vectors (HEVC, VP9, AV1, ...)."""
    for d in decoded_with_vectors(path, timeout_s=timeout_s):
        past, future, past_mask, future_mask = dense_field(d.vectors, d.height, d.width, grid=grid)
        yield MotionFrame(d.pts_s, d.pict_type, d.gop, past, future, past_mask, future_mask)


@dataclass
class DecodedFrame:
    """One decoded picture with what the codec stored about it: ``frame`` is PyAV's (convert it only
    when its pixels are wanted), ``vectors`` PyAV's structured block array (empty for I-frames)."""

    frame: object  # av.VideoFrame
    vectors: np.ndarray
    pts_s: float
    pict_type: str
    gop: int
    key: bool
    height: int
    width: int


def decoded_with_vectors(path: str | os.PathLike, *, timeout_s: float = 60.0) -> Iterator[DecodedFrame]:
    """Decode ``path`` with vector export on and stream each frame with its vectors, picture type
    and GOP index, in presentation order: the one decoding loop under :func:`motion_fields` and
    :mod:`vidkit.io.compressed`. Raises :class:`VideoDecodeError` as :func:`motion_fields` does."""
    import av

    from vidkit.io import open_video

    with open_video(path, timeout_s=timeout_s) as video:  # the checks and messages of the reader
        codec = video.info.codec
    if codec not in EXPORTING_CODECS:
        raise VideoDecodeError(path, f"FFmpeg's {codec} decoder exports no motion vectors (it does for "
                                     f"{', '.join(sorted(c for c in EXPORTING_CODECS if c in ('h264', 'mpeg4', 'mpeg2video')))}); "
                                     "re-encode it to H.264 or MPEG-4 Part 2 first")
    with av.open(os.fspath(path), timeout=timeout_s) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"flags2": "+export_mvs"}
        height, width = stream.codec_context.height, stream.codec_context.width
        gop = -1
        try:
            for frame in container.decode(stream):
                side = frame.side_data.get("MOTION_VECTORS")
                vectors = side.to_ndarray() if side is not None else np.zeros(0, dtype=_EMPTY_DTYPE)
                pict = frame.pict_type
                name = PICT_TYPES.get(int(pict), str(pict)) if not isinstance(pict, str) else pict
                key = bool(frame.key_frame) or name == "I"
                gop += key or gop < 0
                yield DecodedFrame(frame, vectors, float(frame.time) if frame.time is not None else float("nan"), name,
                                   gop, key, height, width)
        except av.error.FFmpegError as e:
            raise VideoDecodeError(path, f"decoding stopped: {e}") from None


_EMPTY_DTYPE = np.dtype({"names": ["source", "w", "h", "src_x", "src_y", "dst_x", "dst_y", "flags", "motion_x", "motion_y",
                                   "motion_scale"],
                         "formats": ["<i4", "u1", "u1", "<i2", "<i2", "<i2", "<i2", "<u8", "<i4", "<i4", "<u2"]})
