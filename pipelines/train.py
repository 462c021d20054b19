"""``vidkit train``: a model learns from video clips; the defaults train SlowFast on the built-in data.

The composition, in order: configuration → run directory → dataset → what the model's task makes of
it (:mod:`vidkit.engine.tasks`: the splits, the transform, the objective) → model → optimiser →
:class:`vidkit.engine.trainer.Trainer`. The run directory holds ``config.yaml`` (resolved),
``log.jsonl`` (metrics), ``curves.png``, ``last.pt`` and ``best.pt``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from vidkit.errors import ConfigError
from vidkit.pipelines.config import TrainConfig, load_train_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model to train (default slowfast_r50; `vidkit models` lists them)")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        type=Path,
        metavar="YAML",
        help="config file(s) on top of the defaults (repeatable)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set optim.lr=0.05 (repeatable)",
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--out", metavar="DIR", help="run directory (default runs/<model>-<date>-<time>)")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:1")
    parser.add_argument(
        "--weights",
        metavar="NAME|PATH",
        help="start from these weights: published ones by name (e.g. kinetics400; `vidkit models --weights`) "
        "or a file (vidkit, pytorchvideo, PySlowFast, mmaction2, torchvision)",
    )
    parser.add_argument(
        "--data",
        metavar="NAME",
        help="synthetic (default), synthetic-actors, kinetics400|600|700, kinetics, "
        "ssv2, folder, list, ava (person-action models)",
    )
    parser.add_argument("--data-root", metavar="DIR", help="where the dataset lives (the folder as downloaded)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--workers", type=int, help="data-loader processes")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--wandb", action="store_true", default=None, help="also log to Weights & Biases (offline without an account)"
    )
    parser.add_argument(
        "--resume",
        metavar="RUN",
        type=Path,
        help="continue a stopped run exactly where it stopped (its directory or its last.pt)",
    )


def _flag_values(args: argparse.Namespace) -> dict:
    data = {"name": args.data, "root": args.data_root, "batch_size": args.batch_size, "workers": args.workers}
    if args.data == "synthetic-actors":  # the built-in set's actors variant (AVA-format boxes)
        data.update(name="synthetic", synthetic={"variant": "actors"})
    return {
        "model": {"weights": args.weights},
        "epochs": args.epochs,
        "out": args.out,
        "device": args.device,
        "seed": args.seed,
        "wandb": args.wandb,
        "data": data,
    }


def run(args: argparse.Namespace) -> int:
    values = _flag_values(args)
    if args.resume is not None:
        checkpoint = resume_checkpoint(args.resume)
        if args.model is not None or args.config:
            raise ConfigError(
                "--resume continues a run with its own config; --model and --config do not apply "
                "(use --set or flags such as --epochs to change it)"
            )
        from vidkit.engine.checkpoint import load_checkpoint, trained_config
        from vidkit.engine.config import load_config

        values["out"] = values["out"] or str(checkpoint.parent)
        saved = load_checkpoint(checkpoint)
        config = load_config(TrainConfig, base=trained_config(saved), values=values, overrides=args.overrides)
        train(config, resume=saved)
        return 0
    config = load_train_config(args.config, model=args.model, values=values, overrides=args.overrides)
    train(config)
    return 0


def resume_checkpoint(path: Path) -> Path:
    """``last.pt`` of a run directory, or the file itself."""
    checkpoint = path / "last.pt" if path.is_dir() else path
    if not checkpoint.is_file():
        raise ConfigError(f"--resume {path}: no checkpoint there (expected a run directory holding last.pt)")
    return checkpoint


def train(config: TrainConfig, *, resume: Path | dict | None = None, dataset=None) -> dict:
    """Train as configured (continuing ``resume``, a ``last.pt`` or its loaded contents, when given); returns the
    final and best validation metrics. ``dataset`` (a :class:`~vidkit.data.SyntheticDataset`) replaces the
    configured data, for tests."""
    import torch
    import yaml

    from vidkit.engine import distributed
    from vidkit.engine.checkpoint import load_checkpoint, unwrap
    from vidkit.engine.config import to_dict
    from vidkit.engine.logging import RunLogger
    from vidkit.engine.loop import resolve_precision, wrap_for_training
    from vidkit.engine.optim import build_optimizer, warmup_cosine
    from vidkit.engine.plots import plot_curves
    from vidkit.engine.trainer import Trainer

    started = time.monotonic()
    check_model_options(config)  # a wrong freeze prefix or layer decay fails before any work
    if config.model.weights and resume is None:  # a name is fetched (once) before the data is touched
        from vidkit.models import fetch_weights

        fetch_weights(config.model.name, config.model.weights)
    ctx = distributed.setup(config.device)
    try:
        run_dir = _run_dir(config, ctx)
        if dataset is None and resume is None:
            config = _split_folder(config, run_dir, ctx)
        dataset = dataset or build_dataset(config, progress=ctx.is_main and sys.stderr.isatty())
        data = _train_data(config, dataset)
        classes, train_set, val_set, transform = data.classes, data.train_set, data.val_set, data.transform
        mirrors = _flip(config, dataset)[1]
        flip_labels = torch.tensor(mirrors) if mirrors else None
        balance = _balance(config, train_set, num_classes=len(classes), objective=data.objective)

        torch.manual_seed(config.seed)
        # resumed, the weights are the run's own (loaded below): the start is built as it was, but not said again
        model = _build_model(config, num_classes=len(classes), say=ctx.is_main and resume is None)
        frozen = None
        if config.model.freeze:
            from vidkit.engine.freeze import freeze

            frozen = freeze(model, config.model.freeze, model_name=config.model.name)
            if ctx.is_main:
                print(f"vidkit train: model.freeze {list(config.model.freeze)}: {frozen.describe()}", file=sys.stderr)
        if config.activation_checkpointing:
            from vidkit.models import set_activation_checkpointing

            if not set_activation_checkpointing(model):
                raise ConfigError(f"activation_checkpointing: {config.model.name} has no ResNet stages to checkpoint")
        precision = resolve_precision(config.amp, config.channels_last, ctx.device)
        model = precision.place(model, ctx.device)
        model = wrap_for_training(model)  # before compile (which then covers its loss) and DDP
        if config.compile:
            from vidkit.engine.loop import compile_model

            model = compile_model(model)
        optimizer = build_optimizer(
            model,
            name=config.optim.name,
            lr=config.optim.lr,
            weight_decay=config.optim.weight_decay,
            momentum=config.optim.momentum,
            nesterov=config.optim.nesterov,
            head_lr_mult=config.optim.head_lr_mult,
            layer_decay=config.optim.layer_decay,
        )
        if ctx.distributed:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
            )

        saved = load_checkpoint(resume) if isinstance(resume, (str, Path)) else resume
        if saved is not None:
            unwrap(model).load_state_dict(saved["model"])
        plain_config = to_dict(config)
        meta = {
            "model_name": config.model.name,
            "num_classes": len(classes),
            "classes": classes,
            "config": plain_config,
        }
        logger = None
        if ctx.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.yaml").write_text(yaml.safe_dump(plain_config, sort_keys=False))
            logger = RunLogger(
                run_dir / "log.jsonl",
                wandb=config.wandb,
                project=config.wandb_project,
                run_name=run_dir.name,
                run_id=saved.get("wandb_run_id") if saved else None,
                config=plain_config,
            )
        trainer = Trainer(
            model=model,
            optimizer=optimizer,
            scheduler=None,
            train_set=train_set,
            val_set=val_set,
            transform=transform,
            ctx=ctx,
            run_dir=run_dir,
            meta=meta,
            epochs=config.epochs,
            batch_size=config.data.batch_size,
            workers=config.data.workers,
            seed=config.seed,
            precision=precision,
            label_smoothing=config.optim.label_smoothing,
            clip_grad_norm=config.optim.clip_grad_norm,
            checkpoint_every_steps=config.checkpoint_every_steps,
            log_every_steps=config.log_every_steps,
            logger=logger,
            flip_labels=flip_labels,
            objective=data.objective,
            accumulate_steps=config.optim.accumulate_steps,
            frozen=frozen,
            patience=config.patience,
            **balance,
        )
        total = config.epochs * trainer.steps_per_epoch
        trainer.scheduler = warmup_cosine(
            optimizer,
            total_steps=total,
            warmup_steps=round(config.optim.warmup_epochs * trainer.steps_per_epoch),
            start_factor=config.optim.warmup_start_factor,
            final_factor=config.optim.final_lr_factor,
        )
        if saved is not None:
            trainer.load_state_dict(saved)
        if ctx.is_main:
            where = (
                f"resuming at epoch {trainer.position.epoch + 1} step {trainer.position.step}" if saved else "starting"
            )
            k, batch = config.optim.accumulate_steps, config.data.batch_size
            effective = batch * k * ctx.world_size
            per_step = f"{batch} x {k} accumulated" if k > 1 else f"{batch}"
            per_step += f" x {ctx.world_size} processes" if ctx.world_size > 1 else ""
            print(
                f"vidkit train: {config.model.name} on {config.data.name} ({len(train_set)} train / {len(val_set)} val "
                f"clips, {len(classes)} classes) on {ctx.device} x{ctx.world_size}, {precision.describe()}"
                f"{', torch.compile' if config.compile else ''}; batch {per_step}"
                f"{f' = {effective} clips per optimiser step' if effective != batch else ''}; "
                f"{where}; run directory {run_dir}",
                file=sys.stderr,
            )
            logger.log(
                "resume" if saved else "start",
                step=trainer.position.global_step,
                **meta,
                world_size=ctx.world_size,
                device=str(ctx.device),
                effective_batch=effective,
            )
        try:
            result = trainer.fit()
        finally:
            if logger is not None:
                logger.close()
        if ctx.is_main:
            curves = plot_curves(run_dir / "log.jsonl", run_dir / "curves.png")
            _summary(result, run_dir, curves, seconds=time.monotonic() - started)
        distributed.barrier(ctx)
        return result
    finally:
        distributed.teardown(ctx)


def build_data(config: TrainConfig, *, progress: bool = False):
    """``(dataset, train_set, val_set, transform)`` as :func:`train` builds them from ``config`` — for
    tools that evaluate a run's model on its own validation split (tools/coviar_table.py)."""
    dataset = build_dataset(config, progress=progress)
    data = _train_data(config, dataset)
    return dataset, data.train_set, data.val_set, data.transform


