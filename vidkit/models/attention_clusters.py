"""Attention clusters (Long, Gan, de Melo, Wu, Liu, Wen, "Attention Clusters: Purely Attention Based Local
Feature Integration for Video Classification", CVPR 2018, https://arxiv.org/abs/1711.09550).

Local features of a video — here one vector per frame from a 2D network — are integrated by attention
alone, with no notion of order (Sec. 3):

- N attention units; unit i scores every frame with a linear function, ``a_i = softmax_t(w_i·x_t + b_i)``,
  and outputs the weighted sum ``s_i = Σ_t a_i,t x_t`` (Sec. 3.2, the single-layer weighting);
- the shifting operation (Sec. 3.3): ``v_i = (α_i s_i + β_i) / ‖α_i s_i + β_i‖₂ / √N`` with learnt scalars
  α_i, β_i, so that the units diversify and the concatenation has unit norm;
- the N outputs concatenated (N·D), dropout, a linear classifier.

``AttentionClusters`` is the head: it takes ``[B, T, D]`` features from any backbone. The registered
``attention_clusters`` model puts it on a 2D ResNet-50 applied to every frame and trains both end to end.
The paper's own recipe — the head alone on frozen local features extracted beforehand from many frames —
is ``vidkit extract --layer temporal`` then :func:`vidkit.features.fit_attention_clusters`
(docs/attention_clusters.md).

Where α and β start is not in the paper, and we found no code of the authors'. They start as in the
implementation Baidu publishes (two of the authors were at Baidu; its README calls the model the best
sequence model of the ActivityNet Kinetics Challenge 2017), PaddlePaddle's ``attention_cluster``
(``PaddlePaddle/models``, ``PaddleCV/video/models/attention_cluster/shifting_attention.py``): both drawn
from ``N(0, σ²)``, ``σ = N^(-1/4)`` (its ``glorot(n) = sqrt(1 / sqrt(n))``), one pair per unit. From α=1,
β=0 every unit would start as a plain normalised attention pool, and α would get no gradient until β left
0 (the normalisation cancels a scale); the random start gives the units different shifts from the first
step, the diversity the operation is for.

The paper's local features come from 2D networks pretrained on ImageNet, applied frame by frame.
``build("attention_clusters", ..., weights=path_or_state_dict)`` (or ``model.load_imagenet(...)``) starts the
ResNet-50 from a torchvision ``resnet50`` checkpoint (its classifier unused; the attention units and the
classifier keep their fresh initialisation): each frame's features are then exactly that network's pooled
features.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, reduce

from vidkit.models._checkpoints import register_converters, rename, with_model
from vidkit.models._imagenet import fit_2d, read_2d, resnet_name
from vidkit.models._resnet3d import ResNetPathway, _init_linear, init_weights
from vidkit.models.inflate import inflate_weight
from vidkit.models.registry import register_model
from vidkit.models.resnet import _TV_RULES, C2D_TEMPORAL_KERNELS


class AttentionClusters(nn.Module):
    """N attention units with the shifting operation over ``[B, T, D]`` local features → logits ``[B, K]``."""

    def __init__(self, in_features: int, num_classes: int, *, num_units: int = 16, dropout: float = 0.5):
        super().__init__()
        self.in_features, self.num_units = in_features, num_units
        self.score = nn.Linear(in_features, num_units)  # w_i·x + b_i for every unit at once
        # the shifting operation's scale and shift, one pair per unit: std N^(-1/4), as PaddlePaddle's (above)
        self.alpha = nn.Parameter(torch.randn(num_units) * num_units**-0.25)
        self.beta = nn.Parameter(torch.randn(num_units) * num_units**-0.25)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.proj = nn.Linear(num_units * in_features, num_classes)

    def attention(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Each unit's weights over the T local features ``[B, T, N]`` (each column sums to 1). ``mask``
        ``[B, T]`` (True: a feature, False: padding) gives the padding weight 0, so videos of different
        lengths batch together and each gets what it would get alone."""
        scores = self.score(features)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, :, None], float("-inf"))
        return scores.softmax(dim=1)

    def forward(
        self, features: torch.Tensor, pre_logits: bool = False, *, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if features.ndim != 3 or features.shape[-1] != self.in_features:
            raise ValueError(
                f"AttentionClusters takes [B, T, {self.in_features}] features; got {tuple(features.shape)}"
            )
        if mask is not None and mask.shape != features.shape[:2]:
            raise ValueError(f"mask {tuple(mask.shape)}: expected [B, T] = {tuple(features.shape[:2])}")
        pooled = torch.einsum("btn,btd->bnd", self.attention(features, mask), features)  # s_i  [B, N, D]
        shifted = self.alpha[:, None] * pooled + self.beta[:, None]  # α_i s_i + β_i
        v = F.normalize(shifted, dim=-1) / math.sqrt(self.num_units)
        v = rearrange(v, "b n d -> b (n d)")
        return v if pre_logits else self.proj(self.dropout(v))

    def reset(self, num_classes: int) -> None:
        self.proj = nn.Linear(self.num_units * self.in_features, num_classes)
        _init_linear(self.proj)


class AttentionClusterNet(nn.Module):
    """A 2D ResNet-50 on every frame (features pooled over space) → :class:`AttentionClusters`."""

    def __init__(
        self, *, num_classes: int = 400, num_units: int = 16, dropout: float = 0.5, zero_init_final_bn: bool = True
    ):
        super().__init__()
        self.backbone = ResNetPathway(temporal_kernels=C2D_TEMPORAL_KERNELS)  # 2D kernels only, no pooling in time
        self.head = AttentionClusters(self.backbone.out_channels, num_classes, num_units=num_units, dropout=dropout)
        init_weights(self, zero_init_final_bn=zero_init_final_bn)

    @property
    def num_features(self) -> int:
        """Width of what the classifier reads: every unit's output concatenated (16 × 2048)."""
        return self.head.num_units * self.head.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` → per-frame features ``[B, T, 2048]``."""
        if x.ndim != 5:
            raise ValueError(f"attention_clusters takes one [B, C, T, H, W] clip; got shape {tuple(x.shape)}")
        return reduce(self.backbone(x), "b c t h w -> b t c", "mean")

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(features, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        self.head.reset(num_classes)

    def load_imagenet(self, weights: str | os.PathLike | Mapping[str, Any]) -> AttentionClusterNet:
        """Start the backbone from a torchvision ResNet-50 (a file or a state dict; ImageNet's, as the
        paper's local features are; ``build("attention_clusters", ..., weights=...)`` does the same): every
        kernel taken as it is (one frame in time), the ImageNet classifier unused, the attention clusters
        as they were. Another network is one :class:`~vidkit.errors.CheckpointError` line naming what is
        missing. Returns ``self``."""
        self.load_state_dict(_imagenet_state(self, weights))
        return self


def _imagenet_state(
    model: AttentionClusterNet, weights: str | os.PathLike | Mapping[str, Any], source: str | None = None
) -> dict[str, torch.Tensor]:
    """``model``'s state dict with its backbone started from a torchvision ResNet-50."""
    state, source = read_2d(weights, source)
    renamed = {  # torchvision's names → the ResNet models' (backbone.stem.conv, backbone.res2.block1.conv_a, …)
        k.removeprefix("backbone."): v
        for k, v in rename(state, _TV_RULES, source, "torchvision").items()
        if k.startswith("backbone.")
    }
    own = model.backbone.state_dict()
    adapt = {k: (lambda w: inflate_weight(w, 1) if w.ndim == 4 else w) for k, v in own.items() if v.ndim == 5}
    start = fit_2d(
        model.backbone,
        renamed,
        source,
        "attention_clusters' backbone (a resnet50)",
        adapt=adapt,
        held=resnet_name(state),
    )
    out = model.state_dict()
    out.update({f"backbone.{k}": v for k, v in start.items()})
    return out


@with_model
def _from_torchvision(
    state: dict[str, torch.Tensor], source: str, model: AttentionClusterNet
) -> dict[str, torch.Tensor]:
    return _imagenet_state(model, state, source)


register_converters(
    AttentionClusterNet, {"torchvision": _from_torchvision}, description="attention clusters (an ImageNet ResNet-50)"
)


@register_model(paper="Long et al., CVPR 2018 (attention clusters)", input_frames=8, input_size=224)
def attention_clusters(
    *, num_classes: int = 400, num_units: int = 16, dropout: float = 0.5, zero_init_final_bn: bool = True
) -> AttentionClusterNet:
    """Attention clusters (16 units) over per-frame ResNet-50 features."""
    return AttentionClusterNet(
        num_classes=num_classes, num_units=num_units, dropout=dropout, zero_init_final_bn=zero_init_final_bn
    )
