"""Loading checkpoints into vidkit models: vidkit's own, the model-zoo files of pytorchvideo and PySlowFast,
and 2D ImageNet ResNets (torchvision's layout), inflated.

Nine layouts are told apart by their keys:

============  ==============================  ======================================================================
layout        where the tensors are           a key
============  ==============================  ======================================================================
vidkit        ``{"model": ...,                ``slow.res2.block1.conv_a.weight``
              "model_name": ...}`` or bare
pytorchvideo  ``{"model_state": ...}``        ``blocks.1.multipathway_blocks.0.res_blocks.0.branch2.conv_a.weight``
                                              (SlowFast), ``blocks.1.res_blocks.0.branch2.conv_a.weight`` (C2D, I3D)
PySlowFast    ``{"model_state": ...}``        ``s2.pathway0_res0.branch2.a.weight``
torchvision   bare, or under ``state_dict``   ``layer1.0.conv1.weight`` (a 2D ResNet)
mmaction2     ``{"state_dict": ...}``         ``backbone.layer1.0.conv1.conv.weight`` (TSN),
                                              ``backbone.layer1.0.conv1.conv.net.weight`` (TSM)
TSM           ``{"state_dict": ...}``         ``module.base_model.layer1.0.conv1.net.weight``
              (mit-han-lab's repo)
GST           ``{"state_dict": ...}``         ``module.base_model.layer1.0.Tconv.weight``
              (the GST authors' repo)
CoST          ``{"state_dict": ...}``         ``backbone.layer1.1.conv2.conv.alpha`` (CoSTa), ``...conv2.fc1.weight``
              (the CoST authors' mmaction2)   (CoSTb)
PySlowFast-   a Caffe2 pickle ``{"blobs":     ``res2_0_branch2a_w``: read by a restricted unpickler that admits numpy
Caffe2        ...}`` (PySlowFast's ``.pkl``)  arrays and dtypes only (:mod:`vidkit.models._caffe2`)
============  ==============================  ======================================================================

SlowFast models take the pytorchvideo and PySlowFast SlowFast files; the single-pathway ResNets (C2D,
TSN, I3D, TSM, CoST, …) take their C2D/I3D/Slow files, 2D ResNet checkpoints and mmaction2's and the TSM
authors' TSN/TSM ResNet-50 files. A 2D kernel loaded
into a 3D convolution is inflated the I3D way (:func:`vidkit.models.inflate.inflate_weight`).

``module.`` (DistributedDataParallel) and ``_orig_mod.`` (``torch.compile``) prefixes are dropped.
Files are always read with ``torch.load(..., map_location="cpu", weights_only=True)``: a checkpoint
that needs arbitrary unpickling is refused, never executed.

Each model family registers its converters with its class (:func:`vidkit.models._checkpoints.register_converters`:
the SlowFast ones in :mod:`vidkit.models.slowfast`, the single-pathway ResNets' in :mod:`vidkit.models.resnet`);
this module imports no model.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from vidkit.errors import CheckpointError, ConfigError
from vidkit.models._checkpoints import (
    LAYOUTS_2D,
    converter_for,
    examples,
    families_converting,
    read_checkpoint,
    unwrap_checkpoint,
)
from vidkit.models._registry import model_card, resolve
from vidkit.models.inflate import inflate_weight

__all__ = ["checkpoint_build_options", "checkpoint_options", "classifier_classes", "load_weights", "read_checkpoint"]


def load_weights(
    model: nn.Module,
    path_or_state: str | os.PathLike | Mapping[str, Any],
    *,
    model_name: str,
    source: str | os.PathLike | None = None,
) -> nn.Module:
    """Load a checkpoint (a file, or an already loaded checkpoint / state dict) into ``model``, built as
    ``model_name``; every tensor must find its place and every parameter must be given, and a vidkit training
    checkpoint's builder options (:func:`checkpoint_build_options`: I3D's padding) must be the model's. Raises
    :class:`~vidkit.errors.CheckpointError` with the file and the reason, in one line. Returns ``model``.

    ``source``: the file an already loaded checkpoint was read from, for the error lines."""
    if source is not None:
        source = os.fspath(source)
    elif isinstance(path_or_state, Mapping):
        source = "<state dict>"
    else:
        source = os.fspath(path_or_state)
    checkpoint = path_or_state if isinstance(path_or_state, Mapping) else read_checkpoint(path_or_state)
    layout, state, meta_name = unwrap_checkpoint(checkpoint, source)
    _check_model_name(meta_name, model_name, source)
    if meta_name is not None:
        _check_options(model, _recorded_options(checkpoint, meta_name), model_name, source)
    if layout != "vidkit":
        converter = converter_for(model, layout)
        if converter is None:
            raise CheckpointError(
                source,
                f"a {layout} checkpoint; vidkit converts those for "
                f"{' and '.join(families_converting(layout))} only, not {model_name}",
            )
        state = converter(state, source)
        if layout in LAYOUTS_2D:
            state = _inflate_2d(model, state)
    model.load_state_dict(_fit(model, state, source, layout, model_name))
    return model


def classifier_classes(path_or_state: str | os.PathLike | Mapping[str, Any]) -> int | None:
    """How many classes a checkpoint's classifier has (its output rows), in any layout :func:`load_weights`
    reads; None when no classifier is recognised. For building the model a checkpoint fits before loading it."""
    source = "<state dict>" if isinstance(path_or_state, Mapping) else os.fspath(path_or_state)
    checkpoint = path_or_state if isinstance(path_or_state, Mapping) else read_checkpoint(source)
    _, state, _ = unwrap_checkpoint(checkpoint, source)
    heads = [
        v
        for k, v in state.items()
        if v.dim() == 2
        and re.search(
            r"(^|\.)(head|head\.proj|head\.projection|blocks\.\d+\.proj|fc|cls_head\.fc_cls|new_fc)\.weight$", k
        )
    ]
    return int(heads[-1].shape[0]) if heads else None


def checkpoint_options(model: nn.Module) -> dict[str, Any]:
    """The builder options that decide what ``model``'s weights compute besides their values, as the model
    reports them (its ``checkpoint_options()``, e.g. ``{"temporal_padding": "zeros"}``; ``{}`` for a model
    without one): vidkit's checkpoints record them as ``model_options``."""
    report = getattr(model, "checkpoint_options", None)
    return dict(report()) if callable(report) else {}