def _run_dir(config: TrainConfig, ctx) -> Path:
    if config.out:
        return Path(config.out)
    name = [f"runs/{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"]
    if ctx.distributed:  # every rank must agree on rank 0's clock
        import torch.distributed as dist

        dist.broadcast_object_list(name, src=0)
    return Path(name[0])


def build_dataset(config: TrainConfig, *, progress: bool = False):
    """The dataset ``config.data`` names, as :func:`train` opens it (``classes``, ``samples(split)``):
    the synthetic set (rendered on first use, ``progress`` showing it), a downloaded one, or AVA-format
    person data — for tools that read its videos their own way (tools/probe_learnability.py)."""
    if config.data.name == "ava":
        from vidkit.data.ava import AvaData

        return AvaData(config.data.root, annotations=config.data.annotations, videos=config.data.videos)
    if config.data.name != "synthetic":
        return _Downloaded.open(config.data)
    from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset

    spec = SyntheticSpec.from_config(dataclasses.asdict(config.data.synthetic))
    return synthetic_dataset(spec, root=config.data.root, progress=progress)


class _Downloaded:
    """A dataset as downloaded (:func:`vidkit.data.catalog.open_catalog`): its train and val splits,
    with the interface of the synthetic set (``classes``, ``samples(split)``)."""

    def __init__(self, train, val):
        if tuple(train.classes) != tuple(val.classes):
            raise ConfigError(
                f"{train.name}: the train split has {len(train.classes)} classes and the val split "
                f"{len(val.classes)}, in a different order; point --annotations at matching files"
            )
        self.splits = {"train": train, "val": val}
        self.classes = train.classes
        self.default_flip = train.default_flip
        self.flip_label_map = train.flip_label_map

    @classmethod
    def open(cls, d) -> _Downloaded:
        from vidkit.data.catalog import open_catalog

        train, val = (
            open_catalog(d.name, root=d.root, annotations=d.annotations, videos=d.videos, split=split)
            for split in ("train", "val")
        )
        for catalog in (train, val):
            for w in catalog.warnings:
                print(f"vidkit train: warning: {w}", file=sys.stderr)
            if catalog.missing:
                print(
                    f"vidkit train: {len(catalog.missing)} of the {len(catalog.entries)} {catalog.split} videos listed "
                    f"are missing (`vidkit scan` lists them); training on the {len(catalog.found)} found",
                    file=sys.stderr,
                )
        return cls(train, val)

    def samples(self, split: str) -> list[tuple[str, int]]:
        return self.splits[split].samples()


