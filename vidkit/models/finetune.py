"""Starting a model for fine-tuning on another label set, and the facts about its parameters that freezing
and layer-wise learning-rate decay need.

    start = build_finetune("slowfast_r50", num_classes=9, weights="kinetics400")
    start.describe()                          # 'from 400 to 9 classes'
    classifier_parameter_names(start.model)   # ['head.proj.weight', 'head.proj.bias']
    parameter_stages(start.model)["slow.res3.block1.conv_a.weight"]   # 2: res3

Everything but the classifier is loaded strictly, as :func:`vidkit.models.build` loads it; the classifier
is the model's own ``reset_classifier``'s, freshly initialised, when the checkpoint's has another number of
classes (timm's ``reset_classifier``; PySlowFast and pytorchvideo leave this step to their users).

Layer-wise learning-rate decay (Clark et al., "ELECTRA", ICLR 2020, Sec. A; BEiT's fine-tuning) gives a
stage ``s`` of ``S`` the rate ``lr · decay^(S - s)``: :func:`parameter_stages` says which of the six
:data:`STAGE_NAMES` each parameter is in, for the models built of a stem, res2–res5 and a classifier.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from vidkit.errors import CheckpointError, ConfigError
from vidkit.models.registry import build, resolve
from vidkit.models.weights import checkpoint_build_options, classifier_classes, load_weights, read_checkpoint

__all__ = [
    "STAGE_NAMES",
    "FineTuneStart",
    "build_finetune",
    "classifier_parameter_names",
    "fetch_weights",
    "parameter_stages",
]

STAGE_NAMES = ("stem", "res2", "res3", "res4", "res5", "head")
# A parameter's stage is told by the first part of its name that names one: vidkit's ResNets (backbone.res3,
# SlowFast's slow.res3, fast.res3 and lateral.res3 alike) and torchvision's video ResNets (layer2 = res3).
_STAGE_OF_PART = {
    "stem": 0,
    **{f"res{i}": i - 1 for i in range(2, 6)},
    **{f"layer{i}": i for i in range(1, 5)},
}


@dataclasses.dataclass(frozen=True)
class FineTuneStart:
    """A model ready to fine-tune: ``weights_classes`` is how many classes the checkpoint's classifier had
    (None: no weights, or no classifier recognised in them), ``num_classes`` how many the model has now."""

    model: nn.Module
    weights_classes: int | None
    num_classes: int

    @property
    def reset(self) -> bool:
        """Whether the checkpoint's classifier was replaced by a fresh one."""
        return self.weights_classes is not None and self.weights_classes != self.num_classes

    def describe(self) -> str | None:
        """``'from 400 to 9 classes'`` when the classifier was replaced; None when nothing was reset."""
        return f"from {self.weights_classes} to {self.num_classes} classes" if self.reset else None


