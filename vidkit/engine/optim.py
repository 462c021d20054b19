"""Optimiser and learning-rate schedule: SGD with momentum (or AdamW), linear warm-up, cosine decay.

The schedule is a function of the optimiser step, so it is exact whatever the epoch length and
restarts exactly on resume (it is stored in the checkpoint with the optimiser).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def build_optimizer(
    model: nn.Module, *, name: str, lr: float, weight_decay: float, momentum: float = 0.9, nesterov: bool = False
) -> torch.optim.Optimizer:
    """SGD or AdamW. Biases and normalisation parameters (1-D tensors) get no weight decay, as in
    PySlowFast's ``BN.WEIGHT_DECAY = 0`` and timm's default."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; choose sgd or adamw")


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    *,
    total_steps: int,
    warmup_steps: int,
    start_factor: float = 0.1,
    final_factor: float = 0.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step multiplier: linear from ``start_factor`` to 1 over ``warmup_steps``, then a half
    cosine from 1 down to ``final_factor`` at ``total_steps`` (Loshchilov & Hutter, ICLR 2017; the
    warm-up of Goyal et al. 2017, as PySlowFast schedules SlowFast)."""
    total_steps = max(1, total_steps)
    warmup_steps = min(max(0, warmup_steps), total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return start_factor + (1.0 - start_factor) * step / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
