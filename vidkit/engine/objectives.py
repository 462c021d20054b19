"""What the epoch loop (:class:`vidkit.engine.trainer.Trainer`) needs to know about what is learned:
how a batch is collated, one training step, the validation pass, which figure picks ``best.pt``, and
what an epoch's record and line say.

:class:`ClipObjective` is one label per clip (top-1); :class:`PersonObjective` is labels per person
box (the Action Transformer on AVA-format data; frame mAP). A model's task
(:mod:`vidkit.engine.tasks`) gives the trainer the one its training data needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vidkit.data.datasets import collate_clips
from vidkit.engine.loop import Meter, evaluate, train_step


@dataclass(frozen=True)
class ClipObjective:
    """Clip classification: cross-entropy, validated by top-1 (and top-5, the confusion matrix)."""

    score = "top1"
    collate = staticmethod(collate_clips)
    train_step = staticmethod(train_step)

    def meter(self, state: dict | None = None):
        return Meter.from_state(state) if state else Meter()

    def evaluate(self, model, loader, *, transform, device, precision, ctx, classes: Sequence[str]):
        return evaluate(
            model,
            loader,
            transform=transform,
            device=device,
            precision=precision,
            ctx=ctx,
            num_classes=len(classes) or None,
        )

    def figures(self, train: dict, val: dict) -> dict:
        out = {
            "train_top1": train["top1"],
            "val_loss": val["loss"],
            "val_top1": val["top1"],
            "val_top5": val["top5"],
            "val_clips": val["clips"],
        }
        if "confusion" in val:
            out["val_confusion"] = val["confusion"]  # row = true class, column = predicted
        return out

    def line(self, train: dict, val: dict) -> str:
        return (
            f"train loss {train['loss']:.3f} top-1 {train['top1']:.1%} | "
            f"val loss {val['loss']:.3f} top-1 {val['top1']:.1%}"
        )


@dataclass(frozen=True)
class PersonObjective:
    """Per-person multi-label actions: binary cross-entropy, validated by frame mAP at IoU 0.5 over
    ``keyframes`` (what the validation set scores) against ``ground_truth``."""

    keyframes: Sequence
    ground_truth: Sequence
    score = "map"

    @staticmethod
    def collate(items):
        from vidkit.data.ava import collate_persons

        return collate_persons(items)

    @staticmethod
    def train_step(*args, **kwargs):
        from vidkit.engine.persons import person_train_step

        return person_train_step(*args, **kwargs)

    def meter(self, state: dict | None = None):
        from vidkit.engine.persons import PersonMeter

        return PersonMeter.from_state(state) if state else PersonMeter()

    def evaluate(self, model, loader, *, transform, device, precision, ctx, classes: Sequence[str]):
        from vidkit.engine.persons import evaluate_persons

        return evaluate_persons(
            model,
            loader,
            transform=transform,
            device=device,
            precision=precision,
            ctx=ctx,
            keyframes=self.keyframes,
            ground_truth=self.ground_truth,
            num_classes=len(classes),
            classes=classes,
        )

    def figures(self, train: dict, val: dict) -> dict:
        return {
            "val_loss": val["loss"],
            "val_map": val["map"],
            "val_clips": val["clips"],
            "val_persons": val["persons"],
            "val_ap": {row["class"]: row["ap"] for row in val["per_class"]},
        }

    def line(self, train: dict, val: dict) -> str:
        return f"train loss {train['loss']:.4f} | val loss {val['loss']:.4f} frame mAP {val['map']:.3f}"


__all__ = ["ClipObjective", "PersonObjective"]
