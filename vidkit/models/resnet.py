"""Single-pathway ResNet-50 video classifiers: C2D, TSN, I3D and Slow — and the shape every other ResNet-based
model in the zoo (TSM, GST, CoST, FAST 3D) starts from.

- **C2D** (Wang et al., "Non-local Neural Networks", CVPR 2018, Table 1): ResNet-50 applied to every
  frame (all kernels 1×k×k), a 2×1×1 temporal max-pool after res2, global average pooling over
  t h w. It sees frames, not their order: the baseline every temporal model must beat.
- **TSN** (Wang et al., "Temporal Segment Networks", ECCV 2016): the same 2D ResNet-50 on each sampled
  frame (one per segment), class scores averaged over the frames (the "average consensus").
- **I3D** (Carreira & Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017) with the ResNet-50 trunk
  and PySlowFast's temporal kernels: stem 5×7×7; conv_a 3×1×1 in every res2 block, alternating 3/1 in
  res3 and res4, 1/3 in res5; the 2×1×1 temporal max-pool after res2. 28,043,472 parameters with 400
  classes (pytorchvideo's ``i3d_r50``: the same). Its temporal convolutions pad time with zeros, as
  pytorchvideo's, PySlowFast's and DeepMind's do, so their checkpoints give their logits;
  ``temporal_padding="replicate"`` repeats the end frames instead, so that a 2D ResNet-50 checkpoint inflated
  into it (``build("i3d_r50", temporal_padding="replicate", weights=resnet50.pth)``) gives the 2D network's
  logits on a clip of one repeated image. vidkit's checkpoints record the padding (see :func:`i3d_r50`).
- **Slow** (Feichtenhofer et al., "SlowFast Networks for Video Recognition", ICCV 2019): the Slow pathway
  alone, 8 frames with temporal kernels only in res4 and res5 (the paper's finding that early temporal
  convolutions hurt): pytorchvideo's ``slow_r50``, a published Kinetics-400 baseline.

Shapes for ``i3d_r50`` on a 16-frame 224² clip, batch B::

    clip        [B,    3, 16, 224, 224]
    stem        [B,   64, 16,  56,  56]   conv 5×7×7 stride (1, 2, 2), max-pool 1×3×3 stride (1, 2, 2)
    res2        [B,  256, 16,  56,  56] → temporal max-pool 2×1×1 → [B, 256, 8, 56, 56]
    res3..res5  [B,  512,  8,  28,  28] … [B, 2048, 8, 7, 7]
    head        mean over t h w → [B, 2048] → dropout 0.5 → linear → [B, 400]

Every model of this family (a :class:`ResNet3d`, TSM's subclass included) loads pytorchvideo's and
PySlowFast's C2D/I3D/Slow files, 2D ResNet-50 checkpoints in torchvision's layout and mmaction2's and the
TSM authors' TSN/TSM files, through the converters registered at the end of this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
from einops import reduce

from vidkit.models._checkpoints import (
    PTV_BLOCK_PARTS,
    PYSF_BLOCK_PARTS,
    Converter,
    Rules,
    any_of,
    block_key,
    register_converters,
    rename,
    renamer,
)
from vidkit.models._resnet3d import RESNET50_DEPTHS, Bottleneck, ClassifierHead, ResNetPathway, init_weights
from vidkit.models.registry import register_model

I3D_TEMPORAL_KERNELS = ((3,), (3, 1), (3, 1), (1, 3))  # conv_a per stage, cycled over its blocks (PySlowFast I3D)
SLOW_TEMPORAL_KERNELS = ((1,), (1,), (3,), (3,))  # SlowFast's Slow pathway: time only in res4 and res5
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

    ``classifier_std``: the classifier's initial weights are N(0, std²), at build and when it is reset for a
    new label set — PySlowFast's 0.01 here; a family whose authors start theirs otherwise says so (TSM, GST).
    """

    classifier_std = 0.01

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
        init_weights(self, zero_init_final_bn=zero_init_final_bn, fc_std=self.classifier_std)

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
        self.head.reset(num_classes, std=self.classifier_std)

    def checkpoint_options(self) -> dict[str, str]:
        """What the weights compute besides their values, recorded in vidkit's checkpoints: how the temporal
        convolutions pad time (weights trained with one padding give other logits with the other)."""
        return {"temporal_padding": self.backbone.temporal_padding}


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


@register_model(
    paper="Carreira & Zisserman, CVPR 2017 (I3D)", checkpoint_defaults={"temporal_padding": "replicate"}, **_CARD
)
def i3d_r50(
    *,
    num_classes: int = 400,
    temporal_padding: str = "zeros",
    dropout: float = 0.5,
    zero_init_final_bn: bool = True,
) -> ResNet3d:
    """I3D ResNet-50 with PySlowFast's temporal kernels: 28,043,472 parameters with 400 classes.

    ``temporal_padding``: ``"zeros"`` (pytorchvideo, PySlowFast, DeepMind's I3D: their checkpoints give their
    logits) or ``"replicate"`` (a 2D checkpoint inflated into it keeps its logits on a still clip). vidkit's
    checkpoints record it; those written before they did were trained with ``"replicate"``."""
    return ResNet3d(
        num_classes=num_classes,
        stem_temporal_kernel=5,
        temporal_kernels=I3D_TEMPORAL_KERNELS,
        temporal_pool=2,
        temporal_padding=temporal_padding,
        dropout=dropout,
        zero_init_final_bn=zero_init_final_bn,
    )


