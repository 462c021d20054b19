"""The compressed domain as CoViAR reads it: each frame described relative to its GOP's I-frame.

"Compressed Video Action Recognition" (Wu et al., CVPR 2018, §3) trains on I-frames, motion vectors
and residuals. A P-frame's vectors point into the previous frame, whose own vectors point further
back, so CoViAR *accumulates* them: following the chain of references back to the I-frame gives,
for every position of frame ``t``, where its content was in the I-frame (§3.1, "decoupling"). The
accumulated field ``mv`` and the residual ``frame_t − warp(I-frame, mv)`` then describe frame ``t``
from the I-frame alone, and both are simple (near zero where nothing moved).

FFmpeg does not export residuals, so — as CoViAR's own loader — they are computed in pixel space,
from the decoded frame. The chain is well defined only when every P-frame predicts from the frame
before it: no B-frames and one reference frame (CoViAR's re-encoded format: MPEG-4 Part 2, GOP 12,
no B-frames; ``tools/reencode_coviar.py`` converts a folder). On other streams each frame says why
it is not exact (:attr:`CompressedFrame.inexact`) rather than pass off a wrong residual as right.

Conventions as in :mod:`vidkit.io.motion`: fields are float32 ``[2, H/grid, W/grid]`` (x, y) in
pixels, and a vector points from a position of this frame to where its content was in the
reference — here the I-frame.

    for f in coviar_frames("clip.avi"):
        f.iframe, f.mv, f.residual, f.inexact   # uint8 [H, W, 3], float32 [2, H/4, W/4], int16 [H, W, 3], None

:func:`keyframes` is the fast path for the I-frame stream alone: the decoder skips every other frame.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from vidkit.errors import VideoDecodeError
from vidkit.io._checks import open_container
from vidkit.io.motion import decoded_with_vectors, dense_field

__all__ = [
    "CompressedClip",
    "CompressedFrame",
    "accumulate",
    "coviar_frames",
    "downsample",
    "keyframes",
    "read_compressed_at",
    "reference_frames",
    "warp",
]

# Codecs whose P-pictures predict from exactly one picture, the previous I- or P-picture.
_SINGLE_REFERENCE = frozenset(
    {"mpeg4", "mpeg1video", "mpeg2video", "h263", "h263p", "msmpeg4v2", "msmpeg4v3", "wmv1", "wmv2", "flv1"}
)


@dataclass
class CompressedFrame:
    """One frame relative to its GOP's I-frame.

    ``iframe`` uint8 ``[H, W, 3]`` is the GOP's I-frame (one array shared by the GOP's frames);
    ``mv`` float32 ``[2, H/grid, W/grid]`` the accumulated field (zero on the I-frame);
    ``residual`` int16 ``[H, W, 3]``, this frame minus the I-frame warped by ``mv`` (None when not
    asked for); ``inexact`` None, or why ``mv`` and ``residual`` do not follow the codec's own
    prediction chain (a B-frame, several reference frames, no I-frame yet)."""

    pts_s: float
    pict_type: str
    gop: int
    iframe: np.ndarray
    mv: np.ndarray
    residual: np.ndarray | None
    inexact: str | None

    @property
    def exact(self) -> bool:
        return self.inexact is None


def accumulate(previous: np.ndarray, field: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One step back along the chain, per pixel: ``previous`` ``[2, H, W]`` is the reference frame's
    accumulated field (where each of its pixels was in the I-frame, as an offset), ``field`` /
    ``mask`` this frame's per-pixel vectors into that reference (``dense_field(..., grid=1)``).
    Returns this frame's accumulated field ``v(p) + previous(p + v(p))``, the reference read at the
    nearest pixel, as CoViAR's loader does; the vectors themselves are summed exactly, so a steady
    translation accumulates to exactly the sum of its steps. Pixels without a vector (intra-coded
    blocks) keep the reference's value at the same place (zero motion), also as CoViAR does."""
    _, height, width = previous.shape
    v = np.where(mask, field, np.float32(0))
    ys, xs = np.mgrid[0:height, 0:width]
    qx = np.clip(np.floor(xs + v[0] + 0.5).astype(np.int64), 0, width - 1)
    qy = np.clip(np.floor(ys + v[1] + 0.5).astype(np.int64), 0, height - 1)
    return (v + previous[:, qy, qx]).astype(np.float32)


