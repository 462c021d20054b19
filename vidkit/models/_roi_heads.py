"""What the person models share (private), and the I3D-head baseline: the I3D ResNet-50 trunk cut after
res4, RoI pooling of a keyframe box (the transformer's query) and of its tube (the box on every time
slice, the I3D head's input), the base class, and :class:`I3DRoIHead` with both of its heads.
:mod:`vidkit.models.action_transformer` registers the models and describes the recipe.

The I3D head of Girdhar et al. (CVPR 2019; 16.2M parameters on their Inception trunk), ``head="res5"``, the
default, at full width::

    trunk       [B, 1024, T', H', W']      I3D R50 to res4 (stride 16, time halved)
    tubes       [K, 1024, T', 7, 7]        each box RoIAligned on every time slice of its clip
    res5        [K, 2048, T', 4, 4]        the trunk's last stage, as in i3d_r50 (its stride halves space)
    pooled      [K, 2048]                  averaged over time and cells
    logits      [K, num_classes]           dropout, linear

The paper runs I3D's last blocks (Mixed_5b, Mixed_5c) on the RoI-pooled tubes before its classifier; on
an I3D ResNet-50 those are res5. The tubes have the transformer's 7×7 RoI cells, which res5's first block
halves (rounding up) to 4×4 as it halves the trunk's map; ``roi_size=14`` gives res5 7×7 cells, as the ResNet
"C4" head of Mask R-CNN (He et al., ICCV 2017, Fig. 4), at about 4× the head's cost. ``head="light"`` is
vidkit's former baseline: the same RoIs averaged straight into the linear classifier (no res5), 17.1M
parameters lighter at full width.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
from einops import rearrange, reduce
from torchvision.ops import roi_align

from vidkit.models._resnet3d import RESNET50_DEPTHS, STAGE_NAMES, ResNetPathway, ResStage, init_weights
from vidkit.models.resnet import I3D_TEMPORAL_KERNELS, ResNet3d

HEADS = ("res5", "light")  # the I3D head's two forms: the paper's, and vidkit's former light one


class Res4Trunk(nn.Module):
    """The I3D ResNet-50 trunk up to res4 (stride 16): ``stem``, ``res2``, the 2×1×1 temporal max-pool,
    ``res3``, ``res4``, named as in ``i3d_r50``'s ``backbone`` so its checkpoints load.

    ``width`` is the stem's channels (64 for ResNet-50; a smaller one gives a narrower net of the same
    shape, for CPU experiments); res4 outputs ``16 × width`` channels."""

    def __init__(self, *, width: int = 64, temporal_padding: str = "zeros"):
        super().__init__()
        pathway = ResNetPathway(
            widths=(width, 4 * width, 8 * width, 16 * width, 32 * width),
            depths=RESNET50_DEPTHS,
            stem_temporal_kernel=5,
            temporal_kernels=I3D_TEMPORAL_KERNELS,
            temporal_pool=2,
            temporal_padding=temporal_padding,
        )
        self.stem = pathway.stem
        for name in STAGE_NAMES[:3]:
            self.add_module(name, getattr(pathway, name))
        self.temporal_pool = pathway.temporal_pool
        self.out_channels = 16 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"{type(self).__name__} takes clips [B, C, T, H, W]; got shape {tuple(x.shape)}")
        x = self.res2(self.stem(x))
        return self.res4(self.res3(self.temporal_pool(x)))

    def load_i3d(
        self, weights: str | os.PathLike | Mapping[str, Any], *, temporal_padding: str = "zeros"
    ) -> dict[str, torch.Tensor]:
        """Load the trunk from an ``i3d_r50`` checkpoint in any layout :func:`vidkit.models.load_weights`
        reads (vidkit, pytorchvideo, PySlowFast; a 2D ResNet-50 is inflated): the paper starts from
        Kinetics-400 I3D. Returns the checkpoint's res5 (its keys without ``res5.``), for a head that runs
        res5 itself; the classifier is dropped."""
        from vidkit.models.weights import classifier_classes, load_weights

        width = self.stem.conv.out_channels
        i3d = ResNet3d(
            num_classes=classifier_classes(weights) or 400,
            width=width,
            stem_temporal_kernel=5,
            temporal_kernels=I3D_TEMPORAL_KERNELS,
            temporal_pool=2,
            temporal_padding=temporal_padding,
        )
        load_weights(i3d, weights, model_name="i3d_r50")
        state = i3d.backbone.state_dict()
        self.load_state_dict({k: v for k, v in state.items() if not k.startswith("res5.")})
        return {k.removeprefix("res5."): v for k, v in state.items() if k.startswith("res5.")}


def res5_stage(*, width: int = 64, temporal_padding: str = "zeros") -> ResStage:
    """res5 exactly as :class:`Res4Trunk`'s ``i3d_r50`` has it: 3 bottlenecks from ``16 × width`` to
    ``32 × width`` channels, conv_a temporal kernels 1, 3, 1, the first block halving space."""
    return ResStage(
        16 * width,
        8 * width,
        32 * width,
        depth=RESNET50_DEPTHS[3],
        temporal_kernels=I3D_TEMPORAL_KERNELS[3],
        spatial_stride=2,
        temporal_padding=temporal_padding,
    )


def whole_frame_boxes(batch: int, device: torch.device | None = None) -> torch.Tensor:
    """One box per clip covering the whole frame, ``[B, 5]``: what ``model(clip)`` uses without boxes."""
    boxes = torch.tensor([0.0, 0.0, 1.0, 1.0], device=device).repeat(batch, 1)
    return torch.cat([torch.arange(batch, device=device, dtype=boxes.dtype)[:, None], boxes], dim=1)


def pool_keyframe(features: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """RoIAlign of every person's box on its clip's feature map ``[B, C, H', W']`` → ``[K, C, size, size]``.

    ``boxes`` ``[K, 5]`` are (clip index, x1, y1, x2, y2) normalised, scaled here to the map's cells;
    ``aligned=True`` puts cell centres at half-integers (a box from 1 to 3 covers cells 1 and 2
    exactly) and ``sampling_ratio=0`` samples each bin adaptively (ceil(bin size) points a side)."""
    if boxes.ndim != 2 or boxes.shape[1] != 5:
        raise ValueError(f"boxes must be [K, 5] (clip index, x1, y1, x2, y2); got shape {tuple(boxes.shape)}")
    h, w = features.shape[-2:]
    scale = boxes.new_tensor([1.0, w, h, w, h])
    return roi_align(
        features,
        (boxes * scale).to(features.dtype),
        output_size=size,
        spatial_scale=1.0,
        sampling_ratio=0,
        aligned=True,
    )


def pool_tubes(features: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each person's tube: its keyframe box, held still, RoIAligned on every time slice of its clip's map
    ``[B, C, T', H', W']`` → ``[K, C, T', size, size]`` (the paper's I3D head extends the box in time)."""
    if boxes.ndim != 2 or boxes.shape[1] != 5:
        raise ValueError(f"boxes must be [K, 5] (clip index, x1, y1, x2, y2); got shape {tuple(boxes.shape)}")
    t = features.shape[2]
    frames = rearrange(features, "b c t h w -> (b t) c h w")
    slices = boxes.repeat_interleave(t, dim=0)  # [(K t), 5]: each box once per time slice
    offsets = torch.arange(t, device=boxes.device, dtype=boxes.dtype).repeat(len(boxes))
    slices = torch.cat([slices[:, :1] * t + offsets[:, None], slices[:, 1:]], dim=1)  # clip b, slice i → b·T' + i
    return rearrange(pool_keyframe(frames, slices, size), "(k t) c h w -> k c t h w", t=t)


