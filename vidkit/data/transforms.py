"""Clip transforms that run batched on the model's device: uint8 frames in, normalised float clips out.

Data-loader workers only decode and pack uint8 ``[B, T, H, W, 3]``; everything numeric happens here,
on whole batches, where the model is (DESIGN.md: "CPU decodes, GPU computes").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange

# ImageNet statistics, which the published video backbones (and their checkpoints) expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# PySlowFast / pytorchvideo Kinetics checkpoints normalise with these instead.
KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)


@dataclass(frozen=True)
class ClipTransform:
    """Resize, crop, flip and normalise a batch of clips.

    ``train=True``: scale the short side to a random size in ``train_scale`` (PySlowFast's
    "random short-side scale jitter", 256–320 for Kinetics), take a random ``crop_size`` square and
    flip horizontally with probability ``flip_prob``. ``train=False``: scale the short side to
    ``test_scale`` and take the crop ``crop_index`` of ``num_crops`` spread along the long side
    (0, 1, 2 = left/top, centre, right/bottom for three crops; centre for one).
    """

    crop_size: int = 224
    train_scale: tuple[int, int] = (256, 320)
    test_scale: int = 256
    flip_prob: float = 0.5
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD

    def __call__(self, frames: torch.Tensor, *, train: bool, crop_index: torch.Tensor | list[int] | None = None,
                 num_crops: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """``frames`` uint8 ``[B, T, H, W, 3]`` (any device) → float32 ``[B, 3, T, crop, crop]``."""
        if frames.dim() != 5 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames [B, T, H, W, 3], got {tuple(frames.shape)}")
        b, t = frames.shape[:2]
        x = rearrange(frames, "b t h w c -> (b t) c h w").float()
        if train:
            lo, hi = self.train_scale
            short = int(torch.randint(lo, hi + 1, (1,), generator=generator).item())
        else:
            short = self.test_scale
        x = _resize_short_side(x, short)
        x = rearrange(x, "(b t) c h w -> b c t h w", b=b, t=t)
        if train:
            x = _random_crop(x, self.crop_size, generator)
            flip = torch.rand(b, generator=generator) < self.flip_prob
            if flip.any():
                x[flip.to(x.device)] = x[flip.to(x.device)].flip(-1)
        else:
            x = _indexed_crop(x, self.crop_size, crop_index, num_crops)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1, 1) * 255
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1, 1) * 255
        return (x - mean) / std


def _resize_short_side(x: torch.Tensor, short: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    scale = short / min(h, w)
    size = (max(short, round(h * scale)), max(short, round(w * scale)))
    if size == (h, w):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)


def _random_crop(x: torch.Tensor, size: int, generator: torch.Generator | None) -> torch.Tensor:
    h, w = x.shape[-2:]
    top = int(torch.randint(0, h - size + 1, (1,), generator=generator).item())
    left = int(torch.randint(0, w - size + 1, (1,), generator=generator).item())
    return x[..., top : top + size, left : left + size]


def _indexed_crop(x: torch.Tensor, size: int, crop_index, num_crops: int) -> torch.Tensor:
    """Crop ``crop_index[i]`` of ``num_crops`` for clip i, spread along the long side (PySlowFast's
    three-crop test); the short side is centred."""
    b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    if crop_index is None:
        crop_index = [num_crops // 2] * b
    crop_index = [int(i) for i in crop_index]
    out = []
    for i, k in enumerate(crop_index):
        if not 0 <= k < num_crops:
            raise ValueError(f"crop_index {k} out of range for {num_crops} crops")
        along = k / (num_crops - 1) if num_crops > 1 else 0.5
        if h >= w:
            top, left = round((h - size) * along), (w - size) // 2
        else:
            top, left = (h - size) // 2, round((w - size) * along)
        out.append(x[i, :, :, top : top + size, left : left + size])
    return torch.stack(out)
