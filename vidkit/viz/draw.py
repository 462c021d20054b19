"""Drawing on RGB frames (uint8 ``[H, W, 3]``, in place): text panels, a timeline bar, boxes, contact sheets.

Text is rasterised once per distinct panel with DejaVu Sans, the font matplotlib ships (no system font is
assumed), into an RGBA patch; frames are then drawn on by alpha-blending patches and filling slices of
whole arrays (numpy), never pixel by pixel in Python. Every function returns the rectangles it drew
in, ``(top, left, height, width)``, so a caller (and a test) knows which pixels were touched.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Sequence

import numpy as np

Rect = tuple[int, int, int, int]  # top, left, height, width

# matplotlib's tab10: distinct to the eye, and known to most readers of plots
PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)


def label_color(label: str) -> tuple[int, int, int]:
    """The colour of ``label``: the same in every frame, video and run (from a checksum of its name)."""
    return PALETTE[zlib.crc32(label.encode("utf-8")) % len(PALETTE)]


@functools.lru_cache(maxsize=16)
def font(size: int, *, bold: bool = False):
    """DejaVu Sans (bold) at ``size`` pixels, from matplotlib's data folder."""
    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name), size)


def text_size(frame_height: int) -> int:
    """A legible font size for a frame ``frame_height`` pixels high (30 px at 720p, at least 10)."""
    return max(10, round(frame_height / 24))


