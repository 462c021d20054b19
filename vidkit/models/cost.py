"""CoST: Collaborative SpatioTemporal feature learning (Li, Zhong, Xie, Pu, "Collaborative Spatiotemporal
Feature Learning for Video Action Recognition", CVPR 2019, https://arxiv.org/abs/1903.01197).

One 3×3 kernel, three views of the volume (Sec. 3.1, Fig. 2): applied to the H-W planes it sees
appearance, to the T-W and T-H planes motion. Sharing the kernel makes the views learn together; the
three responses are summed with per-channel coefficients (Sec. 3.2):

- CoST(a): the coefficients ``[3, C]`` are learnt directly (softmax over the views);
- CoST(b): they are computed from the input: each view's response is global-max-pooled to ``[C]``,
  passed through a fully connected layer shared by the views (C→C), mixed across the views by a 3→3
  layer, and normalised by a softmax over the views — so they adapt to each clip.

The operator replaces conv_b of a C2D ResNet-50 in every second bottleneck (blocks 2, 4, …, 16, i.e.
1, 2, 3 and 2 blocks of res2…res5), the I3D-style "every other block" placement. That placement gives the
parameter counts of ``cost_a_r50`` (24,333,968) and ``cost_r50`` (25,085,464) with 400 classes; the
authors' released CoST(b) layer has exactly these weights (a bias-free C×C FC and a bias-free 3×3 one).

The coefficients say how much each channel relies on appearance and on motion (the paper's Sec. 5
analysis): :meth:`CoST.coefficients` returns them. :meth:`CoST.pin` fixes them to one view (with the
H-W view the layer is exactly the 2D convolution applied to every frame).

Checkpoints: the authors' files (https://github.com/hikvision-research/cost, an mmaction2 ``ResNet3dCoST``:
``backbone.layer1.1.conv2.conv.weight`` ``[64, 64, 1, 3, 3]`` with ``conv2.conv.alpha`` ``[3, 64]`` (CoSTa) or
``conv2.conv.fc1.weight`` ``[64, 64]`` and ``conv2.conv.fc2.weight`` ``[3, 3]`` (CoSTb), ``cls_head.fc_cls``) load
as the "CoST" layout. A 2D ImageNet ResNet-50 (torchvision's layout, ``weights="imagenet"``) starts the model
as the authors' config does (``pretrained2d=True``, mmaction2's inflation of a ``[C, C, 1, 3, 3]`` kernel): the
2D 3×3 kernel is the shared kernel itself, undivided, so each layer's H-W view is the 2D convolution on every
frame; CoST(a)'s coefficients start at the authors' logits (0.7, −0.7, −0.7) — H-W 0.67, T-W and T-H 0.17 —
(or at the ``hw_lead`` the model was built with, when not 0), CoST(b)'s layers as initialised (N(0, 0.01), as
the authors' ``normal_init``).
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, reduce

from vidkit.models._checkpoints import Rules, any_of, block_key, converter_for, register_converters, rename, with_model
from vidkit.models.registry import register_model
from vidkit.models.resnet import ResNet3d, replace_conv_b

VIEWS = ("hw", "tw", "th")
AUTHORS_HW_LEAD = 0.7  # CoSTa.init_weights: alpha[0] = 0.7, alpha[1:] = -0.7


class CoST(nn.Module):
    """The CoST operator over ``[B, C, T, H, W]`` with one shared ``weight [C_out, C_in, 3, 3]``.

    Args:
        adaptive: False for CoST(a) (learnt coefficients), True for CoST(b) (computed from the views).
        stride: spatial stride (H and W), as the conv it replaces.
        hw_lead: CoST(a) only: the coefficients start as the softmax of logits ``(hw_lead, -hw_lead, -hw_lead)``
            (H-W, T-W, T-H); 0 starts the three views equal.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        stride: int = 1,
        adaptive: bool = True,
        kernel: int = 3,
        hw_lead: float = 0.7,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.stride, self.adaptive = in_channels, out_channels, stride, adaptive
        self.hw_lead = hw_lead
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel, kernel))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        if adaptive:
            self.fc = nn.Linear(out_channels, out_channels, bias=False)  # shared by the three views
            self.view_mix = nn.Linear(len(VIEWS), len(VIEWS), bias=False)  # mixes the views, per channel
        else:
            # Logits of the coefficients; the authors' code starts them at (0.7, -0.7, -0.7): H-W leads.
            self.alpha = nn.Parameter(_alpha_logits(hw_lead, out_channels))
        self.pinned: int | None = None

    def views(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The shared kernel's responses on the H-W, T-W and T-H planes, each ``[B, C_out, T, H', W']``."""
        p = self.weight.shape[-1] // 2
        stride = (1, self.stride, self.stride)
        return [
            F.conv3d(x, self.weight.unsqueeze(2), stride=stride, padding=(0, p, p)),
            F.conv3d(x, self.weight.unsqueeze(3), stride=stride, padding=(p, 0, p)),
            F.conv3d(x, self.weight.unsqueeze(4), stride=stride, padding=(p, p, 0)),
        ]

    def coefficients(self, views: list[torch.Tensor]) -> torch.Tensor:
        """The per-channel weights of the views ``[B, 3, C_out]`` (softmax over the 3 views)."""
        if not self.adaptive:
            return self.alpha.softmax(dim=0).expand(views[0].shape[0], -1, -1)
        pooled = torch.stack([reduce(v, "b c t h w -> b c", "max") for v in views], dim=1)  # [B, 3, C]
        mixed = self.view_mix(rearrange(self.fc(pooled), "b v c -> b c v"))
        return rearrange(mixed, "b c v -> b v c").softmax(dim=1)

    def pin(self, view: str | None) -> None:
        """Use only one view ("hw", "tw" or "th") from now on, or ``None`` to return to the coefficients."""
        self.pinned = None if view is None else VIEWS.index(view)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = self.views(x)
        if self.pinned is not None:
            return views[self.pinned]
        alpha = rearrange(self.coefficients(views), "b v c -> v b c 1 1 1")
        return alpha[0] * views[0] + alpha[1] * views[1] + alpha[2] * views[2]

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, stride={self.stride}, "
            f"{'CoST(b): adaptive' if self.adaptive else 'CoST(a): learnt'} coefficients"
        )


