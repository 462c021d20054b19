"""GST: Grouped Spatial-Temporal aggregation (Luo & Yuille, "Grouped Spatial-Temporal Aggregation for
Efficient Action Recognition", ICCV 2019, https://arxiv.org/abs/1909.13130).

In every bottleneck of a 2D ResNet-50 the 3×3 convolution is split in two groups (Sec. 3.2, Fig. 2):
with β=2 half of its input channels go to a 1×3×3 *spatial* convolution producing (α−1)/α of the output
channels, the other half to a 3×3×3 *temporal* convolution producing 1/α; the two outputs are
concatenated and share the block's BN. β=1 feeds all input channels to both. With α=4, β=2 the model is
cheaper than ResNet-50 itself: 21,035,246 parameters with 174 classes (Something-Something-v2).

Checkpoints: the authors' files (https://github.com/chenxuluo/GST-video, ``main.py`` saving
``{"state_dict": DataParallel(TemporalModel).state_dict(), ...}``: ``module.base_model.layer1.0.conv2.weight``
``[48, 32, 1, 3, 3]`` (spatial), ``...Tconv.weight`` ``[16, 32, 3, 3, 3]`` (temporal), ``module.new_fc.weight``)
load as the "GST" layout. A 2D ImageNet ResNet-50 (torchvision's layout, ``weights="imagenet"``) starts the
model as the authors' ``GST.resnet50`` does: every 2D kernel gains a time axis of 1, each ``conv2`` is sliced
to the spatial group's share — its first (α−1)/α output channels and first 1/β input channels — and the
temporal group keeps its fresh initialisation (He-normal, fan-out).

The head is the authors' (chenxuluo/GST-video): each frame's res5 map is pooled over space only
(``GST.py`` ``ResNet.forward``: ``x = x.transpose(1,2).contiguous()``, ``x = x.view((-1,)+x.size()[2:])``,
``x = self.avgpool(x)`` — ``nn.AvgPool2d(7, stride=1)`` per frame), goes through dropout 0.3 (``opts.py``:
``parser.add_argument('--dropout', '--dp', default=0.3, ...)``, which ``main.py`` passes to ``TemporalModel``,
whose ``models.py`` puts it in place of the ResNet's ``fc``: ``nn.Dropout(p=self.dropout)``) and the
classifier ``new_fc`` (``normal_(self.new_fc.weight, 0, std)`` with ``std = 0.001``, ``constant_(self.new_fc.bias,
0)``), and the frames' class scores are averaged over time (``models.py`` ``TemporalModel.forward``:
``base_out = self.new_fc(base_out)``, ``base_out = base_out.view((-1,self.num_segments)+base_out.size()[1:])``,
``output = base_out.mean(dim=1)``) — TSN's average consensus, ``consensus="scores"`` of :class:`ResNet3d`. In
evaluation that equals pooling the features over t h w before one classifier (the classifier is linear); in
training each frame draws its own dropout mask.
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn

from vidkit.models._checkpoints import (
    Rules,
    any_of,
    block_key,
    converter_for,
    register_converters,
    renamer,
    with_model,
)
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


class GSTResNet(ResNet3d):
    """A :class:`ResNet3d` whose bottlenecks split their 3×3 convolution (:class:`GSTConv`), its frames'
    class scores averaged over time, its classifier started N(0, 0.001²) with bias 0 (the authors' head, see
    the module docstring); its own class so that GST's checkpoint layouts find their converters."""

    classifier_std = 0.001  # the authors' new_fc (models.py): normal_(weight, 0, 0.001), constant_(bias, 0)

    def __init__(self, **kwargs):
        super().__init__(consensus="scores", **kwargs)


@register_model(paper="Luo & Yuille, ICCV 2019 (GST)", input_frames=8, input_size=224)
def gst_r50(
    *, num_classes: int = 400, alpha: int = 4, beta: int = 2, dropout: float = 0.3, zero_init_final_bn: bool = True
) -> GSTResNet:
    """GST ResNet-50 (α=4, β=2): every bottleneck's 3×3 conv split into spatial and temporal groups;
    21,035,246 parameters with 174 classes. Each frame is classified (dropout 0.3, the authors' default) and
    the scores averaged over time."""
    split_conv = replace_conv_b(lambda cin, cout, stride: GSTConv(cin, cout, stride=stride, alpha=alpha, beta=beta))
    return GSTResNet(
        num_classes=num_classes, dropout=dropout, zero_init_final_bn=zero_init_final_bn, customize=split_conv
    )


# -- checkpoints ------------------------------------------------------------------------------------
# The authors' GST.py Bottleneck: conv1/bn1, conv2 (spatial) + Tconv (temporal)/bn2, conv3/bn3,
# downsample.{0,1}; models.py wraps it as base_model and classifies with new_fc (base_model.fc when
# trained without dropout).
_GST_PARTS = {
    "conv1": "conv_a",
    "bn1": "bn_a",
    "conv2": "conv_b.spatial",
    "Tconv": "conv_b.temporal",
    "bn2": "bn_b",
    "conv3": "conv_c",
    "bn3": "bn_c",
    "downsample.0": "shortcut.conv",
    "downsample.1": "shortcut.bn",
}
_GST_RULES: Rules = [
    (re.compile(r"base_model\.conv1\.weight"), lambda m: "backbone.stem.conv.weight"),
    (re.compile(r"base_model\.bn1\.(\w+)"), lambda m: f"backbone.stem.bn.{m[1]}"),
    (
        re.compile(r"base_model\.layer([1-4])\.(\d+)\.(" + any_of(_GST_PARTS) + r")\.(\w+)"),
        lambda m: block_key(int(m[1]) + 1, "0", m[2], f"{_GST_PARTS[m[3]]}.{m[4]}", ("backbone",)),
    ),
    (re.compile(r"(?:new_fc|base_model\.fc)\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
]


@with_model
def _from_2d(state: dict[str, torch.Tensor], source: str, model: GSTResNet) -> dict[str, torch.Tensor]:
    """A 2D ResNet-50 (torchvision's names) into GST, as the authors' ``GST.resnet50`` loads ImageNet: each
    ``conv2`` sliced to ``[:out·(α−1)/α, :in/β]`` for the spatial group, the temporal group as initialised."""
    state = converter_for(model, "torchvision", after=GSTResNet)(state, source)
    own = model.state_dict()
    for name, module in model.named_modules():
        if isinstance(module, GSTConv) and f"{name}.weight" in state:
            kernel = state.pop(f"{name}.weight")  # [O, I, 3, 3]
            out, inp = module.spatial.weight.shape[:2]
            state[f"{name}.spatial.weight"] = kernel[:out, :inp].unsqueeze(2)
            state[f"{name}.temporal.weight"] = own[f"{name}.temporal.weight"]
    return state


register_converters(
    GSTResNet, {"GST": renamer(_GST_RULES, "GST"), "torchvision": _from_2d}, description="GST models (gst_r50)"
)
