"""Batched clip transforms: shapes, normalisation, where crops come from, flips."""

import pytest
import torch

from vidkit.data.transforms import ClipTransform


def _ramp(b=2, t=3, h=40, w=60):
    """Frames whose red channel is the column index, green the row index: crops can be located."""
    cols = torch.arange(w).view(1, 1, 1, w).expand(b, t, h, w)
    rows = torch.arange(h).view(1, 1, h, 1).expand(b, t, h, w)
    return torch.stack([cols, rows, torch.zeros_like(cols)], dim=-1).to(torch.uint8)


def test_output_layout_and_normalisation():
    tf = ClipTransform(crop_size=32, test_scale=40, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    out = tf(_ramp(), train=False)
    assert out.shape == (2, 3, 3, 32, 32) and out.dtype == torch.float32
    assert 0.0 <= out.min() and out.max() <= 1.0  # uint8 / 255


def test_three_crops_span_the_long_side():
    tf = ClipTransform(crop_size=40, test_scale=40, mean=(0.0, 0.0, 0.0), std=(1 / 255,) * 3)
    frames = _ramp(b=3)
    out = tf(frames, train=False, crop_index=[0, 1, 2], num_crops=3)
    left_columns = out[:, 0, 0, 0, 0]  # red = source column of the crop's left edge
    assert left_columns.tolist() == [0.0, 10.0, 20.0]  # left, centre, right of a 60-wide frame


def test_train_crop_is_random_but_seeded_and_flips():
    tf = ClipTransform(crop_size=32, train_scale=(40, 40), flip_prob=1.0, mean=(0.0, 0.0, 0.0), std=(1 / 255,) * 3)
    a = tf(_ramp(), train=True, generator=torch.Generator().manual_seed(0))
    b = tf(_ramp(), train=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    red = a[0, 0, 0, 0]
    assert red[0] > red[-1]  # flipped: columns decrease left to right


def test_short_side_resize_keeps_aspect():
    tf = ClipTransform(crop_size=20, test_scale=20, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    out = tf(_ramp(h=40, w=80), train=False)
    assert out.shape[-2:] == (20, 20)


def test_rejects_channels_first_input():
    with pytest.raises(ValueError, match=r"\[B, T, H, W, 3\]"):
        ClipTransform()(torch.zeros(1, 3, 4, 8, 8, dtype=torch.uint8), train=False)


@pytest.mark.gpu
def test_gpu_transform_matches_cpu(gpu):
    """The batched transform on the device gives the CPU's clips: test views, and training's random
    scales, crops and flips drawn from the same seed."""
    tf = ClipTransform(crop_size=32, test_scale=40, train_scale=(36, 48))
    frames = _ramp(b=4)
    cpu = tf(frames, train=False, crop_index=[0, 2, 1, 1], num_crops=3)
    on_device = tf(frames.to(gpu), train=False, crop_index=[0, 2, 1, 1], num_crops=3)
    assert on_device.device.type == gpu.type
    torch.testing.assert_close(on_device.cpu(), cpu, atol=1e-4, rtol=1e-4)
    cpu, flips = tf(frames, train=True, generator=torch.Generator().manual_seed(3), return_flips=True)
    on_device, same_flips = tf(
        frames.to(gpu), train=True, generator=torch.Generator().manual_seed(3), return_flips=True
    )
    assert torch.equal(flips.cpu(), same_flips.cpu())
    torch.testing.assert_close(on_device.cpu(), cpu, atol=1e-4, rtol=1e-4)
