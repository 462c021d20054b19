"""The training and evaluation loops: a model, a loader of uint8 clips, a device-side transform."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class EpochResult:
    loss: float
    top1: float
    top5: float
    clips: int
    seconds: float
    skipped: list[str] = field(default_factory=list)  # videos that could not be decoded

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds if self.seconds else 0.0


def train_one_epoch(model: nn.Module, loader: Iterable[dict], optimizer: torch.optim.Optimizer, *,
                    transform: Callable[..., torch.Tensor], device: torch.device,
                    on_step: Callable[[int, float], None] | None = None) -> EpochResult:
    """One pass over ``loader``; ``on_step(step, loss)`` after each optimiser step."""
    model.train()
    meter = _Meter()
    for step, batch in enumerate(loader):
        meter.skipped += batch["errors"]
        if "frames" not in batch:
            continue
        x = transform(batch["frames"].to(device, non_blocking=True), train=True)
        y = batch["label"].to(device, non_blocking=True)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        meter.add(logits.detach(), y, loss.detach())
        if on_step is not None:
            on_step(step, float(loss.detach()))
    return meter.result()


@torch.inference_mode()
def evaluate(model: nn.Module, loader: Iterable[dict], *, transform: Callable[..., torch.Tensor],
             device: torch.device) -> EpochResult:
    """Single-view accuracy (the multi-view protocol arrives with ``vidkit eval``)."""
    model.eval()
    meter = _Meter()
    for batch in loader:
        meter.skipped += batch["errors"]
        if "frames" not in batch:
            continue
        x = transform(batch["frames"].to(device, non_blocking=True), train=False,
                      crop_index=None)
        y = batch["label"].to(device)
        logits = model(x)
        meter.add(logits, y, F.cross_entropy(logits, y))
    return meter.result()


class _Meter:
    def __init__(self):
        self.start = time.perf_counter()
        self.n = 0
        self.loss = 0.0
        self.top1 = 0
        self.top5 = 0
        self.skipped: list[str] = []

    def add(self, logits: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> None:
        b = y.shape[0]
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        self.top1 += int((top[:, 0] == y).sum())
        self.top5 += int((top == y[:, None]).any(dim=1).sum())
        self.loss += float(loss) * b
        self.n += b

    def result(self) -> EpochResult:
        n = max(self.n, 1)
        return EpochResult(loss=self.loss / n if self.n else math.nan, top1=self.top1 / n, top5=self.top5 / n,
                           clips=self.n, seconds=time.perf_counter() - self.start, skipped=self.skipped)