def _flip(config: TrainConfig, dataset) -> tuple[bool, list[int] | None]:
    """Whether to flip, and the class each class becomes when flipped (None: labels kept)."""
    d = config.data
    if d.flip_swap_labels:
        mirrors = getattr(dataset, "flip_label_map", None) or {}
        if not mirrors:
            raise ConfigError(f"data.flip_swap_labels: {d.name} has no left/right class pairs to swap")
        return True, [mirrors.get(i, i) for i in range(len(dataset.classes))]
    return (d.flip if d.flip is not None else getattr(dataset, "default_flip", False)), None


def _train_data(config: TrainConfig, dataset):
    """What the model's task (:mod:`vidkit.engine.tasks`) makes of ``dataset`` for training: the
    classes, the two splits, the batched transform and the objective."""
    from vidkit.engine.tasks import ClipSettings, task_for
    from vidkit.models import model_card, resolve

    task, name = task_for(config.model.name), resolve(config.model.name)
    d = config.data
    task.check_data(dataset, data_name=d.name, model_name=name)
    if d.test_frames is not None and not task.test_frames:
        raise ConfigError(
            f"data.test_frames={d.test_frames}: {name} validates on clips of data.num_frames frames; "
            "test_frames is for the compressed-domain models' TSN segments (coviar)"
        )
    flip, _ = _flip(config, dataset)
    settings = ClipSettings(
        data_name=d.name,
        num_frames=d.num_frames,
        interval_s=d.interval_s,
        crop_size=d.crop_size,
        train_scale=d.train_scale,
        test_scale=d.test_scale,
        backend=d.backend,
        seed=config.seed,
        flip=flip,
        keyframe_offset_s=d.keyframe_offset_s,
        test_frames=d.test_frames or model_card(name).test_frames,
        model_options=dict(config.model.options),
    )
    return task.train_data(dataset, settings, model_name=name)