def _alpha_logits(hw_lead: float, channels: int) -> torch.Tensor:
    """CoST(a)'s coefficient logits ``[3, C]``: ``(hw_lead, -hw_lead, -hw_lead)`` for every channel."""
    return torch.tensor([hw_lead, -hw_lead, -hw_lead]).repeat_interleave(channels).view(3, channels)


class CoSTResNet(ResNet3d):
    """A :class:`ResNet3d` with :class:`CoST` layers; its own class so that CoST's checkpoint layouts find
    their converters."""


def _cost_resnet50(
    num_classes: int, adaptive: bool, dropout: float, zero_init_final_bn: bool, hw_lead: float = 0.0
) -> CoSTResNet:
    # every second bottleneck: 2, 4, ..., 16
    use_cost = replace_conv_b(
        lambda cin, cout, stride: CoST(cin, cout, stride=stride, adaptive=adaptive, hw_lead=hw_lead), every=2
    )
    return CoSTResNet(
        num_classes=num_classes,
        temporal_pool=2,
        dropout=dropout,
        zero_init_final_bn=zero_init_final_bn,
        customize=use_cost,
    )


_PAPER = "Li et al., CVPR 2019 (CoST)"


@register_model(paper=_PAPER, input_frames=8, input_size=224)
def cost_r50(*, num_classes: int = 400, dropout: float = 0.5, zero_init_final_bn: bool = True) -> CoSTResNet:
    """CoST(b) ResNet-50 (coefficients computed from each clip): 25,085,464 parameters with 400 classes."""
    return _cost_resnet50(num_classes, True, dropout, zero_init_final_bn)


