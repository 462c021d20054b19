"""The 18-layer 3D ResNets of "A Closer Look at Spatiotemporal Convolutions for Action Recognition"
(Tran et al., CVPR 2018): R3D (full 3D convolutions), MC3 (3D in the early stages only) and R(2+1)D
(each 3D convolution factored into a 2D spatial and a 1D temporal one). torchvision's implementation,
built as its ``r3d_18``/``mc3_18``/``r2plus1d_18`` build it (same modules, names and initialisation), with
the model interface every vidkit model has: ``forward_features`` (the conv5 map), ``forward_head``,
``num_features``, ``reset_classifier``. They follow the model contract (``[B, 3, T, H, W]`` in, logits out).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torchvision.models.video.resnet import (
    BasicBlock,
    BasicStem,
    Conv2Plus1D,
    Conv3DNoTemporal,
    Conv3DSimple,
    R2Plus1dStem,
    VideoResNet,
)

from vidkit.models.registry import register_model

_PAPER = "Tran et al., CVPR 2018"
_CARD = dict(input_frames=16, input_size=112, paper=_PAPER)  # 16-frame 112² clips, as torchvision quotes their GFLOPs


class TorchvisionVideoResNet(VideoResNet):
    """torchvision's ``VideoResNet`` (``stem``, ``layer1`` … ``layer4``, ``avgpool``, ``fc``) with vidkit's model
    interface; its state dict is torchvision's, so torchvision's checkpoints load as they are."""

    @property
    def num_features(self) -> int:
        return self.fc.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` → the conv5 (``layer4``) feature map ``[B, 512, T', H/16, W/16]``: T' = T/8 in
        R3D and R(2+1)D, T in MC3 (its strided stages are 2D)."""
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Average pool over t h w, then the linear classifier (``pre_logits``: stop before it)."""
        x = self.avgpool(features).flatten(1)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one for ``num_classes``, initialised as torchvision does."""
        self.fc = nn.Linear(self.fc.in_features, num_classes)
        nn.init.normal_(self.fc.weight, 0, 0.01)
        nn.init.constant_(self.fc.bias, 0)


@register_model(**_CARD)
def r3d_18(*, num_classes: int = 400) -> TorchvisionVideoResNet:
    """R3D-18: 3×3×3 convolutions throughout (Tran et al. 2018, Table 1)."""
    return TorchvisionVideoResNet(BasicBlock, [Conv3DSimple] * 4, [2, 2, 2, 2], BasicStem, num_classes=num_classes)


@register_model(**_CARD)
def mc3_18(*, num_classes: int = 400) -> TorchvisionVideoResNet:
    """MC3-18: 3D convolutions in conv1–conv2, 2D after (Tran et al. 2018, Sec. 3.2)."""
    return TorchvisionVideoResNet(
        BasicBlock, [Conv3DSimple] + [Conv3DNoTemporal] * 3, [2, 2, 2, 2], BasicStem, num_classes=num_classes
    )


@register_model(**_CARD)
def r2plus1d_18(*, num_classes: int = 400) -> TorchvisionVideoResNet:
    """R(2+1)D-18: each t×d×d convolution factored into 1×d×d then t×1×1 (Tran et al. 2018, Sec. 3.5)."""
    return TorchvisionVideoResNet(BasicBlock, [Conv2Plus1D] * 4, [2, 2, 2, 2], R2Plus1dStem, num_classes=num_classes)