def downsample(field: np.ndarray, grid: int) -> np.ndarray:
    """A per-pixel field ``[2, H, W]`` as the mean over each ``grid × grid`` cell ``[2, H/grid, W/grid]``
    (a partial cell at the right or bottom edge averages the pixels it has)."""
    if grid == 1:
        return field
    _, height, width = field.shape
    gh, gw = -(-height // grid), -(-width // grid)
    padded = (
        field
        if (gh * grid, gw * grid) == (height, width)
        else np.pad(field, ((0, 0), (0, gh * grid - height), (0, gw * grid - width)))
    )
    sums = padded.reshape(2, gh, grid, gw, grid).sum(axis=(2, 4), dtype=np.float32)
    rows = np.minimum(grid, height - np.arange(gh) * grid)
    cols = np.minimum(grid, width - np.arange(gw) * grid)
    return sums / (rows[:, None] * cols[None, :]).astype(np.float32)


def _bilinear(values: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``values`` ``[C, h, w]`` read at fractional positions ``x``, ``y`` (inside the grid)."""
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, values.shape[2] - 1), np.minimum(y0 + 1, values.shape[1] - 1)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    top = values[:, y0, x0] * (1 - fx) + values[:, y0, x1] * fx
    bottom = values[:, y1, x0] * (1 - fx) + values[:, y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def warp(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """``image`` uint8 ``[H, W, 3]`` moved by the per-pixel ``field`` ``[2, H, W]``: pixel ``p`` of the
    result is ``image`` at ``p + field(p)`` (bilinear, clamped at the border). Returns float32."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    x = np.clip(xs + field[0], 0, width - 1)
    y = np.clip(ys + field[1], 0, height - 1)
    return np.moveaxis(_bilinear(np.moveaxis(image, 2, 0).astype(np.float32), x, y), 0, 2)


def reference_frames(path: str | os.PathLike, *, timeout_s: float = 60.0) -> tuple[int | None, str]:
    """How many pictures a P-picture may predict from, and how that is known: 1 for MPEG-4 Part 2
    and its kin; for H.264 the sequence parameter set's ``max_num_ref_frames`` (None when the
    stream carries no readable SPS)."""
    import av

    try:
        with open_container(os.fspath(path), timeout_s=timeout_s) as container:
            stream = container.streams.video[0]
            codec, extradata = stream.codec_context.name, stream.codec_context.extradata
    except (av.error.FFmpegError, IndexError) as e:
        raise VideoDecodeError(path, f"cannot read the stream header: {e}") from None
    if codec in _SINGLE_REFERENCE:
        return 1, f"{codec} predicts P-pictures from the previous picture"
    if codec == "h264" and extradata:
        from vidkit.io.h264 import max_num_ref_frames

        refs = max_num_ref_frames(bytes(extradata))
        if refs is not None:
            return refs, f"H.264 max_num_ref_frames = {refs}"
    return None, f"cannot tell how many reference frames this {codec} stream uses"


def coviar_frames(
    path: str | os.PathLike, *, grid: int = 4, residuals: bool = True, timeout_s: float = 60.0
) -> Iterator[CompressedFrame]:
    """Stream every frame of ``path`` relative to its GOP's I-frame, in presentation order.

    Raises :class:`VideoDecodeError` for a file that cannot be read or a codec that exports no
    vectors (see :func:`vidkit.io.motion.motion_fields`)."""
    for frame, decoded, per_pixel in _walk(path, grid=grid, timeout_s=timeout_s):
        frame.mv = downsample(per_pixel, grid)
        if residuals:
            frame.residual = residual_of(decoded.frame, frame.iframe, per_pixel)
        yield frame


def residual_of(av_frame, iframe: np.ndarray, field: np.ndarray) -> np.ndarray:
    """The decoded picture minus the I-frame warped by the per-pixel accumulated ``field``, int16 ``[H, W, 3]``."""
    rgb = av_frame.to_ndarray(format="rgb24")
    return np.round(rgb.astype(np.float32) - warp(iframe, field)).astype(np.int16)


def _walk(path, *, grid: int, timeout_s: float):
    """``(CompressedFrame, DecodedFrame, per-pixel field)`` for every frame: the accumulation, at pixel
    resolution (CoViAR's). The frame's ``mv`` (the field averaged over ``grid``-pixel cells) and
    ``residual`` are left for the caller to fill in, for the frames it hands out."""
    refs, refs_known = reference_frames(path, timeout_s=timeout_s)
    if refs is None:
        stream_note = refs_known
    elif refs > 1:
        stream_note = f"P-frames may predict from any of {refs} reference frames ({refs_known}), not only the last"
    else:
        stream_note = None
    iframe = anchor = None
    seen_b = False
    for d in decoded_with_vectors(path, timeout_s=timeout_s):
        if d.pict_type == "I" or d.key:
            iframe = d.frame.to_ndarray(format="rgb24")
            field = anchor = np.zeros((2, d.height, d.width), np.float32)
        elif iframe is None:  # leading frames of an open GOP: their references were never decoded
            empty = np.zeros((2, d.height, d.width), np.float32)
            yield (
                CompressedFrame(
                    d.pts_s,
                    d.pict_type,
                    d.gop,
                    np.zeros((d.height, d.width, 3), np.uint8),
                    None,
                    None,
                    "no I-frame decoded before this frame",
                ),
                d,
                empty,
            )
            continue
        else:
            past, _, past_mask, _ = dense_field(d.vectors, d.height, d.width, grid=1)
            field = accumulate(anchor, past, past_mask)
            if d.pict_type != "B":
                anchor = field  # B-pictures are not followed back: P-pictures predict from I/P only
        seen_b = seen_b or d.pict_type == "B"
        if d.pict_type == "I":
            note = None  # an I-frame is itself, whatever the stream
        elif d.pict_type == "B":
            note = "a B-frame: predicted from a future frame too, which the accumulation does not follow"
        elif d.pict_type != "P":
            note = f"a {d.pict_type}-frame (only I- and P-frames are followed)"
        elif stream_note is not None:
            note = stream_note
        elif seen_b:
            note = "the stream has B-frames: a P-frame may predict from a reference B-frame, which is not followed"
        else:
            note = None
        yield CompressedFrame(d.pts_s, d.pict_type, d.gop, iframe, None, None, note), d, field


@dataclass
class CompressedClip:
    """The frames nearest to asked times: ``iframes`` uint8 ``[T, H, W, 3]``, ``mv`` float32
    ``[T, 2, H/grid, W/grid]``, ``residual`` int16 ``[T, H, W, 3]``, ``pts`` float64 ``[T]``,
    ``inexact`` (one reason or None per frame)."""

    iframes: np.ndarray
    mv: np.ndarray
    residual: np.ndarray
    pts: np.ndarray
    inexact: list[str | None]


def read_compressed_at(
    path: str | os.PathLike,
    times_s: Sequence[float],
    *,
    grid: int = 4,
    avoid_iframes: bool = False,
    timeout_s: float = 60.0,
) -> CompressedClip:
    """CoViAR's inputs at the frames nearest to ``times_s`` (any order, repeats allowed), from one
    pass over the file; residuals (the costly part) are computed only for the frames picked.

    ``avoid_iframes``: an I-frame's motion vectors and residual are zero, and CoViAR's authors never sample
    one for those streams (pytorch-coviar's ``get_gop_pos``): where the frame picked is an I-frame, the
    vectors and residual come from the frame before it — the last of the previous GOP, accumulated to that
    GOP's I-frame — or, for the first frame, from the one after it. The I-frame and ``pts`` stay the picked
    frame's; ``inexact`` is that of the frame the vectors come from."""
    if len(times_s) == 0:
        raise ValueError("read_compressed_at: no times asked for")
    order = sorted(range(len(times_s)), key=lambda i: times_s[i])
    picked: dict[int, tuple] = {}
    motion: dict[int, tuple] = {}  # where the vectors and residual come from, when not the picked frame
    waiting: list[int] = []  # the first frame picked, an I-frame: its vectors come from the next frame

    def pick(i: int, choice: tuple, before: tuple | None, after: tuple | None) -> None:
        picked[i] = choice
        if avoid_iframes and _starts_gop(choice):
            if before is not None:
                motion[i] = before
            elif after is not None:
                motion[i] = after
            else:
                waiting.append(i)

    before = last = None
    k = 0
    with contextlib.closing(_walk(path, grid=grid, timeout_s=timeout_s)) as walk:
        for current in walk:
            for i in waiting:
                motion[i] = current
            waiting.clear()
            while k < len(order) and current[0].pts_s >= times_s[order[k]]:
                t = times_s[order[k]]
                if last is not None and t - last[0].pts_s < current[0].pts_s - t:
                    pick(order[k], last, before, current)
                else:
                    pick(order[k], current, last, None)
                k += 1
            if k == len(order) and not waiting:
                break
            before, last = last, current
    if last is None and not picked:
        raise VideoDecodeError(path, "no frames decoded")
    for i in order[k:]:  # times after the last frame take the last frame
        pick(i, last, before, None)
    frames = [picked[i] for i in range(len(times_s))]
    sources = [motion.get(i, picked[i]) for i in range(len(times_s))]  # a one-frame video: its I-frame
    residual_cache: dict[int, np.ndarray] = {}
    residuals = []
    for f, d, per_pixel in sources:
        key = id(f)
        if key not in residual_cache:
            f.mv = downsample(per_pixel, grid)
            residual_cache[key] = residual_of(d.frame, f.iframe, per_pixel)
        residuals.append(residual_cache[key])
    return CompressedClip(
        np.stack([f[0].iframe for f in frames]),
        np.stack([f[0].mv for f in sources]),
        np.stack(residuals),
        np.array([f[0].pts_s for f in frames]),
        [f[0].inexact for f in sources],
    )


def _starts_gop(walked: tuple) -> bool:
    """Whether a frame from :func:`_walk` is one its GOP's accumulation starts from (zero vectors)."""
    d = walked[1]
    return d.pict_type == "I" or bool(d.key)


def keyframes(path: str | os.PathLike, *, timeout_s: float = 60.0) -> Iterator[tuple[float, np.ndarray]]:
    """``(pts_s, rgb uint8 [H, W, 3])`` of every key frame, decoding nothing else (FFmpeg's
    ``skip_frame=NONKEY``): the I-frame stream at a fraction of a full decode's cost."""
    import av

    from vidkit.io import open_video

    with open_video(path, timeout_s=timeout_s):  # the reader's checks and messages
        pass
    with open_container(os.fspath(path), timeout_s=timeout_s) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        try:
            for frame in container.decode(stream):
                yield float(frame.time) if frame.time is not None else float("nan"), frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as e:
            raise VideoDecodeError(path, f"decoding stopped: {e}") from None
