"""Building blocks of 3D ResNets (private): the stem, the bottleneck block, a stage, a whole pathway,
a pooled classifier head, and PySlowFast's initialisation.

One pathway is ``stem → res2 → res3 → res4 → res5`` (He et al., CVPR 2016, Table 1, with the
temporal kernels of Feichtenhofer et al., ICCV 2019, Table 1). Which blocks see time is a per-stage
*pattern* of conv_a temporal kernels, cycled over the stage's blocks, so one builder covers
C2D (all 1), Slow (1, 1, 3, 3 per stage), I3D (3, 1 alternating) and the SlowFast Fast path (all 3):

    >>> trunk = ResNetPathway(stem_temporal_kernel=5, widths=(8, 32, 64, 128, 256),
    ...                       temporal_kernels=((3,), (3,), (3,), (3,)))
    >>> trunk.res3.block1.conv_a.kernel_size
    (3, 1, 1)

Sub-modules are named for what they are (``stem.conv``, ``res4.block2.bn_b``, ``res2.block1.shortcut``),
never by position, so checkpoints and error messages read.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint
from einops import reduce

Norm = Callable[[int], nn.Module]
TEMPORAL_PADDINGS = ("zeros", "replicate")

RESNET50_DEPTHS = (3, 4, 6, 3)
RESNET101_DEPTHS = (3, 4, 23, 3)
STAGE_NAMES = ("res2", "res3", "res4", "res5")


class TimeReplicateConv3d(nn.Conv3d):
    """A Conv3d whose temporal padding repeats the first and last frames instead of adding zeros; space is
    still zero-padded. With it an inflated network maps a clip of one repeated image to exactly the 2D
    network's output (I3D's "boring video" fixed point, Carreira & Zisserman 2017, Sec. 2.4). Conv3d's own
    ``padding_mode="replicate"`` would pad space too, which breaks that, hence the explicit ``F.pad``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int, int],
        *,
        stride: tuple[int, int, int] = (1, 1, 1),
        padding: tuple[int, int, int] = (0, 0, 0),
        **kwargs,
    ):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=(0, *padding[1:]), **kwargs)
        self.time_padding = padding[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.time_padding:
            x = F.pad(x, (0, 0, 0, 0, self.time_padding, self.time_padding), mode="replicate")
        return super().forward(x)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, time_padding={self.time_padding} (replicate)"


def conv3d(
    in_channels: int,
    out_channels: int,
    kernel: tuple[int, int, int],
    stride: tuple[int, int, int] = (1, 1, 1),
    *,
    temporal_padding: str = "zeros",
) -> nn.Conv3d:
    """A bias-free 3D convolution padded to keep "same" size (``k // 2`` on each axis), as every ResNet conv here.
    ``temporal_padding="replicate"`` pads time by repeating the end frames (:class:`TimeReplicateConv3d`)."""
    if temporal_padding not in TEMPORAL_PADDINGS:
        raise ValueError(f"temporal_padding must be one of {TEMPORAL_PADDINGS}, not {temporal_padding!r}")
    padding = tuple(k // 2 for k in kernel)
    if temporal_padding == "replicate" and kernel[0] > 1:
        return TimeReplicateConv3d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)
    return nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)


