"""Checkpoints: tensors and plain values only, so they load with ``torch.load(weights_only=True)``.

Written atomically (a temporary file in the same folder, fsynced, then renamed over the target): a
run killed at any moment leaves the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from vidkit.utils import atomic_write


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel (or torch.compile) wrapper."""
    while True:
        inner = next(
            (
                m
                for m in (getattr(model, "module", None), getattr(model, "_orig_mod", None))
                if isinstance(m, nn.Module)
            ),
            None,
        )
        if inner is None:
            return model
        model = inner


def save_checkpoint(path: str | Path, model: nn.Module, **extra) -> Path:
    """Write ``{"model": state_dict, "model_options": ..., **extra}`` atomically; ``extra`` holds plain values
    and state dicts (optimizer, scheduler, ...). ``model_options`` are the builder options the model says
    decide what its weights compute (:func:`vidkit.models.weights.checkpoint_options`, e.g. I3D's temporal
    padding), so that the file is loaded into a model that computes the same."""
    from vidkit.models.weights import checkpoint_options

    path = Path(path)
    model = unwrap(model)
    with atomic_write(path, "wb", file_mode=0o644) as f:
        torch.save({"model": model.state_dict(), "model_options": checkpoint_options(model), **extra}, f)
    return path


def trained_config(saved: dict) -> dict:
    """A vidkit training checkpoint's config, its model options completed with the builder options the
    weights were trained with (:func:`vidkit.models.weights.checkpoint_build_options`: recorded, or the
    model card's defaults for a file from before they were): the config a resumed run builds from."""
    from vidkit.models.weights import checkpoint_build_options

    config = dict(saved.get("config") or {})
    model = dict(config.get("model") or {})
    config["model"] = {**model, "options": {**(model.get("options") or {}), **checkpoint_build_options(saved)}}
    return config


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint without unpickling arbitrary objects; a missing, foreign or damaged file is
    one :class:`~vidkit.errors.CheckpointError` line."""
    from vidkit.models.weights import read_checkpoint

    return read_checkpoint(path)
