"""``vidkit train``: a model learns from video clips; the defaults train on the built-in synthetic data.

The composition, in order: configuration → dataset → samplers → loaders → model → loop, logging each
epoch to ``OUT/log.jsonl`` and keeping ``OUT/last.pt`` and ``OUT/best.pt``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.resources
import sys
from dataclasses import dataclass
from pathlib import Path

from vidkit.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    model: str
    data: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    num_frames: int
    interval_s: float
    crop_size: int
    train_scale: tuple[int, int]
    test_scale: int
    flip_prob: float
    workers: int
    seed: int
    out: str
    device: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file overriding the defaults")
    for field in dataclasses.fields(TrainConfig):
        if field.name == "train_scale":
            parser.add_argument("--train-scale", type=int, nargs=2, metavar=("MIN", "MAX"), dest="train_scale")
            continue
        kind = {"int": int, "float": float}.get(str(field.type), str)
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, dest=field.name, default=None)


def load_config(config_file: Path | None = None, **overrides) -> TrainConfig:
    """Defaults shipped in ``vidkit.configs``, then ``config_file``, then ``overrides`` (None = unset)."""
    import yaml

    values = yaml.safe_load(importlib.resources.files("vidkit.configs").joinpath("train_defaults.yaml").read_text())
    if config_file is not None:
        try:
            values.update(yaml.safe_load(Path(config_file).read_text()) or {})
        except OSError as e:
            raise ConfigError(f"{config_file}: cannot read config ({e.strerror})") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    values["train_scale"] = tuple(values["train_scale"])
    return TrainConfig(**values)


def run(args: argparse.Namespace) -> int:
    overrides = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(TrainConfig)}
    config = load_config(args.config, **overrides)
    train(config)
    return 0


def train(config: TrainConfig, *, dataset=None) -> dict:
    """Train as configured; returns the final and best validation metrics. ``dataset`` (a
    :class:`~vidkit.data.SyntheticDataset`) replaces the default synthetic set, for tests."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from vidkit.data import RandomClipSampler, UniformClipSampler
    from vidkit.data.datasets import ClipDataset, collate_clips
    from vidkit.data.transforms import ClipTransform
    from vidkit.engine.checkpoint import save_checkpoint
    from vidkit.engine.logging import JsonlLogger
    from vidkit.engine.loop import evaluate, train_one_epoch
    from vidkit.models import build, resolve

    resolve(config.model)  # an unknown model fails before any data is generated
    if config.data != "synthetic":
        raise ConfigError(f"data {config.data!r} is not available yet; this version trains on 'synthetic'")
    from vidkit.data.synthetic import synthetic_dataset

    torch.manual_seed(config.seed)
    device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if config.device == "auto" else config.device))
    dataset = dataset or synthetic_dataset(progress=sys.stderr.isatty())
    classes = list(dataset.classes)
    model = build(config.model, num_classes=len(classes)).to(device)

    train_set = ClipDataset(dataset.samples("train"), RandomClipSampler(num_frames=config.num_frames, interval_s=config.interval_s),
                            seed=config.seed)
    val_set = ClipDataset(dataset.samples("val"), UniformClipSampler(num_clips=1, num_frames=config.num_frames,
                                                                     interval_s=config.interval_s))
    loader_args = dict(batch_size=config.batch_size, num_workers=config.workers, collate_fn=collate_clips,
                       pin_memory=device.type == "cuda", persistent_workers=config.workers > 0)
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(train_set, shuffle=True, drop_last=True, generator=generator, **loader_args)
    val_loader = DataLoader(val_set, shuffle=False, **loader_args)
    transform = ClipTransform(crop_size=config.crop_size, train_scale=config.train_scale, test_scale=config.test_scale,
                              flip_prob=config.flip_prob)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * len(train_loader))

    out = Path(config.out)
    meta = dict(model_name=config.model, num_classes=len(classes), classes=classes, config=dataclasses.asdict(config))
    print(f"vidkit train: {config.model} on synthetic-motion ({len(train_set)} train / {len(val_set)} val clips, "
          f"{len(classes)} classes) on {device}; logging to {out / 'log.jsonl'}", file=sys.stderr)
    best = {"top1": -1.0}
    with JsonlLogger(out / "log.jsonl") as log:
        log.log(event="start", **meta)
        for epoch in range(config.epochs):
            train_set.set_epoch(epoch)
            bar = tqdm(total=len(train_loader), desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch",
                       disable=None, file=sys.stderr)

            def on_step(step: int, loss: float) -> None:
                scheduler.step()
                bar.update()
                bar.set_postfix(loss=f"{loss:.3f}")

            fit = train_one_epoch(model, train_loader, optimizer, transform=transform, device=device, on_step=on_step)
            bar.close()
            val = evaluate(model, val_loader, transform=transform, device=device)
            record = dict(epoch=epoch + 1, train_loss=fit.loss, train_top1=fit.top1, val_loss=val.loss, val_top1=val.top1,
                          val_top5=val.top5, train_clips_per_s=round(fit.clips_per_s, 2), skipped=fit.skipped + val.skipped)
            log.log(event="epoch", **record)
            print(f"epoch {epoch + 1}: train loss {fit.loss:.3f} acc {fit.top1:.1%} | val loss {val.loss:.3f} "
                  f"acc {val.top1:.1%} | {fit.clips_per_s:.1f} clips/s", file=sys.stderr)
            save_checkpoint(out / "last.pt", model, epoch=epoch + 1, metrics=record, **meta)
            if val.top1 > best["top1"]:
                best = {"epoch": epoch + 1, "top1": val.top1}
                save_checkpoint(out / "best.pt", model, epoch=epoch + 1, metrics=record, **meta)
        log.log(event="end", best=best)
    print(f"vidkit train: best val acc {best['top1']:.1%} at epoch {best['epoch']}; checkpoints in {out}", file=sys.stderr)
    return {"last": record, "best": best}
