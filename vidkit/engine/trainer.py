"""The epoch loop: train, evaluate, log, checkpoint, resume — on one device or under ``torchrun``.

Everything random in a step (clip choice, crop, scale, flip, dropout) is drawn from seeds derived
from ``(seed, epoch, step, rank)`` and the data order from ``(seed, epoch)``, so a run resumed from
any checkpoint continues exactly as the run that was never stopped would have (same final weights
on the CPU). ``last.pt`` holds what resuming needs (model, optimiser, schedule, scaler, position,
partial epoch metrics); ``best.pt`` the model with the best validation top-1.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from vidkit.data.datasets import ClipDataset
from vidkit.engine.checkpoint import save_checkpoint
from vidkit.engine.distributed import DistContext, ResumableSampler, ShardSampler, step_seed
from vidkit.engine.freeze import Frozen
from vidkit.engine.logging import RunLogger
from vidkit.engine.loop import Precision
from vidkit.engine.objectives import ClipObjective


@dataclass
class Position:
    """Where a run stands: ``epoch`` (0-based, the one in progress), optimiser steps done in it."""

    epoch: int = 0
    step: int = 0
    global_step: int = 0
    best_top1: float = -1.0  # the best validation score: top-1, or frame mAP for person models (the objective's score)
    best_epoch: int = 0
    meter: dict | None = None  # the partial epoch's training sums, when stopped mid-epoch

    def state_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Trainer:
    """Trains ``model`` on ``train_set`` and validates on ``val_set`` once per epoch.

    ``transform`` is the device-side clip transform; ``meta`` (model name, classes, config) is
    written into every checkpoint so ``vidkit eval``/``tag`` can rebuild the model from the file.

    An optimiser step sums the gradients of ``accumulate_steps`` batches of ``batch_size``; the
    schedule, ``Position.step`` and ``steps_per_epoch`` count optimiser steps. ``sample_weights`` (one
    per training clip) draws the epoch's clips with replacement in proportion to them (a balanced
    sampler); ``class_weights`` weights the loss; ``frozen`` holds its BatchNorm statistics in
    training mode; ``patience`` > 0 ends the run after that many epochs without a better score.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: (
        torch.optim.lr_scheduler.LRScheduler | None
    )  # may be set after construction, once steps_per_epoch is known
    train_set: ClipDataset
    val_set: ClipDataset
    transform: Any
    ctx: DistContext
    run_dir: Path
    meta: dict
    epochs: int
    batch_size: int
    workers: int = 0
    seed: int = 0
    precision: Precision = field(default_factory=Precision)
    label_smoothing: float = 0.0
    clip_grad_norm: float | None = None
    checkpoint_every_steps: int = 0
    log_every_steps: int = 10
    logger: RunLogger | None = None
    flip_labels: torch.Tensor | None = None  # each class's mirror class, for flipped clips (train_step)
    objective: Any = field(default_factory=ClipObjective)  # what is learned: vidkit.engine.objectives
    accumulate_steps: int = 1
    frozen: Frozen | None = None
    class_weights: torch.Tensor | None = None
    sample_weights: list[float] | None = None
    patience: int = 0

    def __post_init__(self) -> None:
        self.scaler = torch.amp.GradScaler(self.ctx.device.type) if self.precision.needs_scaler else None
        self.sampler = ResumableSampler(
            self.train_set, ctx=self.ctx, shuffle=True, seed=self.seed, drop_last=True, weights=self.sample_weights
        )
        self.steps_per_epoch = len(self.sampler) // (self.batch_size * self.accumulate_steps)
        if self.steps_per_epoch == 0:
            step = f"{self.batch_size} x {self.accumulate_steps} accumulated" if self.accumulate_steps > 1 else ""
            raise ValueError(
                f"{len(self.train_set)} training clips over {self.ctx.world_size} process(es) make no "
                f"full batch of {step or self.batch_size}; lower data.batch_size"
                + (" or optim.accumulate_steps" if step else "")
            )
        self.val_loader = self._loader(self.val_set, ShardSampler(len(self.val_set), self.ctx), drop_last=False)
        self.position = Position()

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "position": self.position.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.position = Position(**state["position"])

    def _checkpoint(self, name: str, *, full: bool, metrics: dict | None = None) -> None:
        if not self.ctx.is_main:
            return
        extra = self.state_dict() if full else {"position": self.position.state_dict()}
        save_checkpoint(
            self.run_dir / name,
            self.model,
            **self.meta,
            epoch=self.position.epoch,
            metrics=metrics or {},
            wandb_run_id=self.logger.wandb_run_id if self.logger else None,
            **extra,
        )

    # -- the loop ---------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train the remaining epochs; returns ``{"last": epoch record, "best": {...}}``."""
        pos = self.position
        record: dict = {}
        stopped_early = None
        generator = torch.Generator()
        k = self.accumulate_steps
        extra = {"class_weights": self.class_weights} if self.class_weights is not None else {}
        if self.patience and pos.epoch and pos.epoch - pos.best_epoch >= self.patience:
            stopped_early = pos.epoch  # resuming a run that stopped early: nothing left to do
        while pos.epoch < self.epochs and stopped_early is None:
            epoch = pos.epoch
            self.train_set.set_epoch(epoch)
            self.sampler.set_epoch(epoch)
            self.sampler.set_start(pos.step * self.batch_size * k)
            loader = self._loader(self.train_set, self.sampler, drop_last=True)
            meter = self.objective.meter(pos.meter)
            bar = self._bar(epoch, initial=pos.step)
            self.model.train()
            if self.frozen is not None:
                self.frozen.hold_statistics()
            lr = self.optimizer.param_groups[0]["lr"]
            waited = [0.0, 0.0]  # seconds this epoch spent waiting for the data loader; of them, for the first batch
            batches = itertools.islice(_timed(loader, waited), (self.steps_per_epoch - pos.step) * k)
            losses: list[float] = []
            for index, batch in enumerate(batches, start=pos.step * k):
                step, micro = divmod(index, k)
                seed = step_seed(self.seed, epoch, index, self.ctx.rank)
                torch.manual_seed(seed)
                generator.manual_seed(seed)
                with self._accumulating(micro < k - 1):
                    value = self.objective.train_step(
                        self.model,
                        batch,
                        self.optimizer,
                        transform=self.transform,
                        device=self.ctx.device,
                        precision=self.precision,
                        scaler=self.scaler,
                        label_smoothing=self.label_smoothing,
                        clip_grad_norm=self.clip_grad_norm,
                        generator=generator,
                        meter=meter,
                        flip_labels=self.flip_labels,
                        accumulate=(micro, k),
                        **extra,
                    )
                if value is not None:
                    losses.append(value)
                if micro < k - 1:
                    continue
                if value is None and k > 1:  # the window's last batch did not decode: no step, drop its gradients
                    self.optimizer.zero_grad(set_to_none=True)
                loss = sum(losses) / len(losses) if losses else None
                losses = []
                lr = self.optimizer.param_groups[0]["lr"]
                self.scheduler.step()
                pos.step, pos.global_step = step + 1, pos.global_step + 1
                if bar is not None:
                    bar.update(loss=loss, lr=lr, clips_per_s=meter.n / max(meter.elapsed(), 1e-9))
                if self.logger and self.ctx.is_main and pos.step % self.log_every_steps == 0 and loss is not None:
                    self.logger.log(
                        "step",
                        step=pos.global_step,
                        epoch=epoch + 1,
                        epoch_progress=epoch + pos.step / self.steps_per_epoch,
                        loss=loss,
                        lr=lr,
                        clips_per_s=meter.summary()["clips_per_s"],
                    )
                if (
                    self.checkpoint_every_steps
                    and pos.step % self.checkpoint_every_steps == 0
                    and pos.step < self.steps_per_epoch
                ):
                    pos.meter = meter.state_dict()
                    self._checkpoint("last.pt", full=True)
            if bar is not None:
                bar.close()
            train = meter.merged(self.ctx).summary()
            val = self.objective.evaluate(
                self.model,
                self.val_loader,
                transform=self.transform,
                device=self.ctx.device,
                precision=self.precision,
                ctx=self.ctx,
                classes=list(self.meta.get("classes") or []),
            )
            val_summary = val.summary()
            pos.epoch, pos.step, pos.meter = epoch + 1, 0, None
            record = {
                "epoch": epoch + 1,
                "train_loss": train["loss"],
                **self.objective.figures(train, val_summary),
                "lr": lr,
                "train_clips_per_s": train["clips_per_s"],
                "epoch_s": train["seconds"],
                "data_wait_s": round(waited[0], 3),
                # of it, the first batch's: the workers' start and their first clips, which a short epoch
                # does not amortise (busy without it: 1 - (data_wait_s - this) / (epoch_s - this))
                "first_batch_wait_s": round(waited[1], 3),
                # the share of the training time the model computed rather than waited for input
                "busy": round(1 - waited[0] / train["seconds"], 4) if train["seconds"] else None,
                "skipped": len(meter.skipped) + len(val.skipped),
                "skipped_examples": (meter.skipped + val.skipped)[:20],
            }
            score = val_summary[self.objective.score]
            improved = score > pos.best_top1
            if improved:
                pos.best_top1, pos.best_epoch = score, epoch + 1
            if self.patience and epoch + 1 - pos.best_epoch >= self.patience and epoch + 1 < self.epochs:
                stopped_early = epoch + 1
                record["stopped_early"] = True
            if self.ctx.is_main:
                if self.logger:
                    self.logger.log("epoch", step=pos.global_step, **record)
                print(
                    f"epoch {epoch + 1}/{self.epochs}: {self.objective.line(train, val_summary)} | "
                    f"{train['clips_per_s']:.1f} clips/s, {record['busy'] or 0:.0%} computing (rest: waiting for data)",
                    file=sys.stderr,
                )
                if record["skipped"]:
                    print(
                        f"  {record['skipped']} clip(s) could not be decoded, e.g. {record['skipped_examples'][0]}",
                        file=sys.stderr,
                    )
                if stopped_early:
                    print(
                        f"  stopping early: no better validation {self.objective.score} in {self.patience} epoch(s) "
                        f"since epoch {pos.best_epoch} (patience {self.patience})",
                        file=sys.stderr,
                    )
            # best.pt before last.pt: a kill between the two re-runs nothing but loses no best model.
            if improved:
                self._checkpoint("best.pt", full=False, metrics=record)
            self._checkpoint("last.pt", full=True, metrics=record)
        result = {"last": record, "best": {self.objective.score: pos.best_top1, "epoch": pos.best_epoch}}
        if stopped_early:
            result["stopped_early"] = stopped_early
        return result

    def _accumulating(self, more_to_come: bool):
        """Under DDP, a batch whose gradients are only summed locally (more of the window to come) skips the
        all-reduce (``no_sync``); the window's last batch reduces the sum once. A no-op otherwise."""
        if more_to_come and isinstance(self.model, nn.parallel.DistributedDataParallel):
            return self.model.no_sync()
        return contextlib.nullcontext()

    def _loader(self, dataset: ClipDataset, sampler, *, drop_last: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.workers,
            collate_fn=self.objective.collate,
            pin_memory=self.ctx.device.type == "cuda",
            prefetch_factor=4 if self.workers else None,
        )

    def _bar(self, epoch: int, *, initial: int) -> _Progress | None:
        return (
            _Progress(f"epoch {epoch + 1}/{self.epochs}", self.steps_per_epoch, initial) if self.ctx.is_main else None
        )


