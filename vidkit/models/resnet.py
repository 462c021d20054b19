"""Single-pathway ResNet-50 video classifiers: C2D, TSN and I3D — and the shape every other ResNet-based
model in the zoo (TSM, GST, CoST, FAST 3D) starts from.

- **C2D** (Wang et al., "Non-local Neural Networks", CVPR 2018, Table 1): ResNet-50 applied to every
  frame (all kernels 1×k×k), a 2×1×1 temporal max-pool after res2, global average pooling over
  t h w. It sees frames, not their order: the baseline every temporal model must beat.
- **TSN** (Wang et al., "Temporal Segment Networks", ECCV 2016): the same 2D ResNet-50 on each sampled
  frame (one per segment), class scores averaged over the frames (the "average consensus").
- **I3D** (Carreira & Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017) with the ResNet-50 trunk
  and PySlowFast's temporal kernels: stem 5×7×7; conv_a 3×1×1 in every res2 block, alternating 3/1 in
  res3 and res4, 1/3 in res5; the 2×1×1 temporal max-pool after res2. 28,043,472 parameters with 400
  classes (pytorchvideo's ``i3d_r50``: the same). Its temporal convolutions pad time by replicating the
  end frames, so a 2D ResNet-50 checkpoint inflated into it (``build("i3d_r50", weights=resnet50.pth)``)
  gives the 2D network's logits on a clip of one repeated image; ``temporal_padding="zeros"`` is the
  pytorchvideo/PySlowFast behaviour, for their checkpoints.

Shapes for ``i3d_r50`` on a 16-frame 224² clip, batch B::

    clip        [B,    3, 16, 224, 224]
    stem        [B,   64, 16,  56,  56]   conv 5×7×7 stride (1, 2, 2), max-pool 1×3×3 stride (1, 2, 2)
    res2        [B,  256, 16,  56,  56] → temporal max-pool 2×1×1 → [B, 256, 8, 56, 56]
    res3..res5  [B,  512,  8,  28,  28] … [B, 2048, 8, 7, 7]
    head        mean over t h w → [B, 2048] → dropout 0.5 → linear → [B, 400]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
from einops import reduce

from vidkit.models._resnet3d import RESNET50_DEPTHS, Bottleneck, ClassifierHead, ResNetPathway, init_weights
from vidkit.models.registry import register_model

I3D_TEMPORAL_KERNELS = ((3,), (3, 1), (3, 1), (1, 3))  # conv_a per stage, cycled over its blocks (PySlowFast I3D)
C2D_TEMPORAL_KERNELS = ((1,), (1,), (1,), (1,))
_CARD = dict(input_frames=8, input_size=224)  # 8 frames at 224², as pytorchvideo and PySlowFast quote them


class ResNet3d(nn.Module):
    """One ResNet trunk (``backbone``) and a pooled linear classifier (``head``).

    Args:
        stem_temporal_kernel, temporal_kernels, temporal_pool, temporal_padding: the trunk's temporal
            design (see :class:`~vidkit.models._resnet3d.ResNetPathway`).
        consensus: ``"features"`` pools the feature map over t h w before the classifier (C2D, I3D);
            ``"scores"`` classifies every frame and averages the logits (TSN's average consensus; equal
            to "features" in eval mode, different under dropout).
        customize: called as ``customize(index, block)`` for every residual block (index 1 … 16 for
            ResNet-50, in order) before the weights are initialised: where TSM adds its shift and GST,
            CoST and FAST 3D replace ``block.conv_b``.
        zero_init_final_bn: start each residual branch's last BN at γ=0 (see :func:`init_weights`).
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        depths: Sequence[int] = RESNET50_DEPTHS,
        width: int = 64,
        stem_temporal_kernel: int = 1,
        temporal_kernels: Sequence[Sequence[int]] = C2D_TEMPORAL_KERNELS,
        temporal_pool: int = 1,
        temporal_padding: str = "zeros",
        consensus: str = "features",
        dropout: float = 0.5,
        zero_init_final_bn: bool = True,
        customize: Callable[[int, Bottleneck], None] | None = None,
    ):
        super().__init__()
        if consensus not in ("features", "scores"):
            raise ValueError(f"consensus must be 'features' or 'scores', not {consensus!r}")
        self.consensus = consensus
        self.backbone = ResNetPathway(
            widths=(width, 4 * width, 8 * width, 16 * width, 32 * width),
            depths=depths,
            stem_temporal_kernel=stem_temporal_kernel,
            temporal_kernels=temporal_kernels,
            temporal_pool=temporal_pool,
            temporal_padding=temporal_padding,
        )
        if customize is not None:
            for index, block in enumerate(self.backbone.blocks(), start=1):
                customize(index, block)
        self.head = ClassifierHead(self.backbone.out_channels, num_classes, dropout=dropout)
        init_weights(self, zero_init_final_bn=zero_init_final_bn)

    @property
    def num_features(self) -> int:
        return self.head.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` → the res5 feature map ``[B, 2048, T', H/32, W/32]``."""
        if x.ndim != 5:
            raise ValueError(f"{type(self).__name__} takes one [B, C, T, H, W] clip; got shape {tuple(x.shape)}")
        return self.backbone(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.consensus == "scores" and not pre_logits:
            return reduce(self.frame_logits(features), "b t k -> b k", "mean")
        return self.head(features, pre_logits=pre_logits)

    def frame_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Per-frame class scores ``[B, T', K]`` from a feature map (spatial mean pool, dropout, linear)."""
        return self.head.frame_logits(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one for ``num_classes`` (fine-tuning on a new label set)."""
        self.head.reset(num_classes)


def replace_conv_b(make: Callable[[int, int, int], nn.Module], *, every: int = 1) -> Callable[[int, Bottleneck], None]:
    """A ``customize`` hook for :class:`ResNet3d`: ``make(in_channels, out_channels, spatial_stride)`` takes the
    place of conv_b in every ``every``-th residual block (GST, CoST, FAST 3D)."""

    def hook(index: int, block: Bottleneck) -> None:
        if index % every == 0:
            conv = block.conv_b
            block.conv_b = make(conv.in_channels, conv.out_channels, conv.stride[1])

    return hook


@register_model(paper="Wang et al., CVPR 2018 (non-local networks, C2D baseline)", **_CARD)
def c2d_r50(*, num_classes: int = 400, dropout: float = 0.5, zero_init_final_bn: bool = True) -> ResNet3d:
    """C2D ResNet-50: 2D kernels only, temporal max-pool after res2, features averaged over time; 24,327,632
    parameters with 400 classes (pytorchvideo's ``c2d_r50``: the same)."""
    return ResNet3d(num_classes=num_classes, temporal_pool=2, dropout=dropout, zero_init_final_bn=zero_init_final_bn)


@register_model(paper="Wang et al., ECCV 2016 (TSN)", **_CARD)
def tsn_r50(*, num_classes: int = 400, dropout: float = 0.5, zero_init_final_bn: bool = True) -> ResNet3d:
    """TSN ResNet-50: every frame through a 2D ResNet-50 on its own, logits averaged over frames; 24,327,632
    parameters with 400 classes (torchvision's ``resnet50``'s, with a 400-way classifier)."""
    return ResNet3d(num_classes=num_classes, consensus="scores", dropout=dropout, zero_init_final_bn=zero_init_final_bn)


@register_model(paper="Carreira & Zisserman, CVPR 2017 (I3D)", **_CARD)
def i3d_r50(
    *,
    num_classes: int = 400,
    temporal_padding: str = "replicate",
    dropout: float = 0.5,
    zero_init_final_bn: bool = True,
) -> ResNet3d:
    """I3D ResNet-50 with PySlowFast's temporal kernels: 28,043,472 parameters with 400 classes."""
    return ResNet3d(
        num_classes=num_classes,
        stem_temporal_kernel=5,
        temporal_kernels=I3D_TEMPORAL_KERNELS,
        temporal_pool=2,
        temporal_padding=temporal_padding,
        dropout=dropout,
        zero_init_final_bn=zero_init_final_bn,
    )
