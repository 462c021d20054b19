"""The 18-layer 3D ResNets of "A Closer Look at Spatiotemporal Convolutions for Action Recognition"
(Tran et al., CVPR 2018): R3D (full 3D convolutions), MC3 (3D in the early stages only) and R(2+1)D
(each 3D convolution factored into a 2D spatial and a 1D temporal one). Built from torchvision's
implementation; they already follow the model contract (``[B, 3, T, H, W]`` in, logits out).
"""

from __future__ import annotations

from torchvision.models import video as tv

from vidkit.models.registry import register_model

_PAPER = "Tran et al., CVPR 2018"
_CARD = dict(input_frames=16, input_size=112, paper=_PAPER)  # 16-frame 112² clips, as torchvision quotes their GFLOPs


@register_model(**_CARD)
def r3d_18(*, num_classes: int = 400):
    """R3D-18: 3×3×3 convolutions throughout (Tran et al. 2018, Table 1)."""
    return tv.r3d_18(weights=None, num_classes=num_classes)


@register_model(**_CARD)
def mc3_18(*, num_classes: int = 400):
    """MC3-18: 3D convolutions in conv1–conv2, 2D after (Tran et al. 2018, Sec. 3.2)."""
    return tv.mc3_18(weights=None, num_classes=num_classes)


@register_model(**_CARD)
def r2plus1d_18(*, num_classes: int = 400):
    """R(2+1)D-18: each t×d×d convolution factored into 1×d×d then t×1×1 (Tran et al. 2018, Sec. 3.5)."""
    return tv.r2plus1d_18(weights=None, num_classes=num_classes)
