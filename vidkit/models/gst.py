"""GST: Grouped Spatial-Temporal aggregation (Luo & Yuille, "Grouped Spatial-Temporal Aggregation for
Efficient Action Recognition", ICCV 2019, https://arxiv.org/abs/1909.10130).

In every bottleneck of a 2D ResNet-50 the 3×3 convolution is split in two groups (Sec. 3.2, Fig. 2):
with β=2 half of its input channels go to a 1×3×3 *spatial* convolution producing (α−1)/α of the output
channels, the other half to a 3×3×3 *temporal* convolution producing 1/α; the two outputs are
concatenated and share the block's BN. β=1 feeds all input channels to both. With α=4, β=2 the model is
cheaper than ResNet-50 itself: 21,035,246 parameters with 174 classes (Something-Something-v2).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from vidkit.models.registry import register_model
from vidkit.models.resnet import ResNet3d, replace_conv_b


class GSTConv(nn.Module):
    """The split 3×3 convolution: ``spatial`` (1×3×3, (α−1)/α of the outputs) ‖ ``temporal`` (3×3×3, 1/α)."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, alpha: int = 4, beta: int = 2):
        super().__init__()
        if beta not in (1, 2):
            raise ValueError(f"GST's beta is 1 (both groups see every channel) or 2 (half each), not {beta}")
        if out_channels % alpha:
            raise ValueError(f"GST's alpha={alpha} must divide the output channels ({out_channels})")
        self.beta = beta
        self.split = in_channels // beta if beta == 2 else in_channels
        temporal_out = out_channels // alpha
        self.spatial = nn.Conv3d(
            self.split,
            out_channels - temporal_out,
            (1, 3, 3),
            stride=(1, stride, stride),
            padding=(0, 1, 1),
            bias=False,
        )
        self.temporal = nn.Conv3d(
            in_channels - self.split if beta == 2 else in_channels,
            temporal_out,
            (3, 3, 3),
            stride=(1, stride, stride),
            padding=(1, 1, 1),
            bias=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.beta == 2:
            spatial_in, temporal_in = x[:, : self.split], x[:, self.split :]
        else:
            spatial_in = temporal_in = x
        return torch.cat([self.spatial(spatial_in), self.temporal(temporal_in)], dim=1)


@register_model(paper="Luo & Yuille, ICCV 2019 (GST)", input_frames=8, input_size=224)
def gst_r50(
    *, num_classes: int = 400, alpha: int = 4, beta: int = 2, dropout: float = 0.5, zero_init_final_bn: bool = True
) -> ResNet3d:
    """GST ResNet-50 (α=4, β=2): every bottleneck's 3×3 conv split into spatial and temporal groups;
    21,035,246 parameters with 174 classes."""
    split_conv = replace_conv_b(lambda cin, cout, stride: GSTConv(cin, cout, stride=stride, alpha=alpha, beta=beta))
    return ResNet3d(
        num_classes=num_classes, dropout=dropout, zero_init_final_bn=zero_init_final_bn, customize=split_conv
    )
