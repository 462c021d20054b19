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
    background: tuple[int, int, int, int] = (0, 0, 0, 170),
) -> np.ndarray:
    """An RGBA patch of text lines ``(text, score)`` on a translucent background; a line with a score gets
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
    alpha = part[..., 3:4].astype(np.float32) / 255.0
    region = frame[t0:t1, l0:l1]
    region[:] = (part[..., :3] * alpha + region * (1.0 - alpha) + 0.5).astype(np.uint8)
    return (t0, l0, t1 - t0, l1 - l0)


def timeline(segments: Sequence[tuple[float, float, str]], duration_s: float, *, width: int, height: int) -> np.ndarray:
    """A bar ``[height, width, 3]`` across ``duration_s``: each segment ``(start_s, end_s, label)`` in its
    label's colour (a later segment over an earlier one where they overlap), dark grey where none is."""
    bar = np.full((height, width, 3), 48, dtype=np.uint8)
    scale = width / max(duration_s, 1e-9)
    for start, end, label in segments:
        a, b = max(0, int(start * scale)), min(width, max(int(start * scale) + 1, int(round(end * scale))))
        bar[:, a:b] = label_color(label)
    return bar


def draw_timeline(frame: np.ndarray, bar: np.ndarray, t: float, duration_s: float) -> Rect:
    """``bar`` along the bottom of ``frame`` with a white cursor at ``t``."""
    height, width = frame.shape[:2]
    h = min(bar.shape[0], height)
    frame[height - h :, :] = bar[:h, :width]
    x = min(width - 1, max(0, int(t / max(duration_s, 1e-9) * width)))
    frame[height - h :, max(0, x - 1) : x + 2] = 255
    return (height - h, 0, h, width)


def draw_box(frame: np.ndarray, box: Sequence[float], color: tuple[int, int, int], thickness: int = 2) -> Rect:
    """The outline of ``box`` ``(x1, y1, x2, y2)`` in pixels, clipped to the frame."""
    height, width = frame.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(width, int(round(box[2]))), min(height, int(round(box[3])))
    if x2 <= x1 or y2 <= y1:
        return (y1, x1, 0, 0)
    frame[y1 : y1 + thickness, x1:x2] = color
    frame[max(y1, y2 - thickness) : y2, x1:x2] = color
    frame[y1:y2, x1 : x1 + thickness] = color
    frame[y1:y2, max(x1, x2 - thickness) : x2] = color
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
    "Rect",
    "blend",
    "contact_sheet",
    "draw_box",
    "draw_timeline",
    "font",
    "label_color",
    "panel",
    "text_size",
    "timeline",
]