def _timed(loader, waited: list[float]):
    """The loader's batches, adding the time spent waiting for each to ``waited[0]`` and for the first to
    ``waited[1]`` (train_step reads the loss back every step, so on a GPU the wait is measured after the
    previous step's work ended)."""
    batches = iter(loader)
    first = True
    while True:
        started = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:
            return
        finally:
            wait = time.perf_counter() - started
            waited[0] += wait
            if first:
                waited[1], first = wait, False
        yield batch


class _Progress:
    """A tqdm bar on a terminal (loss, lr, clips/s, ETA); elsewhere (a log file, CI) a plain line
    every tenth of the epoch, so a long run is never silent."""

    def __init__(self, desc: str, total: int, initial: int):
        from tqdm.auto import tqdm

        self.desc, self.total, self.done = desc, total, initial
        self.bar = tqdm(
            total=total, initial=initial, desc=desc, unit="step", disable=None, file=sys.stderr, dynamic_ncols=True
        )
        self.every = max(1, total // 10)
        self.started, self.start_step = time.monotonic(), initial

    def update(self, *, loss: float | None, lr: float, clips_per_s: float) -> None:
        self.done += 1
        if not self.bar.disable:
            self.bar.update()
            self.bar.set_postfix(
                loss=f"{loss:.3f}" if loss is not None else "-", lr=f"{lr:.3g}", clips_s=f"{clips_per_s:.1f}"
            )
        elif self.done % self.every == 0 and self.done < self.total:
            per_step = (time.monotonic() - self.started) / (self.done - self.start_step)
            eta = round(per_step * (self.total - self.done))
            print(
                f"{self.desc}: {self.done}/{self.total} steps, loss {loss if loss is not None else float('nan'):.3f}, "
                f"lr {lr:.3g}, {clips_per_s:.1f} clips/s, ETA {eta // 60}m{eta % 60:02d}s",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        self.bar.close()
