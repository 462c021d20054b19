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
    """Write ``{"model": state_dict, **extra}`` atomically; ``extra`` holds plain values and
    state dicts (optimizer, scheduler, ...)."""
    path = Path(path)
    with atomic_write(path, "wb", file_mode=0o644) as f:
        torch.save({"model": unwrap(model).state_dict(), **extra}, f)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint without unpickling arbitrary objects; a missing, foreign or damaged file is
    one :class:`~vidkit.errors.CheckpointError` line."""
    from vidkit.models.weights import read_checkpoint

    return read_checkpoint(path)