def panel(
    lines: Sequence[tuple[str, float | None]],
    *,
    size: int,
    width: int | None = None,
    background: tuple[int, int, int, int] = (20, 20, 20, 255),
) -> np.ndarray:
    """An RGBA patch of text lines ``(text, score)`` on a ``background`` (opaque by default: legible on any
    frame, and a region the encoder sees unchanged from frame to frame); a line with a score gets
    a bar of that share of the panel's width, in the label's colour, under its text. ``width``: the
    panel's width (default: the longest line's)."""
    from PIL import Image, ImageDraw

    face = font(size)
    pad, gap, bar = max(2, size // 3), max(1, size // 5), max(2, size // 6)
    texts = [text if score is None else f"{text}  {score:.2f}" for text, score in lines]
    widths = [face.getbbox(t)[2] for t in texts] or [0]
    ascent, descent = face.getmetrics()
    row = ascent + descent + gap + bar
    w = width or max(widths) + 2 * pad
    h = 2 * pad + row * len(texts) - gap
    image = Image.new("RGBA", (max(1, w), max(1, h)), background)
    draw = ImageDraw.Draw(image)
    for i, ((text, score), shown) in enumerate(zip(lines, texts)):
        y = pad + i * row
        if score is not None:
            filled = round((w - 2 * pad) * min(max(score, 0.0), 1.0))
            draw.rectangle(
                [pad, y + ascent + descent, pad + filled, y + ascent + descent + bar - 1], fill=label_color(text)
            )
        draw.text((pad, y), shown, font=face, fill=(255, 255, 255, 255))
    return np.asarray(image)


def blend(frame: np.ndarray, patch: np.ndarray, top: int, left: int) -> Rect | None:
    """Alpha-blend the RGBA ``patch`` onto ``frame`` at ``(top, left)``, clipped to the frame; the rectangle
    drawn in (None when the patch falls outside)."""
    height, width = frame.shape[:2]
    t0, l0 = max(top, 0), max(left, 0)
    t1, l1 = min(top + patch.shape[0], height), min(left + patch.shape[1], width)
    if t1 <= t0 or l1 <= l0:
        return None
    part = patch[t0 - top : t1 - top, l0 - left : l1 - left]
    region = frame[t0:t1, l0:l1]
    if (part[..., 3] == 255).all():  # opaque: copied
        region[:] = part[..., :3]
        return (t0, l0, t1 - t0, l1 - l0)
    alpha = part[..., 3:4].astype(np.float32) / 255.0
    region[:] = (part[..., :3] * alpha + region * (1.0 - alpha) + 0.5).astype(np.uint8)
    return (t0, l0, t1 - t0, l1 - l0)


class RGBCanvas:
    """An RGB frame (uint8 ``[H, W, 3]``) to draw on, in place."""

    def __init__(self, rgb: np.ndarray):
        self.array = rgb
        self.height, self.width = rgb.shape[:2]

    def blend(self, patch: np.ndarray, top: int, left: int) -> Rect | None:
        return blend(self.array, patch, top, left)

    def fill(self, top: int, left: int, height: int, width: int, color: tuple[int, int, int]) -> Rect | None:
        t0, l0 = max(top, 0), max(left, 0)
        t1, l1 = min(top + height, self.height), min(left + width, self.width)
        if t1 <= t0 or l1 <= l0:
            return None
        self.array[t0:t1, l0:l1] = color
        return (t0, l0, t1 - t0, l1 - l0)


# BT.601, limited range: what FFmpeg's scaler uses between RGB and yuv420p unless told otherwise
_TO_YUV = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0
_YUV_OFFSET = np.array([16.0, 128.0, 128.0])


def to_yuv(rgb: np.ndarray) -> np.ndarray:
    """RGB values (``[..., 3]``, 0-255) as BT.601 limited-range Y, U, V (float)."""
    return rgb.astype(np.float32) @ _TO_YUV.T.astype(np.float32) + _YUV_OFFSET.astype(np.float32)


class YUVCanvas:
    """A yuv420p frame's planes (``y`` ``[H, W]``, ``u`` and ``v`` ``[H/2, W/2]``, uint8 views into the decoded
    frame), to draw on in place without converting the frame to RGB and back: patches and colours are
    converted instead (once per patch) and blended on each plane. Rectangles snap to even pixels, where
    the half-size chroma lines up."""

    _cache: dict[
        int, tuple[np.ndarray, tuple]
    ] = {}  # id(patch) -> (patch, its planes); the patch held, so ids stay unique

    def __init__(self, y: np.ndarray, u: np.ndarray, v: np.ndarray):
        self.y, self.u, self.v = y, u, v
        self.height, self.width = y.shape

    def _planes(self, patch: np.ndarray) -> tuple:
        """The patch as ``(y, alpha, u, v, alpha at half size)``; for an opaque patch, uint8 planes and no alphas."""
        hit = self._cache.get(id(patch))
        if hit is not None and hit[0] is patch:
            return hit[1]
        h, w = patch.shape[:2]
        padded = np.zeros((h + h % 2, w + w % 2, 4), np.uint8)
        padded[:h, :w] = patch
        yuv = to_yuv(padded[..., :3])
        alpha = padded[..., 3].astype(np.float32) / 255.0
        half = padded.shape[0] // 2, 2, padded.shape[1] // 2, 2
        alpha_half = alpha.reshape(half).mean((1, 3))
        weighted = (yuv[..., 1:] * alpha[..., None]).reshape(*half, 2).sum((1, 3))
        uv = np.where(alpha_half[..., None] > 0, weighted / np.maximum(alpha_half[..., None] * 4, 1e-6), 128.0)
        if (patch[..., 3] == 255).all() and not (h % 2 or w % 2):  # opaque: copied, not blended
            planes = tuple(np.clip(c + 0.5, 0, 255).astype(np.uint8) for c in (yuv[..., 0], uv[..., 0], uv[..., 1]))
            planes = (planes[0], None, planes[1], planes[2], None)
        else:
            planes = (yuv[..., 0], alpha, uv[..., 0], uv[..., 1], alpha_half)
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[id(patch)] = (patch, planes)
        return planes

    def blend(self, patch: np.ndarray, top: int, left: int) -> Rect | None:
        top, left = top - top % 2, left - left % 2
        y, alpha, u, v, alpha_half = self._planes(patch)
        t0, l0 = max(top, 0), max(left, 0)
        t1, l1 = (
            min(top + y.shape[0], self.height - self.height % 2),
            min(left + y.shape[1], self.width - self.width % 2),
        )
        if t1 <= t0 or l1 <= l0:
            return None
        ct, cl, cb, cr = t0 // 2, l0 // 2, t1 // 2, l1 // 2
        pt, pl = ct - top // 2, cl - left // 2
        luma = (slice(t0 - top, t1 - top), slice(l0 - left, l1 - left))
        chroma = (slice(pt, pt + cb - ct), slice(pl, pl + cr - cl))
        if alpha is None:
            self.y[t0:t1, l0:l1] = y[luma]
            self.u[ct:cb, cl:cr], self.v[ct:cb, cl:cr] = u[chroma], v[chroma]
            return (t0, l0, t1 - t0, l1 - l0)
        a = alpha[luma]
        region = self.y[t0:t1, l0:l1]
        region[:] = (y[luma] * a + region * (1.0 - a) + 0.5).astype(np.uint8)
        a = alpha_half[chroma]
        for plane, values in ((self.u, u), (self.v, v)):
            region = plane[ct:cb, cl:cr]
            region[:] = (values[chroma] * a + region * (1.0 - a) + 0.5).astype(np.uint8)
        return (t0, l0, t1 - t0, l1 - l0)

    def fill(self, top: int, left: int, height: int, width: int, color: tuple[int, int, int]) -> Rect | None:
        t0, l0 = max(top, 0), max(left, 0)
        t1, l1 = min(top + height, self.height), min(left + width, self.width)
        if t1 <= t0 or l1 <= l0:
            return None
        y, u, v = _yuv_color(tuple(color))
        self.y[t0:t1, l0:l1] = y
        ct, cl, cb, cr = t0 // 2, l0 // 2, max(t0 // 2 + 1, t1 // 2), max(l0 // 2 + 1, l1 // 2)
        self.u[ct:cb, cl:cr], self.v[ct:cb, cl:cr] = u, v
        return (t0, l0, t1 - t0, l1 - l0)


@functools.lru_cache(maxsize=64)
def _yuv_color(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """A colour's Y, U, V levels, converted once (fills run per frame)."""
    return tuple(round(float(c)) for c in to_yuv(np.array(color, np.float32)))


def canvas(frame) -> RGBCanvas | YUVCanvas:
    """``frame`` as a canvas: an RGB array ``[H, W, 3]``, a ``(y, u, v)`` tuple of yuv420p planes (what
    :func:`vidkit.io.redraw.redraw` hands over with ``space="yuv420p"``), or a canvas already."""
    if isinstance(frame, tuple):
        return YUVCanvas(*frame)
    return RGBCanvas(frame) if isinstance(frame, np.ndarray) else frame


def timeline(segments: Sequence[tuple[float, float, str]], duration_s: float, *, width: int, height: int) -> np.ndarray:
    """A bar ``[height, width, 3]`` across ``duration_s``: each segment ``(start_s, end_s, label)`` in its
    label's colour (a later segment over an earlier one where they overlap), dark grey where none is."""
    bar = np.full((height, width, 3), 48, dtype=np.uint8)
    scale = width / max(duration_s, 1e-9)
    for start, end, label in segments:
        a, b = max(0, int(start * scale)), min(width, max(int(start * scale) + 1, int(round(end * scale))))
        bar[:, a:b] = label_color(label)
    return bar


def draw_timeline(frame, bar: np.ndarray, t: float, duration_s: float) -> Rect:
    """``bar`` (an RGBA patch, opaque) along the bottom of ``frame`` (an RGB array or a canvas) with a white
    cursor at ``t``."""
    target = canvas(frame)
    h = min(bar.shape[0], target.height)
    target.blend(bar, target.height - h, 0)
    x = min(target.width - 1, max(0, int(t / max(duration_s, 1e-9) * target.width)))
    target.fill(target.height - h, x - 1, h, 3, (255, 255, 255))
    return (target.height - h, 0, h, target.width)


def draw_box(frame, box: Sequence[float], color: tuple[int, int, int], thickness: int = 2) -> Rect:
    """The outline of ``box`` ``(x1, y1, x2, y2)`` in pixels, clipped to ``frame`` (an RGB array or a canvas)."""
    target = canvas(frame)
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(target.width, int(round(box[2]))), min(target.height, int(round(box[3])))
    if x2 <= x1 or y2 <= y1:
        return (y1, x1, 0, 0)
    target.fill(y1, x1, thickness, x2 - x1, color)
    target.fill(y2 - thickness, x1, thickness, x2 - x1, color)
    target.fill(y1, x1, y2 - y1, thickness, color)
    target.fill(y1, x2 - thickness, y2 - y1, thickness, color)
    return (y1, x1, y2 - y1, x2 - x1)


def contact_sheet(
    tiles: Sequence[np.ndarray],
    captions: Sequence[Sequence[tuple[str, float | None]]],
    *,
    columns: int,
    title: str = "",
) -> np.ndarray:
    """The ``tiles`` (RGB, one size) in a grid of ``columns``, each with its caption lines under it, and a
    ``title`` line above: an RGB image."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one frame")
    th, tw = tiles[0].shape[:2]
    size = max(10, min(16, tw // 18))
    patches = [panel(lines, size=size, width=tw, background=(24, 24, 24, 255)) for lines in captions]
    caption_h = max(p.shape[0] for p in patches)
    rows = -(-len(tiles) // columns)
    gap = 4
    head = panel([(title, None)], size=size + 2, background=(0, 0, 0, 255)) if title else None
    top0 = head.shape[0] + gap if head is not None else 0
    sheet = np.full((top0 + rows * (th + caption_h + gap) + gap, columns * (tw + gap) + gap, 3), 0, dtype=np.uint8)
    if head is not None:
        blend(sheet, head, 0, gap)
    for i, (tile, patch) in enumerate(zip(tiles, patches)):
        r, c = divmod(i, columns)
        top, left = top0 + gap + r * (th + caption_h + gap), gap + c * (tw + gap)
        sheet[top : top + th, left : left + tw] = tile
        blend(sheet, patch, top + th, left)
    return sheet


__all__ = [
    "PALETTE",
    "RGBCanvas",
    "Rect",
    "YUVCanvas",
    "blend",
    "canvas",
    "contact_sheet",
    "draw_box",
    "draw_timeline",
    "font",
    "label_color",
    "panel",
    "text_size",
    "timeline",
    "to_yuv",
]
