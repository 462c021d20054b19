"""AdaFrame's ImageNet start (private; :meth:`vidkit.models.adaframe.AdaFrame.load_imagenet` and the
torchvision converter AdaFrame registers call it).

The paper's networks come pretrained on ImageNet (Wu et al., CVPR 2019: the ResNet-101 that looks at
the chosen frames, then fine-tuned on the target set; the MobileNetV2 of the global memory). Each
starts from a torchvision checkpoint of its architecture, its ImageNet classifier unused (both are
feature extractors here); the LSTM, its heads and the projections keep their fresh initialisation.

A snippet of S frames stacked on channels (``snippet`` > 1, the paper's footnote 1) feeds the first
convolution 3·S channels: it starts from the RGB kernel repeated over the S frames and divided by S,
so that a snippet of one still frame gives exactly the 2D network's features (I3D's inflation, along
channels instead of time).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from vidkit.errors import CheckpointError
from vidkit.models._checkpoints import with_model
from vidkit.models._imagenet import fit_2d, read_2d

PARTS = ("backbone", "memory")


def imagenet_state(
    model: Any, weights: str | os.PathLike | Mapping[str, Any], source: str | None = None
) -> dict[str, torch.Tensor]:
    """``model``'s state dict with its 2D networks started from ``weights``: one file or state dict for every
    network (when they share an architecture), or ``{"backbone": path_or_state, "memory": path_or_state}``
    ("memory" is ignored by a model without a network of its own for the memory)."""
    nets = {"backbone": (model.backbone, model.backbone_arch)}
    if getattr(model, "memory_net", None) is not None:
        nets["memory"] = (model.memory_net, model.memory_arch)
    per_part = isinstance(weights, Mapping) and bool(weights) and set(weights) <= set(PARTS)
    if per_part:
        lacking = [p for p in nets if p not in weights]
        if lacking:
            raise CheckpointError(
                source or "<ImageNet weights>",
                f"no checkpoint for AdaFrame's {', '.join(lacking)} (it has {', '.join(nets)})",
            )
    out = model.state_dict()
    prefixes = {"backbone": "backbone.", "memory": "memory_net."}
    for part, (net, arch) in nets.items():
        state, where = read_2d(weights[part] if per_part else weights, source)
        first = next(f"{n}.weight" for n, m in net.named_modules() if isinstance(m, nn.Conv2d))
        adapt = {}
        if part == "backbone" and model.snippet > 1:
            adapt[first] = lambda w: _stacked(w, model.snippet)
        try:
            start = fit_2d(net, state, where, f"AdaFrame's {part} (a {arch})", adapt=adapt)
        except CheckpointError as e:
            if per_part or len(nets) == 1:
                raise
            hint = "; give one per network: model.load_imagenet({'backbone': ..., 'memory': ...})"
            raise CheckpointError(e.path, e.reason + hint) from None
        out.update({prefixes[part] + k: v for k, v in start.items()})
    return out


@with_model
def from_torchvision(state: dict[str, torch.Tensor], source: str, model: Any) -> dict[str, torch.Tensor]:
    """The converter AdaFrame registers for torchvision's layout (:func:`imagenet_state` on one checkpoint)."""
    return imagenet_state(model, state, source)


def _stacked(weight: torch.Tensor, snippet: int) -> torch.Tensor:
    """An RGB kernel ``[O, 3, kh, kw]`` for ``snippet`` frames stacked frame-major on channels
    (``b (s c) h w``): repeated over the frames and divided by their number."""
    return weight.repeat(1, snippet, 1, 1) / snippet