@register_model(paper="Feichtenhofer et al., ICCV 2019 (SlowFast: the Slow pathway alone)", **_CARD)
def slow_r50(*, num_classes: int = 400, dropout: float = 0.5, zero_init_final_bn: bool = True) -> ResNet3d:
    """Slow ResNet-50 (the "Slow-only" 8x8 baseline of the SlowFast paper, Table 2): a 2D stem, temporal
    kernels 3x1x1 in res4 and res5 only, no temporal pooling, so 8 input frames stay 8; 32,454,096
    parameters with 400 classes (pytorchvideo's ``slow_r50``: the same)."""
    return ResNet3d(
        num_classes=num_classes,
        temporal_kernels=SLOW_TEMPORAL_KERNELS,
        dropout=dropout,
        zero_init_final_bn=zero_init_final_bn,
    )


# -- other projects' checkpoints -----------------------------------------------------------------
def _ptv_resnet(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """pytorchvideo's create_resnet (C2D, I3D, Slow): blocks.0 = stem, then res2-res5 as the blocks with
    res_blocks (a parameter-free pool block sits after res2 in C2D/I3D), the head last."""
    stages = sorted({int(m[1]) for k in state if (m := re.match(r"blocks\.(\d+)\.res_blocks\.", k))})
    stage_of = {str(index): 2 + i for i, index in enumerate(stages)}
    rules: Rules = [
        (re.compile(r"blocks\.0\.conv\.(\w+)"), lambda m: f"backbone.stem.conv.{m[1]}"),
        (re.compile(r"blocks\.0\.norm\.(\w+)"), lambda m: f"backbone.stem.bn.{m[1]}"),
        (
            re.compile(
                r"blocks\.(" + "|".join(stage_of) + r")\.res_blocks\.(\d+)\.(" + any_of(PTV_BLOCK_PARTS) + r")\.(\w+)"
            ),
            lambda m: block_key(stage_of[m[1]], "0", m[2], f"{PTV_BLOCK_PARTS[m[3]]}.{m[4]}", ("backbone",)),
        ),
        (re.compile(r"blocks\.\d+\.proj\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
    ]
    return rename(state, rules, source, "pytorchvideo")


# PySlowFast's ResNet (pathway0 only): s1 = stem, s2-s5 = res2-res5, head.projection = classifier.
_PYSF_RULES: Rules = [
    (re.compile(r"s1\.pathway0_stem\.(conv|bn)\.(\w+)"), lambda m: f"backbone.stem.{m[1]}.{m[2]}"),
    (
        re.compile(r"s([2-5])\.pathway0_res(\d+)\.(" + any_of(PYSF_BLOCK_PARTS) + r")\.(\w+)"),
        lambda m: block_key(int(m[1]), "0", m[2], f"{PYSF_BLOCK_PARTS[m[3]]}.{m[4]}", ("backbone",)),
    ),
    (re.compile(r"head\.projection\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
]
# torchvision's 2D ResNet (conv1/bn1, layerN.M.convK/bnK/downsample.{0,1}, fc); its kernels are inflated.
_TV_PARTS = {
    **{f"conv{i}": f"conv_{x}" for i, x in zip("123", "abc")},
    **{f"bn{i}": f"bn_{x}" for i, x in zip("123", "abc")},
    "downsample.0": "shortcut.conv",
    "downsample.1": "shortcut.bn",
}
_TV_RULES: Rules = [
    (re.compile(r"(conv|bn)1\.(\w+)"), lambda m: f"backbone.stem.{m[1] if m[1] == 'conv' else 'bn'}.{m[2]}"),
    (
        re.compile(r"layer([1-4])\.(\d+)\.(" + any_of(_TV_PARTS) + r")\.(\w+)"),
        lambda m: block_key(int(m[1]) + 1, "0", m[2], f"{_TV_PARTS[m[3]]}.{m[4]}", ("backbone",)),
    ),
    (re.compile(r"fc\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
]


# mmaction2's ResNet (ConvModule: convK.conv / convK.bn, downsample.conv / .bn; TSM wraps conv1's conv in
# a shift module as .net) and the TSM authors' (base_model. + torchvision names, .net wrapper, new_fc):
# renamed to torchvision's names, then mapped as those.
_TO_TORCHVISION = [
    (re.compile(r"^(backbone|base_model)\."), ""),
    (re.compile(r"\.net\.(weight|bias)$"), r".\1"),
    (re.compile(r"^(cls_head\.fc_cls|new_fc)\."), "fc."),
    (re.compile(r"^conv1\.conv\."), "conv1."),
    (re.compile(r"^conv1\.bn\."), "bn1."),
    (re.compile(r"\.conv(\d)\.conv\."), r".conv\1."),
    (re.compile(r"\.conv(\d)\.bn\."), r".bn\1."),
    (re.compile(r"\.downsample\.conv\."), ".downsample.0."),
    (re.compile(r"\.downsample\.bn\."), ".downsample.1."),
]


def _via_torchvision(layout: str) -> Converter:
    def convert(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
        renamed = {}
        for key, value in state.items():
            if key.startswith("data_preprocessor."):  # mmaction2 1.x keeps its normalisation constants here
                continue
            for pattern, replacement in _TO_TORCHVISION:
                key = pattern.sub(replacement, key)
            renamed[key] = value
        return rename(renamed, _TV_RULES, source, layout)

    return convert


register_converters(
    ResNet3d,
    {
        "pytorchvideo": _ptv_resnet,
        "PySlowFast": renamer(_PYSF_RULES, "PySlowFast"),
        "PySlowFast-Caffe2": renamer(_PYSF_RULES, "PySlowFast-Caffe2"),  # blobs already in PySlowFast's names
        "torchvision": renamer(_TV_RULES, "torchvision"),
        "mmaction2": _via_torchvision("mmaction2"),
        "TSM": _via_torchvision("TSM"),
    },
    description="single-pathway ResNets (C2D, TSN, I3D, TSM, CoST, ...)",
)
