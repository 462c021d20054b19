"""Rotated videos, as phones record them: frames stored landscape with a display matrix that says
"turn me 90 degrees counter-clockwise". Each stored frame has a white square in its top-left corner;
turned upright, that square must be where a counter-clockwise turn puts the top-left corner."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidkit.io import open_video

from_stored_top_left = {0: "top-left", 90: "bottom-left", 180: "bottom-right", 270: "top-right"}


def _corners(data: torch.Tensor) -> dict[str, float]:
    """Mean brightness of the inside of each corner square, over all frames."""
    a, b = slice(2, 8), slice(-8, -2)
    regions = {"top-left": (a, a), "top-right": (a, b), "bottom-left": (b, a), "bottom-right": (b, b)}
    return {name: float(data[:, rows, cols].float().mean()) for name, (rows, cols) in regions.items()}


def _white_corner(data: torch.Tensor) -> str:
    corners = _corners(data)
    white = [name for name, level in corners.items() if level > 200]
    assert len(white) == 1 and all(60 < level < 200 for name, level in corners.items() if name not in white), corners
    return white[0]


@pytest.mark.parametrize("name", ["rot90", "rot270"])
def test_frames_come_out_upright(make_video, backend, name):
    video = make_video(name)
    with open_video(video.path, backend=backend) as reader:
        assert reader.info.rotation == video.rotation
        assert reader.info.display_size == (video.width, video.height)
        frames = torch.cat([c.data for c in reader.stream(chunk_size=8)])
        picked = reader.read_at([0.4, 0.0])
    assert frames.shape == (video.num_frames, video.width, video.height, 3)
    assert _white_corner(frames) == from_stored_top_left[video.rotation]
    assert video.indices(frames, upright=True) == list(range(video.num_frames))
    assert picked.data.shape == (2, video.width, video.height, 3)
    assert _white_corner(picked.data) == from_stored_top_left[video.rotation]
    assert video.indices(picked.data, upright=True) == [10, 0]


@pytest.mark.parametrize("name", ["rot90", "rot270"])
def test_stored_frames_when_rotation_is_not_applied(make_video, backend, name):
    video = make_video(name)
    with open_video(video.path, backend=backend, apply_rotation=False) as reader:
        assert reader.info.rotation == video.rotation  # still says how to turn them
        frames = torch.cat([c.data for c in reader.stream(chunk_size=8)])
        picked = reader.read_at([0.4])
    assert frames.shape == (video.num_frames, video.height, video.width, 3)
    assert _white_corner(frames) == "top-left"
    assert video.indices(frames) == list(range(video.num_frames))
    assert picked.data.shape == (1, video.height, video.width, 3) and video.indices(picked.data) == [10]


def test_unrotated_video_has_no_rotation(make_video):
    video = make_video("h264_bframes")
    with open_video(video.path) as reader:
        assert reader.info.rotation == 0 and reader.info.display_size == (video.height, video.width)


@pytest.mark.parametrize("apply_rotation", [True, False])
@pytest.mark.parametrize("name", ["rot90", "rot270"])
def test_both_backends_turn_frames_the_same_way(make_video, name, apply_rotation):
    pytest.importorskip("decord")
    video = make_video(name)
    with (
        open_video(video.path, apply_rotation=apply_rotation) as pyav,
        open_video(video.path, backend="decord", apply_rotation=apply_rotation) as decord,
    ):
        ours = torch.cat([c.data for c in pyav.stream(chunk_size=16)])
        theirs = torch.cat([c.data for c in decord.stream(chunk_size=16)])
    assert ours.shape == theirs.shape
    assert float((ours.float() - theirs.float()).abs().mean()) < 1.0
    assert np.array_equal(video.indices(ours, upright=apply_rotation), video.indices(theirs, upright=apply_rotation))
