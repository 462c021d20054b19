"""CoViAR: "Compressed Video Action Recognition" (Wu et al., CVPR 2018).

Three TSN-style streams over what the codec already computed (§3.2): an I-frame network (a 2D
ResNet, ImageNet-style; ResNet-152 in the paper), and two ResNet-18s on the motion vectors (2 input
channels) and on the residuals (3), each accumulated back to the GOP's I-frame
(:mod:`vidkit.io.compressed`). Each stream classifies every sampled frame on its own and averages
its scores over the frames (TSN's consensus); the model's output is the weighted sum of the streams'
scores (§4, "late fusion"; ``fusion_weights``).

Input — the model contract's one tensor, packed by :mod:`vidkit.data.compressed`::

    x          [B, 8, T, H, W]      channels 0-2 I-frame, 3-4 motion vectors, 5-7 residual
    per stream [(B T), C_s, H, W]   → 2D ResNet → [(B T), K] → mean over T → [B, K]
    output     Σ_s w_s · scores_s   [B, K]

Training: the paper trains the three networks separately. Here one run trains them together on the
sum of their own cross-entropies — the streams share no parameter, so each receives exactly the
gradient it would alone — and ``streams=("mv",)`` trains (and evaluates) one stream by itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from einops import rearrange, reduce

from vidkit.models.registry import register_model

STREAMS = {"iframe": (slice(0, 3), 3), "mv": (slice(3, 5), 2), "residual": (slice(5, 8), 3)}
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


def _stream(arch: str, in_channels: int, num_classes: int, dropout: float) -> nn.Module:
    """A torchvision 2D ResNet taking ``in_channels``, with dropout before its classifier (after the
    pooling, which has no parameters, so torchvision's ImageNet checkpoints load into the I-frame
    stream under their own names)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown stream architecture {arch!r}; choose from {', '.join(ARCHS)}")
    net = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    if dropout > 0:
        net.avgpool = nn.Sequential(net.avgpool, nn.Dropout(dropout))
    return net


class CoViAR(nn.Module):
    """The three streams (or the subset ``streams``) and their fusion weights."""

    def __init__(
        self,
        *,
        num_classes: int,
        streams: Sequence[str] = ("iframe", "mv", "residual"),
        iframe_arch: str = "resnet50",
        mv_arch: str = "resnet18",
        residual_arch: str = "resnet18",
        fusion_weights: Sequence[float] = (1.0, 1.0, 1.0),
        dropout: float = 0.5,
    ):
        super().__init__()
        unknown = sorted(set(streams) - set(STREAMS))
        if unknown or not streams:
            raise ValueError(f"streams must be a non-empty subset of {', '.join(STREAMS)}; got {list(streams)}")
        if len(fusion_weights) != 3:
            raise ValueError(
                f"fusion_weights: one weight per stream (iframe, mv, residual), got {list(fusion_weights)}"
            )
        archs = {"iframe": iframe_arch, "mv": mv_arch, "residual": residual_arch}
        self.stream_names = tuple(s for s in STREAMS if s in streams)
        self.streams = nn.ModuleDict(
            {s: _stream(archs[s], STREAMS[s][1], num_classes, dropout) for s in self.stream_names}
        )
        weights = dict(zip(STREAMS, map(float, fusion_weights)))
        self.register_buffer("fusion", torch.tensor([weights[s] for s in self.stream_names]), persistent=False)

    def stream_scores(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each stream's TSN scores ``[B, K]`` (the mean of its per-frame logits)."""
        if x.ndim != 5 or x.shape[1] != 8:
            raise ValueError(
                f"CoViAR takes packed compressed clips [B, 8, T, H, W] (I-frame, motion vectors, residual; "
                f"vidkit.data.compressed), got shape {tuple(x.shape)}"
            )
        t = x.shape[2]
        scores = {}
        for name in self.stream_names:
            frames = rearrange(x[:, STREAMS[name][0]], "b c t h w -> (b t) c h w")
            scores[name] = reduce(self.streams[name](frames), "(b t) k -> b k", "mean", t=t)
        return scores

    def fuse(self, scores: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(w * scores[s] for w, s in zip(self.fusion, self.stream_names))

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None, label_smoothing: float = 0.0):
        """Fused scores ``[B, K]``; given ``targets`` (training), also the sum of the streams' own
        cross-entropies: ``(scores, loss)``."""
        scores = self.stream_scores(x)
        fused = self.fuse(scores)
        if targets is None:
            return fused
        loss = sum(F.cross_entropy(s.float(), targets, label_smoothing=label_smoothing) for s in scores.values())
        return fused, loss


@register_model(paper="Wu et al., CVPR 2018 (CoViAR)", input_frames=3, input_size=224, input_kind="compressed")
def coviar(
    *,
    num_classes: int = 400,
    streams: Sequence[str] = ("iframe", "mv", "residual"),
    iframe_arch: str = "resnet50",
    mv_arch: str = "resnet18",
    residual_arch: str = "resnet18",
    fusion_weights: Sequence[float] = (1.0, 1.0, 1.0),
    dropout: float = 0.5,
) -> CoViAR:
    """CoViAR: I-frame ResNet-50 (``iframe_arch``; the paper's is ResNet-152), motion-vector and residual
    ResNet-18s, scores summed with ``fusion_weights``; 3 segments per clip in training, as in the paper."""
    return CoViAR(
        num_classes=num_classes,
        streams=streams,
        iframe_arch=iframe_arch,
        mv_arch=mv_arch,
        residual_arch=residual_arch,
        fusion_weights=fusion_weights,
        dropout=dropout,
    )
