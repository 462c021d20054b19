"""FAST 3D convolutions (Stergiou & Poppe, "Spatio-Temporal FAST 3D Convolutions for Human Action
Recognition", ICMLA 2019, https://arxiv.org/abs/1909.13474).

A t×k×k 3D convolution is replaced by three cheaper 2D ones over different planes of the volume: a
1×3×3 *spatial* convolution, then a 3×1×3 (time × width: horizontal motion) and a 3×3×1 (time × height:
vertical motion) convolution. In the sequential form (the paper's FAST) they follow each other; in the
parallel form the two motion convolutions both read the spatial output and their responses are summed.
``fast3d_r50`` is a ResNet-50 whose every bottleneck's 3×3(×3) convolution is a FAST block.

What the paper does not pin down, and what vidkit chose (so results may differ from the authors'):

- the channel width between the three convolutions: kept at the bottleneck's inner width (so a FAST
  block has as many weights as the 3×3×3 convolution it replaces: 3 × 9·C² = 27·C²);
- normalisation between them: BN + ReLU after the spatial and after the first motion convolution (the
  block's own BN and ReLU follow the last one), as R(2+1)D does between its factors;
- the parallel form's merge: a sum of the two motion responses;
- the trunk around the blocks: the C2D ResNet-50 stem (1×7×7) and no temporal pooling, so every layer
  that sees time is a FAST block;
- how a 2D ImageNet ResNet-50 starts it (the paper trains its networks on the action datasets and names no
  2D initialisation; no code of the authors' is published): the spatial 1×3×3 convolution takes the 2D
  3×3 kernel and the BN that followed it in the 2D network; the two motion convolutions start as the
  identity (their centre tap, halved in the parallel form so the sum is the identity) and the BNs after
  them as fresh ones — so the network starts as its 2D self applied to every frame (as I3D's "centre"
  inflation does), up to BN's ε, and learns motion from there.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from vidkit.models._checkpoints import converter_for, register_converters, with_model
from vidkit.models.registry import register_model
from vidkit.models.resnet import ResNet3d, replace_conv_b

FORMS = ("sequential", "parallel")


class FAST3d(nn.Module):
    """1×3×3 spatial → 3×1×3 (horizontal motion) → 3×3×1 (vertical motion), or the parallel form."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, form: str = "sequential"):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"FAST 3D form must be one of {FORMS}, not {form!r}")
        self.form = form
        self.spatial = nn.Conv3d(
            in_channels, out_channels, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False
        )
        self.bn_spatial = nn.BatchNorm3d(out_channels)
        self.horizontal = nn.Conv3d(out_channels, out_channels, (3, 1, 3), padding=(1, 0, 1), bias=False)
        self.vertical = nn.Conv3d(out_channels, out_channels, (3, 3, 1), padding=(1, 1, 0), bias=False)
        self.relu = nn.ReLU(inplace=True)
        if form == "sequential":
            self.bn_horizontal = nn.BatchNorm3d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn_spatial(self.spatial(x)))
        if self.form == "parallel":
            return self.horizontal(x) + self.vertical(x)
        return self.vertical(self.relu(self.bn_horizontal(self.horizontal(x))))


class FAST3dResNet(ResNet3d):
    """A :class:`ResNet3d` with :class:`FAST3d` blocks; its own class so that a 2D checkpoint finds the
    converter that starts FAST blocks from 2D kernels."""


@register_model(paper="Stergiou & Poppe, ICMLA 2019 (FAST 3D)", input_frames=8, input_size=224)
def fast3d_r50(
    *, num_classes: int = 400, form: str = "sequential", dropout: float = 0.5, zero_init_final_bn: bool = True
) -> FAST3dResNet:
    """ResNet-50 with a FAST 3D block (``form="sequential"`` or ``"parallel"``) in place of every bottleneck's
    3×3 convolution."""
    use_fast = replace_conv_b(lambda cin, cout, stride: FAST3d(cin, cout, stride=stride, form=form))
    return FAST3dResNet(
        num_classes=num_classes, dropout=dropout, zero_init_final_bn=zero_init_final_bn, customize=use_fast
    )


def _identity_kernel(weight: torch.Tensor, scale: float) -> torch.Tensor:
    """A ``[C, C, *k]`` kernel that passes every channel through at its centre tap, times ``scale``."""
    out = torch.zeros_like(weight)
    centre = tuple(k // 2 for k in weight.shape[2:])
    channels = torch.arange(weight.shape[0])
    out[(channels, channels, *centre)] = scale
    return out


@with_model
def _from_2d(state: dict[str, torch.Tensor], source: str, model: FAST3dResNet) -> dict[str, torch.Tensor]:
    """A 2D ResNet-50 (torchvision's names) into FAST blocks: the 2D kernel and its BN become the spatial
    convolution and ``bn_spatial``; the motion convolutions start as the identity, the later BNs fresh."""
    state = converter_for(model, "torchvision", after=FAST3dResNet)(state, source)
    own = model.state_dict()
    for name, module in model.named_modules():
        if not isinstance(module, FAST3d) or f"{name}.weight" not in state:
            continue
        block = name.rpartition(".")[0]
        state[f"{name}.spatial.weight"] = state.pop(f"{name}.weight").unsqueeze(2)
        for key in [k for k in own if k.startswith(f"{block}.bn_b.")]:
            state[f"{name}.bn_spatial.{key.rpartition('.')[2]}"] = state.pop(key, own[key])
            state[key] = own[key]
        scale = 0.5 if module.form == "parallel" else 1.0
        for part in ("horizontal", "vertical"):
            state[f"{name}.{part}.weight"] = _identity_kernel(own[f"{name}.{part}.weight"], scale)
        state.update({k: v for k, v in own.items() if k.startswith(f"{name}.bn_horizontal.")})
    return state


register_converters(FAST3dResNet, {"torchvision": _from_2d}, description="FAST 3D models (fast3d_r50)")