class Stem(nn.Module):
    """conv1 (t×7×7, spatial stride 2) → BN → ReLU → pool1 (1×3×3 max, spatial stride 2): H and W shrink by 4,
    T is kept. ``pool=False`` drops pool1."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        temporal_kernel: int = 1,
        spatial_kernel: int = 7,
        temporal_stride: int = 1,
        pool: bool = True,
        norm: Norm = nn.BatchNorm3d,
        temporal_padding: str = "zeros",
    ):
        super().__init__()
        self.conv = conv3d(
            in_channels,
            out_channels,
            (temporal_kernel, spatial_kernel, spatial_kernel),
            (temporal_stride, 2, 2),
            temporal_padding=temporal_padding,
        )
        self.bn = norm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


class Bottleneck(nn.Module):
    """The bottleneck residual block: conv_a t×1×1 → conv_b 1×3×3 (carries the spatial stride) → conv_c 1×1×1,
    each followed by BN (and ReLU but the last), plus the shortcut: identity, or a strided 1×1×1 projection
    with BN when the channels or the size change. ``bn_c`` is the branch's last BN (zero-initialised, see
    :func:`init_weights`).

    Two places are open to the temporal models built on it: ``shift`` (None, or a parameter-free module
    applied to the residual branch's input only: TSM's "residual shift") and ``conv_b`` (any module with the
    same input/output channels and spatial stride: GST's split conv, CoST, FAST 3D)."""

    def __init__(
        self,
        in_channels: int,
        inner_channels: int,
        out_channels: int,
        *,
        temporal_kernel: int = 1,
        spatial_stride: int = 1,
        temporal_stride: int = 1,
        groups: int = 1,
        norm: Norm = nn.BatchNorm3d,
        temporal_padding: str = "zeros",
    ):
        super().__init__()
        t = temporal_kernel
        self.shift: nn.Module | None = None
        self.conv_a = conv3d(
            in_channels, inner_channels, (t, 1, 1), (temporal_stride, 1, 1), temporal_padding=temporal_padding
        )
        self.bn_a = norm(inner_channels)
        self.conv_b = nn.Conv3d(
            inner_channels,
            inner_channels,
            (1, 3, 3),
            stride=(1, spatial_stride, spatial_stride),
            padding=(0, 1, 1),
            groups=groups,
            bias=False,
        )
        self.bn_b = norm(inner_channels)
        self.conv_c = conv3d(inner_channels, out_channels, (1, 1, 1))
        self.bn_c = norm(out_channels)
        self.bn_c.final_bn = True  # read by init_weights
        self.relu = nn.ReLU(inplace=True)
        if in_channels != out_channels or spatial_stride != 1 or temporal_stride != 1:
            self.shortcut = nn.Sequential()
            self.shortcut.add_module(
                "conv", conv3d(in_channels, out_channels, (1, 1, 1), (temporal_stride, spatial_stride, spatial_stride))
            )
            self.shortcut.add_module("bn", norm(out_channels))
        else:
            self.shortcut = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.relu(self.bn_a(self.conv_a(x if self.shift is None else self.shift(x))))
        out = self.relu(self.bn_b(self.conv_b(out)))
        out = self.bn_c(self.conv_c(out))
        out += identity  # in place on a fresh tensor: saves one activation-sized buffer per block
        return self.relu(out)


class ResStage(nn.Sequential):
    """``depth`` bottlenecks named ``block1`` … ``blockN``; the first one changes the channels and carries
    the stride. ``temporal_kernels`` is cycled over the blocks: ``(3,)`` gives every block a 3×1×1 conv_a,
    ``(3, 1)`` alternates (I3D), ``(1,)`` is a 2D stage."""

    def __init__(
        self,
        in_channels: int,
        inner_channels: int,
        out_channels: int,
        *,
        depth: int,
        temporal_kernels: Sequence[int] = (1,),
        spatial_stride: int = 1,
        temporal_stride: int = 1,
        groups: int = 1,
        norm: Norm = nn.BatchNorm3d,
        block: Callable[..., nn.Module] = Bottleneck,
        temporal_padding: str = "zeros",
    ):
        super().__init__()
        kernels = itertools.cycle(temporal_kernels)
        for i in range(depth):
            first = i == 0
            self.add_module(
                f"block{i + 1}",
                block(
                    in_channels if first else out_channels,
                    inner_channels,
                    out_channels,
                    temporal_kernel=next(kernels),
                    spatial_stride=spatial_stride if first else 1,
                    temporal_stride=temporal_stride if first else 1,
                    groups=groups,
                    norm=norm,
                    temporal_padding=temporal_padding,
                ),
            )
        self.checkpoint = False  # set by set_activation_checkpointing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.checkpoint and self.training and torch.is_grad_enabled()):
            return super().forward(x)
        for block in self:
            x = torch.utils.checkpoint.checkpoint(
                block, x, use_reentrant=False, context_fn=lambda b=block: (contextlib.nullcontext(), _still_bn(b))
            )
        return x


@contextlib.contextmanager
def _still_bn(module: nn.Module):
    """BN running statistics left as they are (momentum 0) while a checkpointed block is recomputed in the
    backward pass, so they are updated once per step, as without checkpointing."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum is not None]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(norms, saved):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


def set_activation_checkpointing(model: nn.Module, enabled: bool = True) -> int:
    """Recompute every residual block's activations in the backward pass instead of keeping them
    (``torch.utils.checkpoint``, non-reentrant), in every ResNet stage of ``model``: training memory for
    activations drops to the blocks' inputs, for about one more forward pass of compute. Outputs and
    gradients are unchanged, BN statistics too (see :func:`_still_bn`). Returns the number of stages set."""
    stages = [m for m in model.modules() if isinstance(m, ResStage)]
    for stage in stages:
        stage.checkpoint = enabled
    return len(stages)


class ResNetPathway(nn.Module):
    """One 3D ResNet trunk: ``stem``, then ``res2`` … ``res5`` (spatial strides 1, 2, 2, 2).

    Args:
        widths: the stem's output channels, then each stage's output channels; a bottleneck's inner
            width is a quarter of its output (ResNet-50: ``(64, 256, 512, 1024, 2048)``).
        temporal_kernels: per stage, the conv_a temporal-kernel pattern (see :class:`ResStage`).
        extra_in_channels: per stage, channels concatenated onto that stage's input from outside
            the pathway (SlowFast's lateral connections); ``0`` for none.
        temporal_pool: after res2, max-pool time by this factor (kernel and stride; 2 in C2D and I3D,
            Wang et al. 2018, Table 1); 1 for none.
        temporal_padding: how temporal convolutions pad time: "zeros" (PySlowFast, pytorchvideo) or
            "replicate" (keeps inflation's fixed point, see :class:`TimeReplicateConv3d`).

    The pathway is run stage by stage by models that need to act between stages (``forward`` runs
    it whole).
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 256, 512, 1024, 2048),
        depths: Sequence[int] = RESNET50_DEPTHS,
        stem_temporal_kernel: int = 1,
        temporal_kernels: Sequence[Sequence[int]] = ((1,), (1,), (3,), (3,)),
        extra_in_channels: Sequence[int] = (0, 0, 0, 0),
        norm: Norm = nn.BatchNorm3d,
        temporal_pool: int = 1,
        temporal_padding: str = "zeros",
    ):
        super().__init__()
        if not len(widths) == len(depths) + 1 == len(temporal_kernels) + 1 == len(extra_in_channels) + 1 == 5:
            raise ValueError(
                "a pathway has a stem and four stages: widths takes 5 values; depths, "
                "temporal_kernels and extra_in_channels 4 each"
            )
        self.stem = Stem(
            in_channels, widths[0], temporal_kernel=stem_temporal_kernel, norm=norm, temporal_padding=temporal_padding
        )
        for i, name in enumerate(STAGE_NAMES):
            self.add_module(
                name,
                ResStage(
                    widths[i] + extra_in_channels[i],
                    widths[i + 1] // 4,
                    widths[i + 1],
                    depth=depths[i],
                    temporal_kernels=temporal_kernels[i],
                    spatial_stride=1 if i == 0 else 2,
                    norm=norm,
                    temporal_padding=temporal_padding,
                ),
            )
        # ceil_mode: an odd last frame (or a one-frame clip) is pooled alone rather than dropped.
        self.temporal_pool = (
            nn.MaxPool3d((temporal_pool, 1, 1), stride=(temporal_pool, 1, 1), ceil_mode=True)
            if temporal_pool > 1
            else None
        )
        self.out_channels = widths[-1]
        self.temporal_padding = temporal_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for name in STAGE_NAMES:
            x = getattr(self, name)(x)
            if name == "res2" and self.temporal_pool is not None:
                x = self.temporal_pool(x)
        return x

    def blocks(self) -> list[Bottleneck]:
        """Every residual block, in order (res2.block1 … res5.block3): what the temporal models modify."""
        return [block for name in STAGE_NAMES for block in getattr(self, name)]


class ClassifierHead(nn.Module):
    """Global average pool of each feature map (adaptive: any input size), concatenated, dropout, linear."""

    def __init__(self, in_features: int, num_classes: int, *, dropout: float = 0.5):
        super().__init__()
        self.in_features = in_features
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.proj = nn.Linear(in_features, num_classes)

    def pool(self, *maps: torch.Tensor) -> torch.Tensor:
        pooled = [reduce(m, "b c t h w -> b c", "mean") for m in maps]
        return pooled[0] if len(pooled) == 1 else torch.cat(pooled, dim=1)

    def forward(self, *maps: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(*maps)
        return x if pre_logits else self.proj(self.dropout(x))

    def frame_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores of every frame ``[B, T, K]`` from one feature map ``[B, C, T, H, W]`` (space pooled only)."""
        return self.proj(self.dropout(reduce(features, "b c t h w -> b t c", "mean")))

    def reset(self, num_classes: int, *, std: float = 0.01) -> None:
        """A fresh classifier for ``num_classes`` (fine-tuning on a new label set), weights N(0, std²)."""
        self.proj = nn.Linear(self.in_features, num_classes)
        _init_linear(self.proj, std)


def init_weights(model: nn.Module, *, zero_init_final_bn: bool = True, fc_std: float = 0.01) -> None:
    """PySlowFast's initialisation (``slowfast/models/weight_init_helper.py``): convolutions He-normal
    (fan-out, ReLU gain), BN γ=1 and β=0 except the last BN of each residual branch, whose γ starts at 0
    so every block starts as the identity (Goyal et al., 2017, Sec. 5.1; PySlowFast's
    ``ZERO_INIT_FINAL_BN=True``), linear layers N(0, 0.01) with zero bias."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.weight is not None:
                nn.init.constant_(m.weight, 0.0 if zero_init_final_bn and getattr(m, "final_bn", False) else 1.0)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            _init_linear(m, fc_std)


def _init_linear(m: nn.Linear, std: float = 0.01) -> None:
    nn.init.normal_(m.weight, std=std)
    if m.bias is not None:
        nn.init.zeros_(m.bias)
