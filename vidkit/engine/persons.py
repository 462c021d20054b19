"""Training and evaluating person-action models (model cards with ``task="persons"``: the Action
Transformer and the I3D-head baseline) on batches of clips with person boxes.

A batch comes from :func:`vidkit.data.ava.collate_persons`: uint8 clips, boxes ``[K, 5]`` (clip index,
normalised x1 y1 x2 y2) and multi-hot targets ``[K, C]``. The loss is the binary cross-entropy of
every (person, class) pair — AVA's labels are multi-label, as in PySlowFast and the paper — and
validation is frame mAP at IoU 0.5 (:mod:`vidkit.engine.frame_map`), the AVA protocol: every box the
model scored is a detection of every class with the class's sigmoid as its score.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vidkit.engine.distributed import DistContext, all_reduce_sum
from vidkit.engine.frame_map import FrameMap, frame_map
from vidkit.engine.loop import Precision, optimizer_step, to_device


@dataclass
class PersonMeter:
    """Running sums of the loss over persons, resumable and summable over processes; after
    :func:`evaluate_persons`, also the frame mAP (``result``)."""

    n: int = 0  # clips (keyframes), as Meter.n: the trainer's progress bar reads it
    persons: int = 0
    loss_sum: float = 0.0  # over persons
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)
    result: FrameMap | None = None
    classes: Sequence[str] | None = None
    _since: float = field(default_factory=time.perf_counter, repr=False)

    def add(self, loss: float, *, persons: int, clips: int) -> None:
        self.loss_sum += loss * persons
        self.persons += persons
        self.n += clips

    def elapsed(self) -> float:
        return self.seconds + time.perf_counter() - self._since

    def merged(self, ctx: DistContext) -> PersonMeter:
        n, persons, loss_sum = all_reduce_sum([self.n, self.persons, self.loss_sum], ctx)
        return PersonMeter(
            int(n), int(persons), loss_sum, self.elapsed(), list(self.skipped), self.result, self.classes
        )

    def summary(self) -> dict:
        seconds = self.elapsed()
        out = {
            "loss": self.loss_sum / self.persons if self.persons else math.nan,
            "persons": self.persons,
            "clips": self.n,
            "seconds": round(seconds, 3),
            "clips_per_s": round(self.n / seconds, 2) if seconds else 0.0,
        }
        if self.result is not None:
            out["map"] = self.result.map
            out["per_class"] = self.result.as_dict(self.classes)["per_class"]
        return out

    def state_dict(self) -> dict:
        return {
            "n": self.n,
            "persons": self.persons,
            "loss_sum": self.loss_sum,
            "seconds": self.elapsed(),
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_state(cls, state: dict) -> PersonMeter:
        return cls(**state)


def person_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy over every (person, class), averaged."""
    return F.binary_cross_entropy_with_logits(logits.float(), targets.float())


def person_train_step(
    model: nn.Module,
    batch: dict,
    optimizer: torch.optim.Optimizer,
    *,
    transform: Callable,
    device: torch.device,
    precision: Precision,
    scaler: torch.amp.GradScaler | None,
    clip_grad_norm: float | None,
    generator: torch.Generator,
    meter: PersonMeter,
    flip_labels: torch.Tensor | None = None,
    accumulate: tuple[int, int] = (0, 1),
    **_: object,
) -> float | None:
    """One optimiser step; None when no clip decoded or the batch holds nobody to learn from.
    ``flip_labels`` (each class's mirror class) relabels the persons of flipped clips."""
    meter.skipped += batch["errors"]
    if "frames" not in batch or batch["boxes"].shape[0] == 0:
        return None
    x, boxes, flipped = transform(
        to_device(batch["frames"], device), batch["boxes"].to(device), train=True, generator=generator
    )
    targets = batch["targets"].to(device, non_blocking=True)
    if flip_labels is not None and flipped.any():
        mirrored = flipped.to(device)[boxes[:, 0].long()]
        targets[mirrored] = targets[mirrored][:, _inverse(flip_labels).to(device)]
    with precision.autocast(device):
        logits = model(precision.prepare(x), boxes)
    loss = person_loss(logits, targets)
    value = optimizer_step(model, loss, optimizer, scaler=scaler, clip_grad_norm=clip_grad_norm, accumulate=accumulate)
    meter.add(value, persons=boxes.shape[0], clips=x.shape[0])
    return value


