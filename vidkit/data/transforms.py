"""Clip transforms that run batched on the model's device: uint8 frames in, normalised float clips out.

Data-loader workers only decode and pack uint8 ``[B, T, H, W, 3]``; everything numeric happens here,
on whole batches, where the model is: decoding stays on the CPU, the arithmetic runs on the model's
device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange

from vidkit.io._types import short_side_size

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
    channels: str = "RGB"  # "BGR": channels reversed after normalising (PySlowFast's REVERSE_INPUT_CHANNEL)

    def __call__(
        self,
        frames: torch.Tensor | list[torch.Tensor],
        *,
        train: bool,
        crop_index: torch.Tensor | list[int] | None = None,
        num_crops: int = 1,
        generator: torch.Generator | None = None,
        return_flips: bool = False,
    ):
        """``frames`` uint8 ``[B, T, H, W, 3]`` (any device) → float32 ``[B, 3, T, crop, crop]``; with
        ``return_flips`` also the bool ``[B]`` of the clips flipped (to swap left/right labels).

        Clips of different sizes (videos of several resolutions, as real datasets have) come as a
        list of ``[T, H, W, 3]`` tensors and are scaled and cropped one by one."""
        if isinstance(frames, (list, tuple)):
            crops = [None] * len(frames) if crop_index is None else [[int(k)] for k in crop_index]
            parts = [
                self(f[None], train=train, crop_index=k, num_crops=num_crops, generator=generator, return_flips=True)
                for f, k in zip(frames, crops)
            ]
            x, flips = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
            return (x, flips) if return_flips else x
        self._check(frames)
        b, t = frames.shape[:2]
        x = rearrange(frames, "b t h w c -> (b t) c h w").float()
        if train:
            lo, hi = self.train_scale
            short = int(torch.randint(lo, hi + 1, (1,), generator=generator).item())
        else:
            short = self.test_scale
        height = x.shape[-2]
        x = _resize_short_side(x, short)
        x = self._resized(x, x.shape[-2] / height)
        x = rearrange(x, "(b t) c h w -> b c t h w", b=b, t=t)
        flip = torch.zeros(b, dtype=torch.bool)
        if train:
            x = _random_crop(x, self.crop_size, generator)
            flip = torch.rand(b, generator=generator) < self.flip_prob
            if flip.any():
                index = flip.to(x.device)
                x[index] = self._flipped(x[index].flip(-1))
        else:
            x = _indexed_crop(x, self.crop_size, crop_index, num_crops)
        x = self._normalize(x)
        return (x, flip) if return_flips else x

    # What a subclass with other channels changes (vidkit.data.compressed: CoViAR's motion vectors
    # scale with the picture and turn with it): the input check, and what a resize by ``factor`` and
    # a horizontal flip do to the values (nothing, for colours).
    def _check(self, frames: torch.Tensor) -> None:
        if frames.dim() != 5 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames [B, T, H, W, 3], got {tuple(frames.shape)}")

    def _resized(self, x: torch.Tensor, factor: float) -> torch.Tensor:
        return x

    def _flipped(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def normalize(self, frames: torch.Tensor) -> torch.Tensor:
        """Clips already cut to size (``vidkit eval``'s views): uint8 ``[B, T, H, W, 3]`` → float32
        ``[B, 3, T, H, W]``, normalised; no resize, no crop."""
        self._check(frames)
        return self._normalize(rearrange(frames, "b t h w c -> b c t h w").float())

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        x = _normalized(x, self.mean, self.std)
        return x.flip(1) if self.channels == "BGR" else x


def _normalized(x: torch.Tensor, mean: tuple[float, float, float], std: tuple[float, float, float]) -> torch.Tensor:
    """Float clips ``[B, 3, T, H, W]`` of 0-255 values normalised with per-channel ``mean``/``std`` (of 0-1 values)."""
    mean_t = torch.tensor(mean, device=x.device).view(1, 3, 1, 1, 1) * 255
    std_t = torch.tensor(std, device=x.device).view(1, 3, 1, 1, 1) * 255
    return (x - mean_t) / std_t


def _resize_short_side(x: torch.Tensor, short: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    size = short_side_size(h, w, short)
    if size == (h, w):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=short < min(h, w))


def _random_crop(x: torch.Tensor, size: int, generator: torch.Generator | None) -> torch.Tensor:
    h, w = x.shape[-2:]
    top = int(torch.randint(0, h - size + 1, (1,), generator=generator).item())
    left = int(torch.randint(0, w - size + 1, (1,), generator=generator).item())
    return x[..., top : top + size, left : left + size]


def crop_box(height: int, width: int, size: int, index: int, num_crops: int) -> tuple[int, int]:
    """``(top, left)`` of square crop ``index`` of ``num_crops`` in a ``height`` × ``width`` frame:
    spread evenly along the long side from one end to the other (three crops: left, centre, right —
    top, centre, bottom for portrait frames), centred across the short side; one crop is centred.
    PySlowFast's ``uniform_crop`` for its 3-crop test."""
    if size > min(height, width):
        raise ValueError(f"a {size}x{size} crop does not fit a {height}x{width} frame")
    if not 0 <= index < num_crops:
        raise ValueError(f"crop_index {index} out of range for {num_crops} crops")
    along = index / (num_crops - 1) if num_crops > 1 else 0.5
    if height > width:
        return round((height - size) * along), (width - size) // 2
    return (height - size) // 2, round((width - size) * along)


def _indexed_crop(x: torch.Tensor, size: int, crop_index, num_crops: int) -> torch.Tensor:
    """Crop ``crop_index[i]`` of ``num_crops`` for clip i (:func:`crop_box`)."""
    b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    if crop_index is None:
        crop_index = [num_crops // 2] * b
    out = []
    for i, k in enumerate(crop_index):
        top, left = crop_box(h, w, size, int(k), num_crops)
        out.append(x[i, :, :, top : top + size, left : left + size])
    return torch.stack(out)


@dataclass(frozen=True)
class PersonClipTransform:
    """Resize, crop, flip and normalise a batch of clips together with their person boxes (AVA-style
    data: boxes ``[K, 5]`` = clip index in the batch, then ``x1, y1, x2, y2`` normalised to the frame).

    ``train=True``: scale the short side to a random size in ``train_scale``, take one random
    ``crop_size`` square for the batch (as :class:`ClipTransform`) and move the boxes into it,
    clipped to its edges; flip clips horizontally with probability ``flip_prob``, mirroring their
    boxes. ``train=False``: scale the short side to ``test_scale`` and keep the whole frame, as
    PySlowFast tests on AVA: a centre crop would cut off the people at the sides. Clips of
    different sizes (a list) are all scaled to the size the first one gets, so they batch.
    """

    crop_size: int = 224
    train_scale: tuple[int, int] = (256, 320)
    test_scale: int = 256
    flip_prob: float = 0.0
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD

    def __call__(
        self,
        frames: torch.Tensor | list[torch.Tensor],
        boxes: torch.Tensor,
        *,
        train: bool,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """uint8 ``[B, T, H, W, 3]`` (or a list of ``[T, H, W, 3]``) and boxes ``[K, 5]`` → float32
        ``[B, 3, T, h, w]``, the boxes in the output's frame, and the bool ``[B]`` of clips flipped."""
        clips = list(frames) if isinstance(frames, (list, tuple)) else list(frames.unbind(0))
        if not clips or clips[0].dim() != 4 or clips[0].shape[-1] != 3:
            raise ValueError("expected uint8 frames [B, T, H, W, 3] or a list of [T, H, W, 3]")
        height, width = clips[0].shape[1:3]
        if train:
            lo, hi = self.train_scale
            short = int(torch.randint(lo, hi + 1, (1,), generator=generator).item())
        else:
            short = self.test_scale
        size = short_side_size(height, width, short)
        x = torch.cat([_resized_clip(c, size) for c in clips])  # [B, 3, T, h, w]
        boxes = boxes.to(device=x.device, dtype=torch.float32).clone()
        flip = torch.zeros(x.shape[0], dtype=torch.bool)
        if train:
            x = _random_crop_at(x, self.crop_size, generator, boxes)
            flip = torch.rand(x.shape[0], generator=generator) < self.flip_prob
            if flip.any():
                x[flip.to(x.device)] = x[flip.to(x.device)].flip(-1)
                mirrored = flip.to(boxes.device)[boxes[:, 0].long()]
                boxes[mirrored, 1], boxes[mirrored, 3] = 1 - boxes[mirrored, 3], 1 - boxes[mirrored, 1]
        return _normalized(x, self.mean, self.std), boxes, flip


def _resized_clip(clip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` → float ``[1, 3, T, *size]``."""
    x = rearrange(clip, "t h w c -> t c h w").float()
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=size[0] < x.shape[-2])
    return rearrange(x, "t c h w -> 1 c t h w")


def _random_crop_at(x: torch.Tensor, size: int, generator: torch.Generator | None, boxes: torch.Tensor) -> torch.Tensor:
    """A random ``size`` square of every clip (one place for the batch); ``boxes`` (normalised to the
    uncropped frame) are rewritten in place, normalised to the crop and clipped to it."""
    h, w = x.shape[-2:]
    top = int(torch.randint(0, h - size + 1, (1,), generator=generator).item())
    left = int(torch.randint(0, w - size + 1, (1,), generator=generator).item())
    boxes[:, [1, 3]] = ((boxes[:, [1, 3]] * w - left) / size).clamp(0, 1)
    boxes[:, [2, 4]] = ((boxes[:, [2, 4]] * h - top) / size).clamp(0, 1)
    return x[..., top : top + size, left : left + size]