@register_model(paper=_PAPER, input_frames=8, input_size=224)
def cost_a_r50(
    *, num_classes: int = 400, dropout: float = 0.5, zero_init_final_bn: bool = True, hw_lead: float = 0.0
) -> CoSTResNet:
    """CoST(a) ResNet-50 (coefficients learnt per channel): 24,333,968 parameters with 400 classes.

    ``hw_lead`` sets where the coefficients start (see :class:`CoST`). The default, 0, starts the three
    views equal, for training from scratch; the authors' 0.7 (H-W 0.67, T-W and T-H 0.17 each) keeps a
    layer close to the 2D convolution whose ImageNet weights it inherits: pass it when starting from
    2D weights. The start does not change the model zoo's top-1 (docs/model_zoo.md), but in a short
    from-scratch run the coefficients end near where they start (Adam moves a parameter by about the
    learning rate per step, and the zoo's 600 cosine-decayed steps at 0.002 add up to 0.6), so they say
    little about appearance against motion (the paper's Sec. 5) unless the views start equal.
    """
    return _cost_resnet50(num_classes, False, dropout, zero_init_final_bn, hw_lead)


# -- checkpoints ------------------------------------------------------------------------------------
# The authors' Bottleneck3dCoST (mmaction2 ConvModules): convK.conv / convK.bn, downsample.conv / .bn; a CoST
# layer is conv2.conv, with alpha (CoSTa) or fc1 / fc2 (CoSTb) and a [C, C, 1, 3, 3] kernel.
_COST_PARTS = {
    **{f"conv{i}.conv": f"conv_{x}" for i, x in zip("123", "abc")},
    **{f"conv{i}.bn": f"bn_{x}" for i, x in zip("123", "abc")},
    "conv2.conv.fc1": "conv_b.fc",
    "conv2.conv.fc2": "conv_b.view_mix",
    "downsample.conv": "shortcut.conv",
    "downsample.bn": "shortcut.bn",
}
_COST_RULES: Rules = [
    (re.compile(r"backbone\.conv1\.conv\.weight"), lambda m: "backbone.stem.conv.weight"),
    (re.compile(r"backbone\.conv1\.bn\.(\w+)"), lambda m: f"backbone.stem.bn.{m[1]}"),
    (
        re.compile(r"backbone\.layer([1-4])\.(\d+)\.(" + any_of(_COST_PARTS) + r")\.(\w+)"),
        lambda m: block_key(int(m[1]) + 1, "0", m[2], f"{_COST_PARTS[m[3]]}.{m[4]}", ("backbone",)),
    ),
    (re.compile(r"cls_head\.fc_cls\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
]


def _from_authors(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """The CoST authors' ResNet3dCoST: renamed, and each CoST layer's ``[C, C, 1, 3, 3]`` kernel as the
    ``[C, C, 3, 3]`` one it is (their ``conv3v`` squeezes the time axis before using it)."""
    state = rename(state, _COST_RULES, source, "CoST")
    layers = {k.rpartition(".conv_b.")[0] for k in state if re.search(r"\.conv_b\.(alpha|fc\.weight)$", k)}
    for layer in layers:
        kernel = state.get(f"{layer}.conv_b.weight")
        if kernel is not None and kernel.ndim == 5 and kernel.shape[2] == 1:
            state[f"{layer}.conv_b.weight"] = kernel.squeeze(2)
    return state


@with_model
def _from_2d(state: dict[str, torch.Tensor], source: str, model: CoSTResNet) -> dict[str, torch.Tensor]:
    """A 2D ResNet-50 (torchvision's names) into CoST: the 2D 3×3 kernel is each CoST layer's shared kernel
    as it is; CoST(a)'s coefficients start with the H-W view leading, CoST(b)'s layers as initialised."""
    state = converter_for(model, "torchvision", after=CoSTResNet)(state, source)
    own = model.state_dict()
    for name, module in model.named_modules():
        if not isinstance(module, CoST):
            continue
        if module.adaptive:
            for part in ("fc.weight", "view_mix.weight"):
                state[f"{name}.{part}"] = own[f"{name}.{part}"]
        else:
            state[f"{name}.alpha"] = _alpha_logits(module.hw_lead or AUTHORS_HW_LEAD, module.out_channels)
    return state


register_converters(
    CoSTResNet,
    {"CoST": _from_authors, "torchvision": _from_2d},
    description="CoST models (cost_r50, cost_a_r50)",
)