def centre_slice(features: torch.Tensor) -> torch.Tensor:
    """The keyframe's slice of ``[B, C, T', H', W']``: index T'//2, the slice holding the clip's frame
    T//2 (where vidkit's person datasets put the keyframe) after the trunk halves time."""
    return features[:, :, features.shape[2] // 2]


class PersonModel(nn.Module):
    """What both person models share: the trunk, the box check and the RoI size."""

    def __init__(self, *, width: int, roi_size: int, temporal_padding: str):
        super().__init__()
        self.trunk = Res4Trunk(width=width, temporal_padding=temporal_padding)
        self.roi_size = roi_size
        self.temporal_padding = temporal_padding

    def _boxes(self, x: torch.Tensor, boxes: torch.Tensor | None) -> torch.Tensor:
        """``boxes`` checked and on ``x``'s device (``x``: the clips or their feature maps, batch first);
        one whole-frame box per clip when None."""
        if boxes is None:
            return whole_frame_boxes(x.shape[0], x.device)
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"boxes must be [K, 5] (clip index, x1, y1, x2, y2 normalised); got {tuple(boxes.shape)}")
        return boxes.to(device=x.device, dtype=torch.float32)

    @property
    def num_features(self) -> int:
        """Width of each person's feature the classifier reads."""
        return self.classifier.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` → the trunk's map ``[B, C, T', H', W']`` (res4, stride 16, time halved)."""
        return self.trunk(x)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one for ``num_classes`` (fine-tuning on a new label set)."""
        self.classifier = nn.Linear(self.classifier.in_features, num_classes)

    def checkpoint_options(self) -> dict[str, Any]:
        """Recorded in vidkit's checkpoints: how the trunk pads time (see ``i3d_r50``)."""
        return {"temporal_padding": self.temporal_padding}

    def load_trunk(self, weights: str | os.PathLike | Mapping[str, Any]) -> None:
        """The trunk from an ``i3d_r50`` checkpoint (see :meth:`Res4Trunk.load_i3d`): one trained with the
        other temporal padding (a vidkit ``i3d_r50`` from before it padded with zeros) is refused, saying so."""
        self.trunk.load_i3d(weights, temporal_padding=self.temporal_padding)


class I3DRoIHead(PersonModel):
    """The paper's baseline, the "I3D head" (see the module docstring for the shapes).

    Args:
        head: "res5" (default, the paper's: res5 run on each person's RoI-pooled tube, pooled, dropout,
            linear) or "light" (vidkit's former baseline: the tube averaged over time and cells, dropout,
            linear; no res5).
        roi_size: the RoI cells a side (7; res5 halves them to 4).
        width: the trunk's stem width (64: ResNet-50; res5 outputs ``32 × width`` channels).
    """

    def __init__(
        self,
        *,
        num_classes: int = 80,
        head: str = "res5",
        dropout: float = 0.3,
        roi_size: int = 7,
        width: int = 64,
        temporal_padding: str = "zeros",
    ):
        if head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(map(repr, HEADS))} (res5: the paper's), not {head!r}")
        super().__init__(width=width, roi_size=roi_size, temporal_padding=temporal_padding)
        self.head_kind = head
        # res5 is None in the light head, so a light checkpoint's keys are exactly those it always had
        self.res5 = res5_stage(width=width, temporal_padding=temporal_padding) if head == "res5" else None
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(32 * width if head == "res5" else self.trunk.out_channels, num_classes)
        init_weights(self.trunk)
        if self.res5 is not None:
            init_weights(self.res5)  # PySlowFast's: each block starts as its shortcut (final BN γ = 0)

    def forward(self, x: torch.Tensor, boxes: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``[B, 3, T, H, W]``, ``boxes`` ``[K, 5]`` → logits ``[K, num_classes]``."""
        boxes = self._boxes(x, boxes)
        return self.forward_head(self.forward_features(x), boxes=boxes)

    def forward_head(
        self, features: torch.Tensor, pre_logits: bool = False, *, boxes: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The trunk's map ``[B, C, T', H', W']`` and ``boxes`` ``[K, 5]`` → logits ``[K, num_classes]``
        (``pre_logits``: each person's pooled feature ``[K, num_features]``, before the dropout)."""
        boxes = self._boxes(features, boxes)
        if self.res5 is None:
            # RoIAlign is linear: the box on the time-averaged map is the average of the box on every slice.
            features = reduce(features, "b c t h w -> b c h w", "mean")
            pooled = reduce(pool_keyframe(features, boxes, self.roi_size), "k c h w -> k c", "mean")
        else:
            tubes = self.res5(pool_tubes(features, boxes, self.roi_size))  # [K, 2C, T', ⌈S/2⌉, ⌈S/2⌉]
            pooled = reduce(tubes, "k c t h w -> k c", "mean")
        return pooled if pre_logits else self.classifier(self.dropout(pooled))

    def checkpoint_options(self) -> dict[str, Any]:
        """Recorded in vidkit's checkpoints: the trunk's temporal padding and which head (a checkpoint
        without ``head`` holds vidkit's former light head: the model card says so)."""
        return {**super().checkpoint_options(), "head": self.head_kind}

    def load_trunk(self, weights: str | os.PathLike | Mapping[str, Any]) -> None:
        """The trunk from an ``i3d_r50`` checkpoint (see :meth:`Res4Trunk.load_i3d`), and the res5 head from
        the same file's res5: the whole head starts pretrained, as the paper's starts from Kinetics-400 I3D."""
        res5 = self.trunk.load_i3d(weights, temporal_padding=self.temporal_padding)
        if self.res5 is not None:
            self.res5.load_state_dict(res5)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """As ``nn.Module``'s, with one clear line for a light head's weights (no ``res5``, a classifier on
        res4's channels) loaded into the res5 head: build it with ``head="light"``."""
        classifier = state_dict.get("classifier.weight")
        light = (
            classifier is not None
            and classifier.ndim == 2
            and classifier.shape[1] == self.trunk.out_channels
            and not any(k.startswith("res5.") for k in state_dict)
        )
        if strict and self.res5 is not None and light:
            raise RuntimeError(
                "these are the light I3D head's weights (a classifier on res4's "
                f"{self.trunk.out_channels} channels, no res5; vidkit's i3d_roi_head before the paper's res5 head "
                "became its default): build i3d_roi_head with head='light' to load them"
            )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
