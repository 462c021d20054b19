"""Starting a model's 2D parts from ImageNet classifiers (private): reading a torchvision state dict (a file
or a loaded dict), naming the ResNet it holds, and fitting it to one 2D network of a model — every tensor
of the network found with its shape, the ImageNet classifier left out — with each failure one
:class:`~vidkit.errors.CheckpointError` line. The models that start so (CoViAR, AdaFrame, attention
clusters) call these from their ``load_imagenet``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import torch
import torch.nn as nn

from vidkit.errors import CheckpointError
from vidkit.models._checkpoints import examples, read_checkpoint, unwrap_checkpoint

# torchvision's ResNets by (block counts of layer1-4, bottleneck or basic block)
_RESNETS = {
    ((2, 2, 2, 2), False): "resnet18",
    ((3, 4, 6, 3), False): "resnet34",
    ((3, 4, 6, 3), True): "resnet50",
    ((3, 4, 23, 3), True): "resnet101",
    ((3, 8, 36, 3), True): "resnet152",
}
_CLASSIFIER = re.compile(r"(fc|classifier(\.\d+)?|head(\.\w+)?)\.(weight|bias)")  # torchvision's last layers


def read_2d(
    weights: str | os.PathLike | Mapping[str, Any], source: str | None = None
) -> tuple[dict[str, torch.Tensor], str]:
    """``(state dict, source)`` of a 2D ImageNet checkpoint given as a path or a loaded (state) dict, in
    torchvision's names (wrappers' prefixes dropped); ``source`` names a loaded one in messages."""
    if not isinstance(weights, Mapping):
        source = os.fspath(weights)
    source = source or "<state dict>"
    checkpoint = weights if isinstance(weights, Mapping) else read_checkpoint(source)
    _, state, _ = unwrap_checkpoint(checkpoint, source)
    return state, source


def resnet_name(state: Mapping[str, torch.Tensor]) -> str | None:
    """Which torchvision ResNet ``state`` holds ("resnet50"), from its block counts; None if none."""
    blocks = tuple(len({k.split(".")[1] for k in state if k.startswith(f"layer{i}.")}) for i in range(1, 5))
    return _RESNETS.get((blocks, any(k.endswith(".conv3.weight") for k in state)))


def fit_2d(
    net: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str,
    what: str,
    *,
    keep: Iterable[str] = (),
    adapt: Mapping[str, Any] | None = None,
    held: str | None = None,
) -> dict[str, torch.Tensor]:
    """The state dict that starts ``net`` (``what`` in messages: "CoViAR's mv stream, a resnet18") from
    ``state``: every tensor of ``net`` taken from ``state`` under its own name, but those in ``keep``
    (which keep ``net``'s own values) and those in ``adapt`` (``{name: fn}``: ``fn(imagenet tensor)`` gives
    the value); the ImageNet classifier (``fc`` / ``classifier``) is not used. A tensor missing, one of
    another shape, or a tensor left over that is not the classifier is one error line, naming the network
    ``state`` holds (``held``; by default told from torchvision's names)."""
    own = net.state_dict()
    keep, adapt = set(keep), dict(adapt or {})
    wanted = [k for k in own if k not in keep and not k.endswith("num_batches_tracked")]
    missing = [k for k in wanted if k not in state]
    unused = [k for k in state if k not in own and not _CLASSIFIER.fullmatch(k)]
    out = {k: v.clone() for k, v in own.items()}
    wrong = []
    for k in wanted:
        if k not in state:
            continue
        value = adapt[k](state[k]) if k in adapt else state[k]
        if value.shape != own[k].shape:
            wrong.append(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}")
        else:
            out[k] = value.to(own[k].dtype)
    if missing or unused or wrong:
        held = held or resnet_name(state)
        parts = [f"{len(missing)} of its tensors missing (e.g. {examples(missing)})"] if missing else []
        if wrong:
            parts.append(f"{len(wrong)} of another shape (checkpoint vs model, e.g. {examples(wrong)})")
        if unused:
            parts.append(f"{len(unused)} tensors it does not have (e.g. {examples(unused)})")
        holds = f"a torchvision {held}" if held else "this checkpoint"
        raise CheckpointError(source, f"{holds} does not fit {what}: {'; '.join(parts)}")
    return out
