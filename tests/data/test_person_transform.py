"""PersonClipTransform: the boxes follow the frames through scale, crop and flip — checked by drawing
each box into its clip and finding it again in the output."""

from __future__ import annotations

import torch

from vidkit.data.transforms import PersonClipTransform


def _clips_with_boxes(height=48, width=80):
    boxes = torch.tensor([[0, 0.25, 0.25, 0.5, 0.75], [1, 0.5, 0.125, 0.75, 0.375], [1, 0.0, 0.5, 0.25, 1.0]])
    frames = torch.zeros(2, 3, height, width, 3, dtype=torch.uint8)
    for b, x1, y1, x2, y2 in boxes.tolist():
        frames[int(b), :, round(y1 * height) : round(y2 * height), round(x1 * width) : round(x2 * width)] = 255
    return frames, boxes


def _white(x: torch.Tensor) -> torch.Tensor:
    """Pixels of the (un-normalised) output that are bright: [B, h, w] bool."""
    return x[:, :, 0].mean(1) > 0.5


def _inside(mask: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """The union of the boxes as a mask over ``mask``'s pixels (pixel centres inside a box)."""
    b, h, w = mask.shape
    ys = (torch.arange(h) + 0.5) / h
    xs = (torch.arange(w) + 0.5) / w
    out = torch.zeros_like(mask)
    for i, x1, y1, x2, y2 in boxes.tolist():
        out[int(i)] |= (ys[:, None] > y1) & (ys[:, None] < y2) & (xs[None] > x1) & (xs[None] < x2)
    return out


def _unnormalised(transform, x):
    mean = torch.tensor(transform.mean).view(1, 3, 1, 1, 1)
    std = torch.tensor(transform.std).view(1, 3, 1, 1, 1)
    return x * std + mean


def _agree(x, boxes, transform) -> float:
    white = _white(_unnormalised(transform, x))
    return (white == _inside(white, boxes)).float().mean().item()


def test_training_crops_and_flips_move_the_boxes_with_the_pixels():
    frames, boxes = _clips_with_boxes()
    transform = PersonClipTransform(crop_size=32, train_scale=(40, 56), test_scale=48, flip_prob=0.5)
    flipped_any = False
    for seed in range(8):
        generator = torch.Generator().manual_seed(seed)
        x, out, flips = transform(frames, boxes, train=True, generator=generator)
        assert x.shape[:3] == (2, 3, 3) and x.shape[-2:] == (32, 32)
        assert torch.equal(out[:, 0], boxes[:, 0]) and (out[:, 1:] >= 0).all() and (out[:, 1:] <= 1).all()
        assert _agree(x, out, transform) > 0.95, seed
        flipped_any |= bool(flips.any())
    assert flipped_any
    assert torch.equal(boxes, _clips_with_boxes()[1])  # the caller's boxes are not changed in place


def test_testing_keeps_the_whole_frame_and_the_boxes():
    frames, boxes = _clips_with_boxes()
    transform = PersonClipTransform(crop_size=32, test_scale=24)
    x, out, flips = transform(frames, boxes, train=False)
    assert x.shape[-2:] == (24, 40) and not flips.any()  # short side 24, aspect kept, nothing cut
    assert torch.equal(out, boxes)
    assert _agree(x, out, transform) > 0.95


def test_clips_of_different_sizes_are_scaled_to_one():
    frames, boxes = _clips_with_boxes()
    small = torch.nn.functional.interpolate(frames[1].permute(0, 3, 1, 2).float(), size=(24, 40)).round()
    clips = [frames[0], small.to(torch.uint8).permute(0, 2, 3, 1)]
    transform = PersonClipTransform(crop_size=32, test_scale=24)
    x, out, _ = transform(clips, boxes, train=False)
    assert x.shape == (2, 3, 3, 24, 40)
    assert _agree(x, out, transform) > 0.95
