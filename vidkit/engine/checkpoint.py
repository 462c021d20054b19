"""Checkpoints: tensors and plain values only, so they load with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
import torch.nn as nn


def save_checkpoint(path: str | Path, model: nn.Module, **meta) -> Path:
    """Write ``{"model": state_dict, **meta}`` atomically (temp file + rename): a run killed mid-save
    leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"model": model.state_dict(), **meta}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint without unpickling arbitrary objects."""
    return torch.load(path, map_location="cpu", weights_only=True)