def build_finetune(
    name: str, *, num_classes: int, weights: str | os.PathLike | Mapping[str, Any] | None, **overrides
) -> FineTuneStart:
    """Build ``name`` with ``num_classes`` outputs, started from ``weights``: a checkpoint file in any layout
    :func:`vidkit.models.weights.load_weights` reads, the name of one of the model's published weights
    (``"kinetics400"``), or a loaded checkpoint / state dict; None builds it fresh.

    The checkpoint is read once. When its classifier has another number of classes, the model is built with
    the checkpoint's number, every tensor loaded strictly (anything else that does not fit is the usual
    one-line :class:`~vidkit.errors.CheckpointError`), then ``model.reset_classifier(num_classes)`` makes a
    fresh classifier (every stream's, for a multi-stream model). A vidkit training checkpoint's recorded
    builder options (:func:`vidkit.models.weights.checkpoint_build_options`: i3d_r50's ``temporal_padding``)
    are used unless ``overrides`` name them."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if weights is None:
        return FineTuneStart(build(name, num_classes=num_classes, **given), None, num_classes)
    registered = resolve(name)
    if isinstance(weights, Mapping):
        checkpoint, source = weights, None
    else:
        from vidkit.models.pretrained import weights_file

        source, _ = weights_file(registered, weights)
        checkpoint = read_checkpoint(source)
    theirs = classifier_classes(checkpoint)
    options = {**checkpoint_build_options(checkpoint), **given}
    differs = theirs is not None and theirs != num_classes
    model = build(name, num_classes=theirs if differs else num_classes, **options)
    if differs and not callable(getattr(model, "reset_classifier", None)):
        raise CheckpointError(
            source or "<state dict>",
            f"the checkpoint's classifier has {theirs} classes, not {num_classes}, and {registered} has no "
            "reset_classifier(num_classes) to make a new one",
        )
    load_weights(model, checkpoint, model_name=registered, source=source)
    if differs:
        model.reset_classifier(num_classes)
    return FineTuneStart(model, theirs, num_classes)


def fetch_weights(name: str, weights: str | os.PathLike) -> str:
    """The file ``weights`` stands for, for model ``name``: a published name's file (downloaded into the
    cache when missing), or the path as given. A path that is no file is a one-line :class:`ConfigError`,
    so a job can check its ``--weights`` before it does any other work."""
    from vidkit.models.pretrained import weights_file

    path, _ = weights_file(resolve(name), weights)
    if not os.path.isfile(path):
        raise ConfigError(f"model.weights {path}: no such file (nor the name of {resolve(name)}'s weights)")
    return path


def classifier_parameter_names(model: nn.Module) -> list[str]:
    """The names of the parameters ``model.reset_classifier`` replaces (``['head.proj.weight',
    'head.proj.bias']``; every stream's classifier for CoViAR), in the model's order. Found by calling it on a
    copy and seeing which parameters are new, so every model's own notion of its classifier holds. A model
    without ``reset_classifier`` is a one-line :class:`~vidkit.errors.ConfigError`."""
    if not callable(getattr(model, "reset_classifier", None)):
        raise ConfigError(
            f"{type(model).__name__} has no reset_classifier(num_classes): its classifier cannot be told apart"
        )
    # The copy holds no data (its tensors on the meta device): a reset reads shapes, not values.
    memo = {id(t): _meta(t) for t in [*model.parameters(), *model.buffers()]}
    twin = copy.deepcopy(model, memo)
    before = {name: (id(p), p.shape) for name, p in twin.named_parameters()}
    with torch.random.fork_rng(devices=[]):  # the copy's fresh classifier draws nothing from the caller's seed
        twin.reset_classifier(_out_features(twin) or 2)
    return [name for name, p in twin.named_parameters() if before.get(name) != (id(p), p.shape)]


def parameter_stages(model: nn.Module) -> dict[str, int] | None:
    """Each parameter's stage, an index into :data:`STAGE_NAMES`: 0 the stem, 1–4 res2–res5 (torchvision's
    layer1–layer4), 5 the classifier (:func:`classifier_parameter_names`). SlowFast's pathways and lateral
    connections share their stage's index (``lateral.stem`` with the stem). None for a model some parameter
    of which is in no stage (attention units, an LSTM, CoViAR's 2D streams), or that lacks one of the six
    (a trunk that ends at res4): layer-wise decay is defined for a stem, res2–res5 and a classifier only."""
    try:
        head = set(classifier_parameter_names(model))
    except ConfigError:
        return None
    stages = {}
    for name, _ in model.named_parameters():
        if name in head:
            stages[name] = len(STAGE_NAMES) - 1
            continue
        stage = next((_STAGE_OF_PART[part] for part in name.split(".") if part in _STAGE_OF_PART), None)
        if stage is None:
            return None
        stages[name] = stage
    return stages if set(stages.values()) == set(range(len(STAGE_NAMES))) else None


def _meta(tensor: torch.Tensor) -> torch.Tensor:
    empty = torch.empty_like(tensor, device="meta")
    return nn.Parameter(empty, tensor.requires_grad) if isinstance(tensor, nn.Parameter) else empty


def _out_features(model: nn.Module) -> int | None:
    """The output count of the model's last linear layer: what its classifier is reset to on the copy, so
    the copy's reset costs no more than the model's own classifier."""
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module.out_features
    return last
