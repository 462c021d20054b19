"""Pictures of results: labels drawn on frames, timelines of segments, person boxes, contact sheets.

Pure drawing on RGB arrays (numpy, and Pillow for text in matplotlib's DejaVu font); decoding and
encoding are :mod:`vidkit.io`'s (:func:`vidkit.io.redraw.redraw`), the jobs compose the two
(``vidkit render``, ``vidkit watch --draw``).
"""

from vidkit.viz.draw import (
    PALETTE,
    Rect,
    RGBCanvas,
    YUVCanvas,
    blend,
    canvas,
    contact_sheet,
    draw_box,
    draw_timeline,
    font,
    label_color,
    panel,
    text_size,
    timeline,
    to_yuv,
)
from vidkit.viz.labels import LabelOverlay, LiveOverlay, PersonBox, Segment, segment_at

__all__ = [
    "PALETTE",
    "LabelOverlay",
    "LiveOverlay",
    "PersonBox",
    "RGBCanvas",
    "Rect",
    "Segment",
    "YUVCanvas",
    "blend",
    "canvas",
    "contact_sheet",
    "draw_box",
    "draw_timeline",
    "font",
    "label_color",
    "panel",
    "segment_at",
    "text_size",
    "timeline",
    "to_yuv",
]
