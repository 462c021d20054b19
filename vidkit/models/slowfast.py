"""SlowFast networks (Feichtenhofer, Fan, Malik, He: "SlowFast Networks for Video Recognition",
ICCV 2019, https://arxiv.org/abs/1812.03982), ResNet-50 pathways.

Two ResNet-50 trunks see the same clip at two frame rates. The Slow pathway takes every α-th frame
with full width and temporal convolutions only in res4/res5 (Table 1: "non-degenerate temporal
convolutions" late); the Fast pathway takes every frame with β = 1/8 of the channels and a temporal
kernel in every block. After pool1, res2, res3 and res4 a lateral connection, a time-strided
convolution (kernel k×1×1, stride α, 2βC channels, Sec. 3.4 "time-strided convolution"), brings the
Fast features to the Slow frame rate and concatenates them onto the Slow features.

Shapes for ``slowfast_r50`` (8×8: α=4) on a 32-frame 256² clip, batch B::

    clip             [B,    3, 32, 256, 256]
    slow input       [B,    3,  8, 256, 256]   frames linspace(0, 31, 8), taken inside the model
    after res5       slow [B, 2048, 8, 8, 8]   fast [B, 256, 32, 8, 8]
    head             mean over t h w of each → concat [B, 2304] → dropout 0.5 → linear → [B, 400]

The model follows the vidkit contract: one tensor ``[B, 3, T, H, W]`` at the Fast frame rate in,
logits out; T must be a multiple of α. The input is never modified.

pytorchvideo's and PySlowFast's SlowFast checkpoints load into it, through the converters registered at
the end of this file.
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn

from vidkit.models._checkpoints import (
    PTV_BLOCK_PARTS,
    PYSF_BLOCK_PARTS,
    Rules,
    any_of,
    block_key,
    register_converters,
    renamer,
)
from vidkit.models._resnet3d import RESNET50_DEPTHS, STAGE_NAMES, ClassifierHead, ResNetPathway, init_weights
from vidkit.models.registry import register_model

_PAPER = "Feichtenhofer et al., ICCV 2019"


def slow_frame_indices(num_frames: int, alpha: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The frames the Slow pathway sees, PySlowFast's choice (``PackPathway``): ``T // α`` frames spread
    evenly from the first to the last, ``torch.linspace(0, T - 1, T // α).long()``."""
    return torch.linspace(0, num_frames - 1, num_frames // alpha, device=device).long()


class LateralConnection(nn.Module):
    """Fast → Slow fusion: conv (k×1×1, temporal stride α) → BN → ReLU (Sec. 3.4, "time-strided convolution")."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel: int, alpha: int):
        super().__init__()
        self.conv = nn.Conv3d(
            in_channels, out_channels, (kernel, 1, 1), stride=(alpha, 1, 1), padding=(kernel // 2, 0, 0), bias=False
        )
        self.bn = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, fast: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(fast)))


class SlowFast(nn.Module):
    """SlowFast with ResNet pathways (Table 1 of the paper).

    Args:
        alpha: frame-rate ratio between the Fast and the Slow pathway (α; 4 for 8×8, 8 for 4×16).
        beta_inv: 1/β, how much thinner the Fast pathway is (8).
        fusion_kernel: temporal kernel of the lateral convolutions (7 for 8×8, 5 for 4×16, as PySlowFast).
        fusion_channel_ratio: lateral output channels per Fast channel (2: "2βC", Sec. 3.4).
        width: the Slow stem's channels (64); stages are 4×, 8×, 16×, 32× that.
        zero_init_final_bn: start the last BN of every residual branch at γ=0, so each block starts
            as the identity (PySlowFast's ``RESNET.ZERO_INIT_FINAL_BN``, on in its SlowFast configs).
            Off, every BN starts at γ=1, which can learn faster in very short runs from scratch.
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        alpha: int = 4,
        beta_inv: int = 8,
        fusion_kernel: int = 7,
        fusion_channel_ratio: int = 2,
        depths: tuple[int, ...] = RESNET50_DEPTHS,
        width: int = 64,
        dropout: float = 0.5,
        zero_init_final_bn: bool = True,
    ):
        super().__init__()
        self.alpha = alpha
        slow_widths = (width, 4 * width, 8 * width, 16 * width, 32 * width)
        fast_widths = tuple(w // beta_inv for w in slow_widths)
        lateral_names = ("stem", *STAGE_NAMES[:3])  # fused after pool1, res2, res3, res4
        lateral_widths = [fusion_channel_ratio * w for w in fast_widths[:4]]
        self.slow = ResNetPathway(
            widths=slow_widths,
            depths=depths,
            stem_temporal_kernel=1,
            temporal_kernels=((1,), (1,), (3,), (3,)),
            extra_in_channels=lateral_widths,
        )
        self.fast = ResNetPathway(
            widths=fast_widths, depths=depths, stem_temporal_kernel=5, temporal_kernels=((3,), (3,), (3,), (3,))
        )
        self.lateral = nn.ModuleDict(
            {
                name: LateralConnection(w, ratio_w, kernel=fusion_kernel, alpha=alpha)
                for name, w, ratio_w in zip(lateral_names, fast_widths, lateral_widths)
            }
        )
        self.head = ClassifierHead(slow_widths[-1] + fast_widths[-1], num_classes, dropout=dropout)
        init_weights(self, zero_init_final_bn=zero_init_final_bn)

    @property
    def num_features(self) -> int:
        """Width of the pooled features the classifier sees (2048 + 256 for R50)."""
        return self.head.in_features

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, C, T, H, W]`` → the final (slow, fast) feature maps, before pooling."""
        if x.ndim != 5:
            raise ValueError(f"SlowFast takes one [B, C, T, H, W] clip; got shape {tuple(x.shape)}")
        t = x.shape[2]
        if t % self.alpha:
            raise ValueError(f"SlowFast with alpha={self.alpha} needs a frame count divisible by {self.alpha}; got {t}")
        slow = x.index_select(2, slow_frame_indices(t, self.alpha, x.device))  # a new tensor: x is left as it is
        slow, fast = self.slow.stem(slow), self.fast.stem(x)
        slow = torch.cat([slow, self.lateral["stem"](fast)], dim=1)
        for name in STAGE_NAMES:
            slow, fast = getattr(self.slow, name)(slow), getattr(self.fast, name)(fast)
            if name in self.lateral:
                slow = torch.cat([slow, self.lateral[name](fast)], dim=1)
        return slow, fast

    def forward_head(self, features: tuple[torch.Tensor, torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """Pool each pathway over t h w, concatenate, dropout, linear (``pre_logits``: stop before the dropout)."""
        return self.head(*features, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one for ``num_classes`` (fine-tuning on a new label set)."""
        self.head.reset(num_classes)


@register_model(aliases=("slowfast",), input_frames=32, input_size=256, paper=_PAPER)
def slowfast_r50(
    *,
    num_classes: int = 400,
    alpha: int = 4,
    beta_inv: int = 8,
    fusion_kernel: int = 7,
    dropout: float = 0.5,
    zero_init_final_bn: bool = True,
) -> SlowFast:
    """SlowFast R50 8×8 (α=4: 8 Slow / 32 Fast frames; PySlowFast's ``SLOWFAST_8x8_R50``): 34,566,488 parameters
    with 400 classes, 65.71 GFLOPs on a 32-frame 256² clip (the paper's Table 2: 65.7)."""
    return SlowFast(
        num_classes=num_classes,
        alpha=alpha,
        beta_inv=beta_inv,
        fusion_kernel=fusion_kernel,
        dropout=dropout,
        zero_init_final_bn=zero_init_final_bn,
    )


@register_model(input_frames=32, input_size=256, paper=_PAPER)
def slowfast_r50_4x16(
    *,
    num_classes: int = 400,
    alpha: int = 8,
    beta_inv: int = 8,
    fusion_kernel: int = 5,
    dropout: float = 0.5,
    zero_init_final_bn: bool = True,
) -> SlowFast:
    """SlowFast R50 4×16 (α=8: 4 Slow / 32 Fast frames; PySlowFast's ``SLOWFAST_4x16_R50``): 34,480,216 parameters
    with 400 classes, 36.10 GFLOPs on a 32-frame 256² clip (the paper's Table 2: 36.1)."""
    return SlowFast(
        num_classes=num_classes,
        alpha=alpha,
        beta_inv=beta_inv,
        fusion_kernel=fusion_kernel,
        dropout=dropout,
        zero_init_final_bn=zero_init_final_bn,
    )


# -- other projects' checkpoints -----------------------------------------------------------------
_PATHWAYS = ("slow", "fast")
_LATERALS = ("stem", "res2", "res3", "res4")  # fused after pool1, res2, res3, res4

# pytorchvideo (create_slowfast): blocks.0 = stems + first fusion, blocks.1-4 = res2-res5 + fusion,
# blocks.5 = pooling, blocks.6 = head.
_PTV_RULES: Rules = [
    (
        re.compile(r"blocks\.0\.multipathway_blocks\.([01])\.conv\.(\w+)"),
        lambda m: f"{_PATHWAYS[int(m[1])]}.stem.conv.{m[2]}",
    ),
    (
        re.compile(r"blocks\.0\.multipathway_blocks\.([01])\.norm\.(\w+)"),
        lambda m: f"{_PATHWAYS[int(m[1])]}.stem.bn.{m[2]}",
    ),
    (
        re.compile(r"blocks\.([0-3])\.multipathway_fusion\.conv_fast_to_slow\.(\w+)"),
        lambda m: f"lateral.{_LATERALS[int(m[1])]}.conv.{m[2]}",
    ),
    (
        re.compile(r"blocks\.([0-3])\.multipathway_fusion\.norm\.(\w+)"),
        lambda m: f"lateral.{_LATERALS[int(m[1])]}.bn.{m[2]}",
    ),
    (
        re.compile(
            r"blocks\.([1-4])\.multipathway_blocks\.([01])\.res_blocks\.(\d+)\.("
            + any_of(PTV_BLOCK_PARTS)
            + r")\.(\w+)"
        ),
        lambda m: block_key(int(m[1]) + 1, m[2], m[3], f"{PTV_BLOCK_PARTS[m[4]]}.{m[5]}", _PATHWAYS),
    ),
    (re.compile(r"blocks\.\d+\.proj\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
]

# PySlowFast (slowfast/models/video_model_builder.py, SlowFast): s1 = stems, s2-s5 = res2-res5,
# s1_fuse-s4_fuse = lateral connections, head.projection = classifier.
_PYSF_RULES: Rules = [
    (re.compile(r"s1\.pathway([01])_stem\.(conv|bn)\.(\w+)"), lambda m: f"{_PATHWAYS[int(m[1])]}.stem.{m[2]}.{m[3]}"),
    (
        re.compile(r"s([1-4])_fuse\.(conv_f2s|bn)\.(\w+)"),
        lambda m: f"lateral.{_LATERALS[int(m[1]) - 1]}.{'conv' if m[2] == 'conv_f2s' else 'bn'}.{m[3]}",
    ),
    (
        re.compile(r"s([2-5])\.pathway([01])_res(\d+)\.(" + any_of(PYSF_BLOCK_PARTS) + r")\.(\w+)"),
        lambda m: block_key(int(m[1]), m[2], m[3], f"{PYSF_BLOCK_PARTS[m[4]]}.{m[5]}", _PATHWAYS),
    ),
    (re.compile(r"head\.projection\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
]

register_converters(
    SlowFast,
    {
        "pytorchvideo": renamer(_PTV_RULES, "pytorchvideo"),
        "PySlowFast": renamer(_PYSF_RULES, "PySlowFast"),
        "PySlowFast-Caffe2": renamer(_PYSF_RULES, "PySlowFast-Caffe2"),  # blobs already in PySlowFast's names
    },
    description="SlowFast models",
)
