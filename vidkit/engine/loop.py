"""The inner loops: one training step and a whole evaluation pass, on a loader of uint8 clips.

Batches come from :func:`vidkit.data.datasets.collate_clips` (uint8 ``[B, T, H, W, 3]`` plus labels);
the device-side transform turns them into normalised float clips on the model's device, so the
data-loader workers only decode.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidkit.engine.checkpoint import unwrap
from vidkit.engine.distributed import DistContext, all_reduce_sum


@dataclass(frozen=True)
class Precision:
    """How the numbers are held: autocast dtype (None = float32) and the memory format."""

    dtype: torch.dtype | None = None
    channels_last: bool = False

    @property
    def needs_scaler(self) -> bool:
        """float16 gradients underflow without loss scaling; bfloat16 has float32's range."""
        return self.dtype == torch.float16

    def autocast(self, device: torch.device):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)

    def place(self, model: nn.Module, device: torch.device | str) -> nn.Module:
        """``model`` on ``device``, channels-last when asked: the 3D format for a model of 3D convolutions,
        the 2D one for a model of 2D convolutions (CoViAR, AdaFrame: torch refuses the 3D format for
        rank-4 weights), and as it is for a mix of both."""
        if not self.channels_last:
            return model.to(device)
        ranks = frozenset(p.dim() for p in model.parameters() if p.dim() in (4, 5))
        layout = {frozenset({5}): torch.channels_last_3d, frozenset({4}): torch.channels_last}.get(ranks)
        return model.to(device, memory_format=layout or torch.preserve_format)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else x

    def describe(self) -> str:
        name = {None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast + grad scaler"}[self.dtype]
        return name + (", channels-last" if self.channels_last else "")


def resolve_precision(amp: str, channels_last: str, device: torch.device) -> Precision:
    """``amp``: auto (bf16 on CUDA devices that support it, else fp16; off on the CPU), off, bf16, fp16.
    ``channels_last``: auto (on for CUDA, where cuDNN's 3D kernels prefer it), on, off."""
    cuda = device.type == "cuda"
    if amp == "auto":
        dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
    else:
        dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    if dtype == torch.float16 and not cuda:
        raise ValueError("amp=fp16 needs a CUDA device; use amp=bf16 or amp=off on the CPU")
    return Precision(dtype=dtype, channels_last=cuda if channels_last == "auto" else channels_last == "on")


def compile_model(model: nn.Module, *, backend: str = "inductor") -> nn.Module:
    """``torch.compile(model)`` that never stops a run: a graph the compiler fails on (no C++ compiler,
    an unsupported op) runs eagerly instead, with dynamo's warning (``suppress_errors``). The compiled
    module shares the model's parameters; :func:`vidkit.engine.checkpoint.unwrap` finds the model inside."""
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    return torch.compile(model, backend=backend)


CONFUSION_MAX_CLASSES = 64  # above this a confusion matrix is too big for a log line


@dataclass
class Meter:
    """Running sums of loss and top-1/top-5 hits; resumable (``state_dict``) and summable over processes.
    Given ``num_classes`` (at most 64) it also counts the confusion matrix, row = true class, column =
    top-1 prediction."""

    n: int = 0
    loss_sum: float = 0.0
    top1: int = 0
    top5: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # "path: reason" of clips that could not be decoded
    num_classes: int | None = None
    confusion: list[int] = field(default_factory=list)  # flattened [num_classes, num_classes]
    _since: float = field(default_factory=time.perf_counter, repr=False)

    def __post_init__(self) -> None:
        if self.num_classes and self.num_classes <= CONFUSION_MAX_CLASSES and not self.confusion:
            self.confusion = [0] * self.num_classes**2

    def add(self, logits: torch.Tensor, y: torch.Tensor, loss: float) -> None:
        b = y.shape[0]
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        self.top1 += int((top[:, 0] == y).sum())
        self.top5 += int((top == y[:, None]).any(dim=1).sum())
        self.loss_sum += loss * b
        self.n += b
        if self.confusion:
            c = self.num_classes
            counts = (y.cpu() * c + top[:, 0].cpu()).bincount(minlength=c * c).tolist()
            self.confusion = [a + b for a, b in zip(self.confusion, counts)]

    def elapsed(self) -> float:
        return self.seconds + time.perf_counter() - self._since

    def merged(self, ctx: DistContext) -> Meter:
        n, loss_sum, top1, top5, *confusion = all_reduce_sum(
            [self.n, self.loss_sum, self.top1, self.top5, *self.confusion], ctx
        )
        return Meter(
            int(n),
            loss_sum,
            int(top1),
            int(top5),
            self.elapsed(),
            list(self.skipped),
            self.num_classes,
            [int(v) for v in confusion],
        )

    def summary(self) -> dict:
        n = max(self.n, 1)
        seconds = self.elapsed()
        out = {
            "loss": self.loss_sum / n if self.n else math.nan,
            "top1": self.top1 / n,
            "top5": self.top5 / n,
            "clips": self.n,
            "seconds": round(seconds, 3),
            "clips_per_s": round(self.n / seconds, 2) if seconds else 0.0,
        }
        if self.confusion:
            c = self.num_classes
            out["confusion"] = [self.confusion[i * c : (i + 1) * c] for i in range(c)]
        return out

    def state_dict(self) -> dict:
        return {
            "n": self.n,
            "loss_sum": self.loss_sum,
            "top1": self.top1,
            "top5": self.top5,
            "seconds": self.elapsed(),
            "skipped": list(self.skipped),
            "num_classes": self.num_classes,
            "confusion": list(self.confusion),
        }

    @classmethod
    def from_state(cls, state: dict) -> Meter:
        return cls(**state)


def train_step(
    model: nn.Module,
    batch: dict,
    optimizer: torch.optim.Optimizer,
    *,
    transform: Callable[..., torch.Tensor],
    device: torch.device,
    precision: Precision,
    scaler: torch.amp.GradScaler | None,
    label_smoothing: float,
    clip_grad_norm: float | None,
    generator: torch.Generator,
    meter: Meter,
    flip_labels: torch.Tensor | None = None,
    class_weights: torch.Tensor | None = None,
    accumulate: tuple[int, int] = (0, 1),
) -> float | None:
    """One optimiser step on one batch, or one of ``accumulate = (i, k)``'s k batches whose gradients
    make one step (:func:`optimizer_step`); returns the loss (None when every clip failed to decode).

    Crops, flips and scales are drawn from ``generator`` (a CPU generator the caller seeds per step).
    ``flip_labels`` (``[num_classes]``: each class's mirror class, itself when it has none) relabels
    the clips the transform flipped: "pushing left to right" flipped is "pushing right to left".
    ``class_weights`` (``[num_classes]``) weights each clip's loss by its class.
    """
    meter.skipped += batch["errors"]
    if "frames" not in batch:
        return None
    x, flipped = transform(to_device(batch["frames"], device), train=True, generator=generator, return_flips=True)
    x = precision.prepare(x)
    y = batch["label"]
    if flip_labels is not None:
        y = torch.where(flipped, flip_labels[y], y)
    y = y.to(device, non_blocking=True)
    with precision.autocast(device):
        if has_own_objective(model):  # through the model's forward (DDP's, when wrapped: see OwnObjective)
            logits, loss = wrap_for_training(model)(x, targets=y, label_smoothing=label_smoothing)
        else:
            logits = model(x)
            weight = class_weights.to(logits.device) if class_weights is not None else None
            loss = F.cross_entropy(logits.float(), y, weight=weight, label_smoothing=label_smoothing)
    loss_value = optimizer_step(
        model, loss, optimizer, scaler=scaler, clip_grad_norm=clip_grad_norm, accumulate=accumulate
    )
    meter.add(logits.detach().float(), y, loss_value)
    return loss_value


def optimizer_step(
    model: nn.Module,
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    scaler: torch.amp.GradScaler | None,
    clip_grad_norm: float | None,
    accumulate: tuple[int, int] = (0, 1),
) -> float:
    """Backward and one optimiser step (loss scaling and gradient clipping as asked); returns the loss.
    A loss that is not finite stops the run with what to change.

    ``accumulate = (i, k)``: this is the ``i``-th of ``k`` batches whose gradients are summed into one
    step: the gradients are cleared at the first, the loss is divided by ``k`` (so equal batches give
    the gradient of their union's mean loss), and only the last clips and steps."""
    index, steps = accumulate
    loss_value = float(loss.detach())
    if not math.isfinite(loss_value):
        raise FloatingPointError(f"the loss became {loss_value}; lower optim.lr or set optim.clip_grad_norm")
    if index == 0:
        optimizer.zero_grad(set_to_none=True)
    if steps > 1:
        loss = loss / steps
    if scaler is not None:
        scaler.scale(loss).backward()
    else:
        loss.backward()
    if index < steps - 1:
        return loss_value
    if scaler is not None:
        scaler.unscale_(optimizer)
    if clip_grad_norm:
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if steps > 1:  # a window whose first batch fails to decode must not add these gradients again
        optimizer.zero_grad(set_to_none=True)
    return loss_value


def has_own_objective(model: nn.Module) -> bool:
    """Whether ``model`` trains on an objective of its own: it has ``loss(x, targets, *, label_smoothing)``
    returning ``(logits, loss)`` — CoViAR's per-stream losses, AdaFrame's policy and utility; every other
    model is trained on the cross-entropy of its logits. Looks through DDP, compile and
    :class:`OwnObjective` wrappers."""
    return callable(getattr(unwrap(model), "loss", None))


class OwnObjective(nn.Module):
    """A model with an objective of its own, trained through ``forward``: ``forward(x, targets,
    label_smoothing)`` is ``module.loss(...)``, ``(logits, loss)``; ``forward(x)`` is ``module(x)``, the logits.

    DistributedDataParallel synchronises gradients only for what runs through its forward, so such a
    model is wrapped in this before DDP (:func:`wrap_for_training`). It holds the model as ``module``,
    so :func:`~vidkit.engine.checkpoint.unwrap` sees through it and checkpoints keep the model's own keys."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None, label_smoothing: float = 0.0):
        if targets is None:
            return self.module(x)
        return self.module.loss(x, targets, label_smoothing=label_smoothing)


def wrap_for_training(model: nn.Module) -> nn.Module:
    """``model`` in an :class:`OwnObjective` when it has an objective of its own and is not wrapped in one
    yet (DDP and compile wrappers looked through); ``model`` itself otherwise."""
    if not has_own_objective(model):
        return model
    inner = model
    while isinstance(inner, nn.Module):
        if isinstance(inner, OwnObjective):
            return model
        # a compiled module's own _orig_mod first: its "module" would be looked up inside what it wraps
        outer, inner = inner, getattr(inner, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(outer, "module", None)
    return OwnObjective(model)


def to_device(frames: torch.Tensor | list[torch.Tensor], device: torch.device):
    """A batch's frames on ``device``: one tensor, or a list of clips of different sizes."""
    if isinstance(frames, (list, tuple)):
        return [f.to(device, non_blocking=True) for f in frames]
    return frames.to(device, non_blocking=True)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: Iterable[dict],
    *,
    transform: Callable[..., torch.Tensor],
    device: torch.device,
    precision: Precision = Precision(),
    ctx: DistContext | None = None,
    num_classes: int | None = None,
) -> Meter:
    """Single-view accuracy over ``loader`` (each process its shard), summed over processes; with
    ``num_classes`` also the confusion matrix. Multi-view testing is ``vidkit eval``'s."""
    model.eval()
    meter = Meter(num_classes=num_classes)
    for batch in loader:
        meter.skipped += batch["errors"]
        if "frames" not in batch:
            continue
        x = precision.prepare(transform(to_device(batch["frames"], device), train=False))
        y = batch["label"].to(device)
        with precision.autocast(device):
            logits = model(x).float()
        meter.add(logits, y, float(F.cross_entropy(logits, y)))
    return meter.merged(ctx) if ctx is not None else meter
