"""Compressed-domain clips for CoViAR: the packed layout, the device transform (vectors scale with
the picture and turn with a flip), the dataset on a real MPEG-4 file, and the one-time conversion of
a set to CoViAR's format."""

import warnings

import numpy as np
import pytest
import torch

from vidkit.data.compressed import MV, CompressedClipDataset, CompressedTransform, coviar_format, pack
from vidkit.io import probe
from vidkit.io.encode import write_video
from vidkit.io.motion import decoded_with_vectors


def test_pack_spreads_each_cell_over_its_pixels():
    iframes = np.full((2, 8, 12, 3), 200, np.uint8)
    mv = np.zeros((2, 2, 2, 3), np.float32)
    mv[1, 0, 1, 2] = -2.25  # x of the cell at row 1, column 2 (pixels 4-7, 8-11)
    residual = np.full((2, 8, 12, 3), -255, np.int16)
    x = pack(iframes, mv, residual)
    assert x.shape == (2, 8, 12, 8) and x.dtype == torch.float16
    assert (x[..., :3] == 200).all() and (x[..., 5:] == -255).all()
    assert (x[1, 4:8, 8:12, 3] == -2.25).all() and x[..., 3].abs().sum() == 16 * 2.25 and (x[..., 4] == 0).all()


def _clip(b=2, t=3, h=40, w=60):
    x = torch.zeros(b, t, h, w, 8, dtype=torch.float16)
    x[..., :3] = 128
    x[..., 3] = 4.0  # every vector 4 px to the right, 2 px down
    x[..., 4] = 2.0
    x[:, :, :, : w // 2, 5] = 64  # a residual on the left half, red
    return x


def test_transform_scales_vectors_with_the_picture_and_negates_x_when_flipping():
    t = CompressedTransform(crop_size=20, train_scale=(20, 20), test_scale=20, flip_prob=1.0)
    out, flipped = t(_clip(), train=True, generator=torch.Generator().manual_seed(0), return_flips=True)
    assert out.shape == (2, 8, 3, 20, 20) and flipped.all()
    # resized by 1/2: vectors halve (2 px, 1 px), left in pixels (the model scales them); the flip turns x around
    assert torch.allclose(out[:, 3], torch.tensor(-2.0)) and torch.allclose(out[:, 4], torch.tensor(1.0))
    # the residual was on the left half; mirrored, it is on the right, its values as they were
    assert torch.allclose(out[:, 5, :, :, -3:], torch.tensor(64.0)) and torch.allclose(
        out[:, 5, :, :, :3], torch.tensor(0.0)
    )
    test = t(_clip(), train=False)
    assert torch.allclose(test[:, 3], torch.tensor(2.0)) and torch.allclose(test[:, 5, :, :, :3], torch.tensor(64.0))
    with pytest.raises(ValueError, match="packed compressed clips"):
        t(torch.zeros(1, 3, 8, 8, 3, dtype=torch.uint8), train=False)


def _square(n=24, dx=2):
    frames = np.full((n, 64, 96, 3), 40, np.uint8)
    for i in range(n):
        frames[i, 24:40, 8 + dx * i : 24 + dx * i] = 230
    return frames


def test_dataset_reads_segments_of_a_real_file(tmp_path):
    path = write_video(tmp_path / "sq.avi", _square(), fps=10, codec="mpeg4", options={"g": "12", "bf": "0"})
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video")
    ds = CompressedClipDataset([(path, 3), (bad, 1)], num_segments=4, train=False)
    item = ds[0]
    assert item["frames"].shape == (4, 64, 96, 8) and item["label"] == 3 and item["inexact"] == 0
    x = item["frames"].float()
    # segment centres of 24 frames in 4 segments: frames 3 (GOP 0), 9, 15, 21 (GOP 1): the square has
    # moved 2 px per frame since its I-frame (frame 0 or 12) so the vectors point back by 6 px
    assert np.median(x[0, 28:36, 16:24, MV.start].numpy()) == pytest.approx(-6.0)
    assert np.median(x[2, 28:36, 44:52, MV.start].numpy()) == pytest.approx(-6.0)
    assert "bad.avi" in ds[1]["error"]
    train = CompressedClipDataset([(path, 3)], num_segments=4, train=True, seed=1)
    assert train[0]["frames"].shape == (4, 64, 96, 8)


def test_a_stream_outside_coviars_chain_is_counted_and_warned_about_once(tmp_path):
    path = write_video(tmp_path / "b.mp4", _square(), fps=10, options={"bf": "2", "g": "12"})
    ds = CompressedClipDataset([(path, 0), (path, 0)], num_segments=4, train=False)
    with pytest.warns(UserWarning, match=r"b\.mp4: \d of 4 frames are not in CoViAR's chain .*reencode_coviar"):
        first = ds[0]
    assert first["inexact"] >= 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ds[1]["inexact"] == first["inexact"]  # no second warning


def test_coviar_format_converts_once(tmp_path):
    root = tmp_path / "set"
    a = write_video(root / "train" / "a" / "x.mp4", _square(), fps=10, options={"bf": "2"})
    b = write_video(root / "val" / "y.mp4", _square(dx=-1), fps=10, options={"bf": "2"})
    out = coviar_format([(a, 0), (b, 5)], root=root, dest=tmp_path / "coviar", workers=1)
    assert [label for _, label in out] == [0, 5]
    assert out[0][0] == str(tmp_path / "coviar" / "train" / "a" / "x.avi")
    assert probe(out[0][0]).codec == "mpeg4" and probe(out[1][0]).num_frames == 24
    kinds = [d.pict_type for d in decoded_with_vectors(out[0][0])]
    assert kinds == (["I"] + ["P"] * 11) * 2
    stamp = [pytest.approx(p.stat().st_mtime_ns) for p in map(lambda o: __import__("pathlib").Path(o[0]), out)]
    assert coviar_format([(a, 0), (b, 5)], root=root, dest=tmp_path / "coviar") == out
    assert [__import__("pathlib").Path(o[0]).stat().st_mtime_ns for o in out] == stamp
