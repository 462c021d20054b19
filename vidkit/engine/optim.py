"""Optimiser and learning-rate schedule: SGD with momentum (or AdamW), linear warm-up, cosine decay.

The schedule is a function of the optimiser step, so it is exact whatever the epoch length and
restarts exactly on resume (it is stored in the checkpoint with the optimiser). Each parameter group
keeps its own peak rate (the schedule multiplies them all): a new classifier's larger rate
(``head_lr_mult``) and layer-wise decay (``layer_decay``, BEiT's and timm's fine-tuning recipe: each
stage towards the input learns more slowly) are groups of their own.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def build_optimizer(
    model: nn.Module,
    *,
    name: str,
    lr: float,
    weight_decay: float,
    momentum: float = 0.9,
    nesterov: bool = False,
    head_lr_mult: float = 1.0,
    layer_decay: float = 1.0,
) -> torch.optim.Optimizer:
    """SGD or AdamW over the parameters that train (``requires_grad``; frozen ones are left out).
    Biases and normalisation parameters (1-D tensors) get no weight decay, as in PySlowFast's
    ``BN.WEIGHT_DECAY = 0`` and timm's default. ``head_lr_mult`` scales the classifier's rate;
    ``layer_decay`` < 1 gives stage ``s`` of (stem, res2, ..., res5, head) ``lr * layer_decay**(5 - s)``
    (:func:`vidkit.models.parameter_stages`; a model without stages is refused)."""
    groups = parameter_groups(
        model, lr=lr, weight_decay=weight_decay, head_lr_mult=head_lr_mult, layer_decay=layer_decay
    )
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; choose sgd or adamw")


def parameter_groups(
    model: nn.Module, *, lr: float, weight_decay: float, head_lr_mult: float = 1.0, layer_decay: float = 1.0
) -> list[dict]:
    """The optimiser's parameter groups: one per (learning rate, weight decay) pair, in a fixed order
    (a resumed run's optimiser state lines up with them)."""
    from vidkit.engine.checkpoint import unwrap
    from vidkit.models import classifier_parameter_names, parameter_stages

    inner = unwrap(model)
    head = set(classifier_parameter_names(inner)) if head_lr_mult != 1.0 else set()
    stages = None
    if layer_decay != 1.0:
        stages = parameter_stages(inner)
        if stages is None:
            raise ValueError(
                f"optim.layer_decay: {type(inner).__name__} has no stages (stem, res2-res5, head) to decay "
                "the learning rate by; use optim.layer_decay=1.0 (and optim.head_lr_mult for the classifier)"
            )
    last = max(stages.values()) if stages else 0
    groups: dict[tuple[float, bool], list] = {}
    for param_name, param in inner.named_parameters():
        if not param.requires_grad:
            continue
        scale = layer_decay ** (last - stages[param_name]) if stages else 1.0
        if param_name in head:
            scale *= head_lr_mult
        groups.setdefault((scale, param.ndim > 1), []).append(param)
    if not groups:
        raise ValueError("model.freeze leaves no parameter to train")
    return [
        {"params": params, "lr": lr * scale, "weight_decay": weight_decay if decays else 0.0}
        for (scale, decays), params in sorted(groups.items(), key=lambda item: (-item[0][0], not item[0][1]))
    ]


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
