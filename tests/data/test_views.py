"""Multi-view test items: which times and crop boxes each view gets, and that one decode gives
exactly the views that decoding each view on its own gives."""

import pytest
import torch

from vidkit.data.transforms import crop_box
from vidkit.data.views import VideoViews, ViewSpec, crop_views
from vidkit.io.encode import write_video


def _marked(n: int, height: int, width: int) -> torch.Tensor:
    """Frame k's top 16 rows are grey 4*k (readable after scaling and coding); below, a horizontal
    ramp, so crops along the long side differ."""
    frames = torch.zeros(n, height, width, 3, dtype=torch.uint8)
    frames[:, 16:] = torch.linspace(0, 255, width).round().to(torch.uint8)[:, None]
    for k in range(n):
        frames[k, :16] = 4 * k
    return frames


@pytest.fixture(scope="module")
def landscape(tmp_path_factory):
    # 50 frames at 25 fps (2 s), 64x96: short side 64
    return write_video(
        tmp_path_factory.mktemp("views") / "land.mp4", _marked(50, 64, 96), fps=25, options={"crf": "0", "g": "50"}
    )


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("views") / "port.mp4", _marked(20, 96, 64), fps=25, options={"crf": "0"})


SPEC = ViewSpec(num_clips=3, num_crops=3, num_frames=4, interval_s=0.2, crop_size=32, test_scale=32)


def test_crop_boxes_spread_along_the_long_side():
    # landscape 32x48: left, centre, right; top offset centred (0 here)
    assert [crop_box(32, 48, 32, k, 3) for k in range(3)] == [(0, 0), (0, 8), (0, 16)]
    # portrait 48x32: top, centre, bottom
    assert [crop_box(48, 32, 32, k, 3) for k in range(3)] == [(0, 0), (8, 0), (16, 0)]
    # one crop: centred; the short side centred too
    assert crop_box(40, 60, 32, 0, 1) == (4, 14)
    with pytest.raises(ValueError, match="does not fit"):
        crop_box(30, 60, 32, 0, 1)


def test_view_times_and_boxes(landscape):
    item = VideoViews([(landscape, 3)], SPEC)[0]
    assert item["label"] == 3 and "error" not in item
    # frames scaled so the short side is 32: 64x96 -> 32x48; 3 distinct clips of 4 frames
    assert item["clips"].shape == (3, 4, 32, 48, 3)
    # clip-major: views 0-2 are clip 0's left/centre/right crops
    assert item["clip_of_view"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert item["boxes"].tolist() == [[0, 0], [0, 8], [0, 16]] * 3
    # uniform clips: the last frame is at 1.96 s, a clip spans 0.6 s, so starts are 0, 0.68, 1.36
    starts = [0.0, 0.68, 1.36]
    expected = torch.tensor([[s + 0.2 * i for i in range(4)] for s in starts for _ in range(3)], dtype=torch.float64)
    assert torch.allclose(item["timestamps"], expected, atol=1e-9)
    # the decoded frames are the nearest ones: frame k at k/25 s carries grey 4k
    grey = item["clips"][:, :, 3, 24].double().mean(-1)
    nearest = (torch.tensor([[s + 0.2 * i for i in range(4)] for s in starts], dtype=torch.float64) * 25).round()
    assert torch.allclose(grey / 4, nearest, atol=0.6)
    assert torch.allclose(item["pts"], (expected * 25).round() / 25, atol=1e-6)
    assert not item["padded"].any()


def test_portrait_crops_run_top_to_bottom(portrait):
    spec = ViewSpec(num_clips=1, num_crops=3, num_frames=2, interval_s=0.1, crop_size=32, test_scale=32)
    item = VideoViews([(portrait, 0)], spec)[0]
    assert item["clips"].shape[2:4] == (48, 32)
    assert item["boxes"].tolist() == [[0, 0], [8, 0], [16, 0]]


def test_decode_once_gives_the_views_of_decoding_each_view(landscape, backend):
    once = VideoViews([(landscape, 0)], SPEC, backend=backend)[0]
    apart = VideoViews([(landscape, 0)], SPEC, backend=backend, per_view=True)[0]
    assert apart["clips"].shape[0] == SPEC.num_views  # one decode per view
    assert once["clips"].shape[0] == SPEC.num_clips  # the crops of a clip share its frames
    a = crop_views(once["clips"], once["clip_of_view"], once["boxes"], SPEC.crop_size)
    b = crop_views(apart["clips"], apart["clip_of_view"], apart["boxes"], SPEC.crop_size)
    assert a.shape == (9, 4, 32, 32, 3)
    assert torch.equal(a, b)
    assert torch.equal(once["pts"], apart["pts"])
    # the three crops of a clip differ (the green ramp), so the boxes were applied
    assert not torch.equal(a[0], a[2])


def test_a_short_video_pads_its_clips(tmp_path):
    path = write_video(tmp_path / "short.mp4", _marked(5, 32, 32), fps=25)  # 0.2 s
    item = VideoViews([(path, 0)], SPEC)[0]
    assert item["padded"].all()
    assert item["timestamps"].max() <= 4 / 25 + 1e-9


def test_missing_and_broken_videos_become_error_items(tmp_path, landscape):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    data = VideoViews([(None, 1), (tmp_path / "gone.mp4", 2), (broken, 3), (landscape, 4)], SPEC)
    items = [data[i] for i in range(4)]
    assert items[0]["error"].startswith("missing") and items[1]["error"].startswith("missing")
    assert "error" in items[2] and items[2]["label"] == 3
    assert "error" not in items[3]


def test_test_scale_below_the_crop_is_refused():
    with pytest.raises(ValueError, match="smaller than crop_size"):
        ViewSpec(num_clips=1, num_crops=1, num_frames=1, interval_s=0.1, crop_size=32, test_scale=28)