def _inverse(mapping: torch.Tensor) -> torch.Tensor:
    """Column order that moves class ``i``'s target to its mirror ``mapping[i]`` (a permutation)."""
    inverse = torch.empty_like(mapping)
    inverse[mapping] = torch.arange(len(mapping))
    return inverse


@torch.inference_mode()
def person_scores(
    model: nn.Module,
    loader: Iterable[dict],
    *,
    transform: Callable,
    device: torch.device,
    precision: Precision = Precision(),
    meter: PersonMeter | None = None,
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Score every person the loader gives: ``(dataset index of each person's keyframe, boxes [K, 4]
    as the dataset gave them, class probabilities [K, C])``; decoding errors go to ``meter.skipped``."""
    model.eval()
    meter = meter if meter is not None else PersonMeter()
    indices, boxes_out, probs = [], [], []
    for batch in loader:
        meter.skipped += batch["errors"]
        if "frames" not in batch or batch["boxes"].shape[0] == 0:
            continue
        x, boxes, _ = transform(to_device(batch["frames"], device), batch["boxes"].to(device), train=False)
        with precision.autocast(device):
            logits = model(precision.prepare(x), boxes).float()
        meter.add(float(person_loss(logits, batch["targets"].to(device))), persons=boxes.shape[0], clips=x.shape[0])
        clip = batch["boxes"][:, 0].long()
        indices += batch["index"][clip].tolist()
        boxes_out.append(batch["boxes"][:, 1:].numpy())
        probs.append(logits.sigmoid().cpu().numpy())
    if not probs:
        return [], np.zeros((0, 4), np.float32), np.zeros((0, 0), np.float32)
    return indices, np.concatenate(boxes_out), np.concatenate(probs)


def evaluate_persons(
    model: nn.Module,
    loader: Iterable[dict],
    *,
    transform: Callable,
    device: torch.device,
    keyframes: Sequence,
    ground_truth: Sequence,
    num_classes: int,
    precision: Precision = Precision(),
    ctx: DistContext | None = None,
    classes: Sequence[str] | None = None,
) -> PersonMeter:
    """Frame mAP at IoU 0.5 of ``model`` over ``loader`` (a :class:`~vidkit.data.ava.PersonClipDataset`
    over ``keyframes``) against ``ground_truth`` (keyframes with annotated boxes); each process scores
    its shard and the detections are gathered before the mAP is computed. A keyframe that could not be
    decoded has no detections: its people count as missed."""
    meter = PersonMeter(classes=classes)
    indices, boxes, probs = person_scores(
        model, loader, transform=transform, device=device, precision=precision, meter=meter
    )
    if ctx is not None and ctx.distributed:
        import torch.distributed as dist

        parts: list = [None] * ctx.world_size
        dist.all_gather_object(parts, (indices, boxes, probs, meter.skipped))
        indices = [i for p in parts for i in p[0]]
        boxes = np.concatenate([p[1] for p in parts if len(p[1])] or [boxes])
        probs = np.concatenate([p[2] for p in parts if len(p[2])] or [probs])
        meter.skipped = [s for p in parts for s in p[3]]
        meter = meter.merged(ctx)
    _, meter.result = score_frame_map(keyframes, ground_truth, indices, boxes, probs, num_classes=num_classes)
    return meter


def score_frame_map(
    keyframes: Sequence,
    ground_truth: Sequence,
    indices: Sequence[int],
    boxes: np.ndarray,
    probs: np.ndarray,
    *,
    num_classes: int,
    max_per_keyframe: int | None = 50,
) -> tuple[list, FrameMap]:
    """``(detections, frame mAP)`` of :func:`person_scores`' output: every scored box is a detection of every
    class, scored by that class's probability (AVA's protocol), against ``ground_truth``'s annotated boxes;
    at most ``max_per_keyframe`` detections a keyframe count, as the official evaluator reads them (None:
    all, PySlowFast's way)."""
    detections = [
        (keyframes[i].key, box, c, float(p[c])) for i, box, p in zip(indices, boxes, probs) for c in range(num_classes)
    ]
    truth = ((kf.key, box, c) for kf in ground_truth for box, labels in zip(kf.boxes, kf.labels) for c in labels)
    return detections, frame_map(detections, truth, num_classes=num_classes, max_per_keyframe=max_per_keyframe)