def _build_model(config: TrainConfig, *, num_classes: int, say: bool = False):
    """The model to train: fresh, or from ``model.weights`` with a new classifier when the weights'
    classes are not the data's (said in one line)."""
    from vidkit.models import build_finetune

    options = dict(config.model.options)
    try:
        start = build_finetune(config.model.name, num_classes=num_classes, weights=config.model.weights, **options)
    except TypeError as e:
        raise ConfigError(f"model.options {options}: {e}") from None
    change = start.describe()
    if say and change:
        print(
            f"vidkit train: {config.model.weights}: a new classifier, {change}; every other weight loaded",
            file=sys.stderr,
        )
    return start.model


def check_model_options(config: TrainConfig) -> None:
    """Refuse, in one line and before any data is read, model options that cannot apply
    (:func:`vidkit.engine.finetune.check_model_options`)."""
    from vidkit.engine.finetune import check_model_options as check

    check(
        config.model.name,
        config.model.options,
        freeze=config.model.freeze,
        layer_decay=config.optim.layer_decay,
        class_weights=config.data.class_weights,
    )


def _split_folder(config: TrainConfig, run_dir: Path, ctx) -> TrainConfig:
    """A folder of class folders without train/val folders of its own: hold out ``data.val_fraction``
    of each class (seeded), written to ``<run>/splits/`` as lists; the config then names them as its
    annotations, so ``--resume`` and ``vidkit eval`` read the same split."""
    d = config.data
    if d.name != "folder" or d.annotations is not None:
        return config
    from vidkit.data.split import split_folder
    from vidkit.engine import distributed

    where = run_dir / "splits"
    made = None
    if ctx.is_main:
        made = split_folder(d.root, videos=d.videos, out_dir=where, val_fraction=d.val_fraction, seed=config.seed)
    distributed.barrier(ctx)
    if not ctx.is_main:
        made = str(where) if (where / "val.txt").is_file() else None
    if made is None:
        return config
    if ctx.is_main:
        print(
            f"vidkit train: {d.videos or d.root} has no train/val folders: {d.val_fraction:.0%} of each class "
            f"held out for validation (seed {config.seed}); the lists are in {made}",
            file=sys.stderr,
        )
    return dataclasses.replace(config, data=dataclasses.replace(d, annotations=str(Path(made).resolve())))


def _balance(config: TrainConfig, train_set, *, num_classes: int, objective) -> dict:
    """The trainer's class or sample weights for ``data.class_weights`` / ``data.sampler``
    (:func:`vidkit.engine.finetune.balancing`), from the training split's labels."""
    from vidkit.engine.finetune import balancing

    d = config.data
    if d.class_weights == "none" and d.sampler == "random":
        return {}
    samples = getattr(train_set, "samples", None)
    if objective.score != "top1" or samples is None:
        option = "data.class_weights" if d.class_weights != "none" else "data.sampler"
        raise ConfigError(f"{option}=balanced: {config.model.name} on {d.name} has no one label per clip to balance")
    views = len(train_set) // max(1, len(samples))
    labels = [label for _, label in samples]
    return balancing(labels, num_classes, class_weights=d.class_weights, sampler=d.sampler, views=views)


def _summary(result: dict, run_dir: Path, curves: Path, *, seconds: float) -> None:
    best, last = result["best"], result["last"]
    minutes, secs = divmod(round(seconds), 60)
    if "map" in best:
        figures = (
            f"best val frame mAP {best['map']:.3f} (epoch {best['epoch']}), "
            f"last {last.get('val_map', float('nan')):.3f}"
        )
    else:
        figures = (
            f"best val top-1 {best['top1']:.1%} (epoch {best['epoch']}), last {last.get('val_top1', float('nan')):.1%}"
        )
    print(
        f"\nvidkit train: done in {minutes}m{secs:02d}s — {figures}\n"
        f"  checkpoints  {run_dir / 'best.pt'}  {run_dir / 'last.pt'}\n"
        f"  metrics      {run_dir / 'log.jsonl'}  (curves: {curves})\n"
        f"  next         vidkit tag VIDEOS... --checkpoint {run_dir / 'best.pt'} --out tags.jsonl",
        file=sys.stderr,
    )


__all__ = ["TrainConfig", "add_arguments", "build_data", "build_dataset", "load_train_config", "run", "train"]
