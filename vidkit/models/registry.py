"""The model registry: a name maps to a builder and a small card of facts about it (timm's and
torchvision's way: the default input and the paper are data next to the builder); :func:`build` makes a
model from its name, with weights if asked. The tables live in :mod:`vidkit.models._registry`."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

import torch.nn as nn

from vidkit.errors import ConfigError
from vidkit.models._registry import ModelCard, list_models, model_card, register_model, resolve
from vidkit.models.weights import load_weights

__all__ = ["ModelCard", "build", "list_models", "model_card", "register_model", "resolve"]


def build(
    name: str, *, num_classes: int, weights: str | os.PathLike | Mapping[str, Any] | None = None, **overrides
) -> nn.Module:
    """Build a registered model: ``build("r2plus1d_18", num_classes=8)``. ``None`` overrides are
    dropped so the builder's defaults stand; an argument the builder does not take is an error.

    ``weights`` (a checkpoint file, the name of one of the model's published weights —
    ``build("slowfast_r50", num_classes=400, weights="kinetics400")``, downloaded once into the cache,
    :mod:`vidkit.models.pretrained` — or a loaded checkpoint/state dict) is loaded into the model:
    vidkit's own checkpoints, pytorchvideo's and PySlowFast's model-zoo files (see
    :func:`vidkit.models.weights.load_weights`). ``None`` keeps the fresh initialisation."""
    registered = resolve(name)
    builder = model_card(registered).builder
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"model {name!r} takes no argument(s) {', '.join(unknown)}; "
            f"it takes {', '.join(p for p in accepted if p != 'num_classes')}"
        )
    model = builder(num_classes=num_classes, **kwargs)
    if isinstance(weights, (str, os.PathLike)):
        from vidkit.models.pretrained import weights_file

        weights, _ = weights_file(registered, weights)
    if weights is not None:
        load_weights(model, weights, model_name=registered)
    return model