def checkpoint_build_options(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The builder options a vidkit training checkpoint (one with ``model_name``) was trained with, among those
    its model's builder takes: its ``model_options``, and for an option the file does not record (one written
    before it existed, or before options were recorded at all) the model card's ``checkpoint_defaults``
    (``i3d_r50``: replicate padding; ``coviar``: its former input scaling and fusion weights)."""
    name = checkpoint.get("model_name")
    if not isinstance(name, str):
        return {}
    try:
        accepted = inspect.signature(model_card(name).builder).parameters
    except ConfigError:
        return {}
    return {k: v for k, v in _recorded_options(checkpoint, name).items() if k in accepted}


def _recorded_options(checkpoint: Mapping[str, Any], model_name: str) -> dict[str, Any]:
    recorded = checkpoint.get("model_options")
    try:
        defaults = dict(model_card(model_name).checkpoint_defaults)
    except ConfigError:
        defaults = {}
    return {**defaults, **(dict(recorded) if isinstance(recorded, Mapping) else {})}


def _check_options(model: nn.Module, recorded: Mapping[str, Any], model_name: str, source: str) -> None:
    """A vidkit checkpoint's weights were trained with ``recorded``; a model built otherwise is refused."""
    own = checkpoint_options(model)
    wrong = [(k, v, own[k]) for k, v in recorded.items() if k in own and own[k] != v]
    if wrong:
        said = ", ".join(f"{k}={theirs!r}" for k, theirs, _ in wrong)
        has = ", ".join(f"{k}={ours!r}" for k, _, ours in wrong)
        raise CheckpointError(source, f"was trained with {said}, this {model_name} has {has}: build it with {said}")


def _check_model_name(recorded: str | None, model_name: str, source: str) -> None:
    if recorded is None:
        return

    def canonical(name: str) -> str:
        try:
            return resolve(name)
        except ConfigError:
            return name

    if canonical(recorded) != canonical(model_name):
        raise CheckpointError(
            source, f"holds {recorded!r} weights, not {model_name!r}; build({recorded!r}, ...) loads it"
        )


def _inflate_2d(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """2D kernels ``[O, I, kh, kw]`` whose place in ``model`` is a 3D kernel ``[O, I, t, kh, kw]``, inflated."""
    own = model.state_dict()
    out = dict(state)
    for key, value in state.items():
        target = own.get(key)
        if (
            target is not None
            and value.ndim == 4
            and target.ndim == 5
            and target.shape[:2] == value.shape[:2]
            and target.shape[3:] == value.shape[2:]
        ):
            out[key] = inflate_weight(value, target.shape[2])
    return out


# -- checking against the model -------------------------------------------------------------------
def _fit(
    model: nn.Module, state: dict[str, torch.Tensor], source: str, layout: str, model_name: str
) -> dict[str, torch.Tensor]:
    """The state dict to load, after checking every key and shape; a mismatch is one-line error."""
    own = model.state_dict()
    # Old checkpoints lack BN's num_batches_tracked; it does not change the model's output.
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} of the model's tensors missing (e.g. {examples(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} tensors the model does not have (e.g. {examples(unexpected)})")
        raise CheckpointError(source, f"this {layout} checkpoint does not fit {model_name}: {'; '.join(parts)}")
    head = _classifier_name(model)
    if head is not None and f"{head}.weight" in state and state[f"{head}.weight"].shape != own[f"{head}.weight"].shape:
        theirs, ours = state[f"{head}.weight"].shape[0], own[f"{head}.weight"].shape[0]
        fix = (
            f"model.reset_classifier({ours})"
            if hasattr(model, "reset_classifier")
            else f"replace model.{head} with a {ours}-way layer"
        )
        raise CheckpointError(
            source,
            f"the checkpoint's classifier has {theirs} classes, the model {ours}; build "
            f"{model_name} with num_classes={theirs}, load the weights, then {fix} to fine-tune",
        )
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if wrong:
        raise CheckpointError(
            source,
            f"this {layout} checkpoint does not fit {model_name}: {len(wrong)} tensors of "
            f"another shape (checkpoint vs model, e.g. {examples(wrong)})",
        )
    return {k: state.get(k, v) for k, v in own.items()}


def _classifier_name(model: nn.Module) -> str | None:
    """The name of the model's last linear layer (its classifier): ``head.proj``, ``fc``."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    return last
