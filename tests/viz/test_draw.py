"""Drawing primitives: text from matplotlib's DejaVu (no system font), alpha blending clipped to the frame,
the timeline's colours where its segments are, boxes, the contact sheet's grid, the segment playing at a time."""

from __future__ import annotations

import numpy as np
import pytest

from vidkit.viz import (
    LabelOverlay,
    Segment,
    blend,
    contact_sheet,
    draw_box,
    font,
    label_color,
    panel,
    segment_at,
    timeline,
)


def test_text_comes_from_matplotlibs_font():
    assert "DejaVu" in font(12).getname()[0]
    patch = panel([("walk", 0.75), ("run", 0.25)], size=12)
    assert patch.dtype == np.uint8 and patch.shape[2] == 4
    assert (patch[..., :3] == 255).all(-1).sum() > 20  # white text drawn
    bar = (patch[..., :3] == label_color("walk")).all(-1)
    assert bar.any() and np.nonzero(bar)[1].max() < 0.8 * patch.shape[1]  # a bar of 75% of the inner width


def test_blend_is_clipped_and_touches_only_its_rectangle():
    frame = np.zeros((20, 30, 3), np.uint8)
    patch = np.zeros((10, 10, 4), np.uint8)
    patch[..., :3], patch[..., 3] = 200, 255
    assert blend(frame, patch, 15, 25) == (15, 25, 5, 5)
    assert (frame[15:, 25:] == 200).all() and frame[:15].max() == 0 and frame[:, :25].max() == 0
    assert blend(frame, patch, 40, 0) is None
    half = patch.copy()
    half[..., 3] = 128
    frame[:] = 0
    blend(frame, half, 0, 0)
    assert frame[0, 0, 0] == 100


def test_timeline_colours_and_the_segment_playing():
    segments = [
        Segment(0.0, 2.0, (("walk", 0.9),)),
        Segment(1.0, 3.0, (("run", 0.8),)),
        Segment(5.0, 6.0, (("sit", 1.0),)),
    ]
    assert [segment_at(segments, t) for t in (0.5, 1.2, 1.8, 3.5, 5.5, 6.5)] == [0, 0, 1, None, 2, None]
    assert segment_at(segments, np.array([0.5, 3.5])).tolist() == [0, -1]
    bar = timeline([(0.0, 2.0, "walk"), (2.0, 4.0, "run")], 4.0, width=40, height=3)
    assert (bar[:, :20] == label_color("walk")).all() and (bar[:, 20:] == label_color("run")).all()
    overlay = LabelOverlay(segments, duration_s=6.0, height=120, width=60)
    assert tuple(overlay.bar[0, 5, :3]) == label_color("walk") and tuple(overlay.bar[0, 38]) == (48, 48, 48, 255)


def test_boxes_and_sheets():
    frame = np.zeros((50, 50, 3), np.uint8)
    assert draw_box(frame, (10, 10, 40, 30), (255, 0, 0), thickness=2) == (10, 10, 20, 30)
    assert (frame[10:12, 10:40] == (255, 0, 0)).all() and frame[15, 15].max() == 0
    tiles = [np.full((20, 30, 3), i * 40, np.uint8) for i in range(5)]
    sheet = contact_sheet(tiles, [[(f"{i}.0 s", None)] for i in range(5)], columns=3)
    assert sheet.shape[1] == 3 * (30 + 4) + 4
    assert (sheet[4:24, 4 + 34 : 34 + 34] == 40).all()  # the second tile, first row
    with pytest.raises(ValueError, match="at least one frame"):
        contact_sheet([], [], columns=2)


def test_drawing_on_yuv_planes_matches_drawing_in_rgb():
    import av

    rgb = np.zeros((96, 128, 3), np.uint8)
    rgb[..., 0] = np.arange(128)[None] + 60
    rgb[..., 1] = 90
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    planes = frame.to_ndarray(format="yuv420p")
    y, chroma = planes[:96], planes[96:].reshape(2, 48, 64)
    segments = [Segment(0.0, 2.0, (("walk", 0.9), ("run", 0.1)))]
    overlay = LabelOverlay(segments, duration_s=2.0, height=96, width=128)
    drawn_rgb = rgb.copy()
    regions = overlay(drawn_rgb, 0.7)
    overlay((y, chroma[0], chroma[1]), 0.7)  # in place, on the planes
    expected = av.VideoFrame.from_ndarray(drawn_rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()
    for top, left, height, width in regions:  # even-aligned here: the two agree to a level or two
        a = planes[top : top + height, left : left + width].astype(int)
        b = expected[top : top + height, left : left + width].astype(int)
        assert np.abs(a - b).max() <= 3
    assert np.abs(planes[:96].astype(int) - expected[:96].astype(int)).mean() < 1.0
