"""The typed configuration of the jobs, as the CLI builds it from YAML and ``--set`` overrides.

Every value comes from ``configs/defaults.yaml`` (shipped inside the package as ``vidkit.configs``),
then the preset for the model on the dataset (``configs/<data.name>/<model>.yaml`` when one exists), then ``--config``
files, then the dedicated flags (``--model``, ``--epochs``, ...) and finally ``--set key=value``.
The schema below is the list of every key; ``defaults.yaml`` documents each one.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vidkit.data.registry import dataset_names
from vidkit.engine.config import load_config
from vidkit.errors import ConfigError

# What data.name may be: every ``--data`` name but synthetic-actors, which `vidkit train` turns into
# name=synthetic with data.synthetic.variant=actors.
DATA_NAMES = tuple(name for name in dataset_names() if name != "synthetic-actors")


@dataclass(frozen=True)
class SyntheticConfig:
    """The built-in synthetic-motion set (``vidkit.data.SyntheticSpec``)."""

    train_per_class: int
    val_per_class: int
    size: tuple[int, int]
    num_frames: int
    seed: int
    background: Literal["texture", "dark"]
    # a default, so configs saved without this key still load
    variant: Literal["motion", "long", "actors", "novel"] = "motion"


@dataclass(frozen=True)
class DataConfig:
    name: Literal[DATA_NAMES]  # Literal[("a", "b")] is Literal["a", "b"]: the loader checks the name against them
    root: str | None
    backend: Literal["pyav", "decord", "torchcodec"]
    num_frames: int
    interval_s: float
    crop_size: int
    train_scale: tuple[int, int]
    test_scale: int
    flip: bool | None
    batch_size: int
    workers: int
    synthetic: SyntheticConfig
    # Defaults here, so a config saved without these keys still loads and resumes.
    annotations: str | None = None
    videos: str | None = None
    flip_swap_labels: bool = False
    keyframe_offset_s: float = 0.0  # AVA: annotation time minus time in the video file (900 for the 15-minute cuts)
    test_frames: int | None = None  # segments per validation clip (CoViAR); None: the model's test recipe
    val_fraction: float = 0.1  # a folder without split folders: the share of each class held out for validation
    class_weights: Literal["none", "balanced"] = "none"
    sampler: Literal["random", "balanced"] = "random"

    def __post_init__(self) -> None:
        _check_range("data.batch_size", self.batch_size, minimum=1)
        _check_range("data.val_fraction", self.val_fraction, above=0)
        if not self.val_fraction < 1:
            raise ConfigError(f"data.val_fraction={self.val_fraction!r}: must be less than 1")
        if self.class_weights == "balanced" and self.sampler == "balanced":
            raise ConfigError(
                "data.class_weights=balanced and data.sampler=balanced: choose one (both would correct for the "
                "class sizes twice)"
            )
        _check_range("data.workers", self.workers, minimum=0)
        _check_range("data.num_frames", self.num_frames, minimum=1)
        if self.test_frames is not None:
            _check_range("data.test_frames", self.test_frames, minimum=1)
        _check_range("data.interval_s", self.interval_s, above=0)
        _check_range("data.crop_size", self.crop_size, minimum=1)
        _check_range("data.test_scale", self.test_scale, minimum=1)
        lo, hi = self.train_scale
        if not 1 <= lo <= hi:
            raise ConfigError(
                f"data.train_scale={list(self.train_scale)!r}: expected [LOW, HIGH] short sides with 1 <= LOW <= HIGH"
            )


@dataclass(frozen=True)
class ModelConfig:
    name: str
    weights: str | None
    options: dict[str, Any]
    # Parameter-name prefixes to keep fixed ("slow.stem", "backbone.res2"), or "backbone" (all but the
    # classifier); their BatchNorm statistics stay fixed too. A default, so saved configs still load.
    freeze: tuple[str, ...] | str = ()

    def __post_init__(self) -> None:
        freeze = (self.freeze,) if isinstance(self.freeze, str) else tuple(self.freeze)
        blank = [p for p in freeze if not p.strip()]
        if blank:
            raise ConfigError(f"model.freeze={list(freeze)!r}: an empty prefix would freeze everything")
        object.__setattr__(self, "freeze", freeze)


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["sgd", "adamw"]
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    warmup_epochs: float
    warmup_start_factor: float
    final_lr_factor: float
    label_smoothing: float
    clip_grad_norm: float | None
    # Defaults, so configs saved without these keys still load and resume.
    head_lr_mult: float = 1.0  # the classifier's learning rate, as a multiple of lr
    layer_decay: float = 1.0  # layer-wise lr decay: stage s of (stem, res2..res5, head) gets lr * layer_decay^(5-s)
    accumulate_steps: int = 1  # batches whose gradients are summed per optimiser step

    def __post_init__(self) -> None:
        _check_range("optim.lr", self.lr, above=0)
        _check_range("optim.head_lr_mult", self.head_lr_mult, above=0)
        _check_range("optim.layer_decay", self.layer_decay, above=0, maximum=1)
        _check_range("optim.accumulate_steps", self.accumulate_steps, minimum=1)
        _check_range("optim.momentum", self.momentum, minimum=0)
        _check_range("optim.weight_decay", self.weight_decay, minimum=0)
        _check_range("optim.warmup_epochs", self.warmup_epochs, minimum=0)
        _check_range("optim.label_smoothing", self.label_smoothing, minimum=0, maximum=1)
        if self.clip_grad_norm is not None:
            _check_range("optim.clip_grad_norm", self.clip_grad_norm, minimum=0)


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig
    data: DataConfig
    optim: OptimConfig
    epochs: int
    seed: int
    device: str
    amp: Literal["auto", "off", "bf16", "fp16"]
    channels_last: Literal["auto", "on", "off"]
    out: str | None
    checkpoint_every_steps: int
    log_every_steps: int
    wandb: bool
    wandb_project: str
    compile: bool = False  # defaults, so configs saved without these keys still load
    activation_checkpointing: bool = False
    patience: int = 0  # stop when the validation score has not improved for this many epochs (0: never)

    def __post_init__(self) -> None:
        _check_range("epochs", self.epochs, minimum=1)
        _check_range("patience", self.patience, minimum=0)
        _check_range("checkpoint_every_steps", self.checkpoint_every_steps, minimum=0)
        _check_range("log_every_steps", self.log_every_steps, minimum=1)


def check_options(args, *, at_least: dict[str, int] | None = None, above: dict[str, float] | None = None) -> None:
    """Refuse, in one line, a job's option that no run can use, before the job does any work:
    ``check_options(args, at_least={"top_k": 1}, above={"timeout": 0})`` gives ``--top-k -1: must be at
    least 1``. Options left unset (None) pass."""
    for dest, minimum in (at_least or {}).items():
        _check_option(dest, getattr(args, dest), minimum=minimum)
    for dest, bound in (above or {}).items():
        _check_option(dest, getattr(args, dest), above=bound)


def _check_option(dest: str, value: float | None, **bounds: float) -> None:
    reason = None if value is None else _out_of_range(value, **bounds)
    if reason:
        raise ConfigError(f"--{dest.replace('_', '-')} {value:g}: {reason}")


def _check_range(key: str, value: float, **bounds: float) -> None:
    """Refuse, in one line naming the key, a config value no run can use (checked as the config is
    built, so before any work): ``data.batch_size=0: must be at least 1``."""
    reason = _out_of_range(value, **bounds)
    if reason:
        raise ConfigError(f"{key}={value!r}: {reason}")


def _out_of_range(
    value: float, *, minimum: float | None = None, above: float | None = None, maximum: float | None = None
) -> str | None:
    # `not value >= minimum` rather than `value < minimum`: NaN is refused too
    if minimum is not None and not value >= minimum:
        return f"must be at least {minimum}"
    if above is not None and not value > above:
        return f"must be more than {above}"
    if maximum is not None and not value <= maximum:
        return f"must be at most {maximum}"
    return None


def config_file(*parts: str) -> Path | None:
    """A YAML file shipped in ``vidkit.configs`` (the checkout's ``configs/``), or None."""
    resource = importlib.resources.files("vidkit.configs").joinpath(*parts)
    return Path(str(resource)) if resource.is_file() else None


def load_train_config(
    files: Sequence[str | Path] = (),
    *,
    model: str | None = None,
    values: dict | None = None,
    overrides: Sequence[str] = (),
) -> TrainConfig:
    """Defaults, the preset of the model on the dataset (``configs/<data.name>/<model>.yaml``, if there
    is one), ``files``, ``values`` (nested, ``None`` = unset) and ``overrides`` (``"optim.lr=0.05"``),
    in that order.

    The model and the dataset may be named by any layer (``--model``, a ``--config`` file,
    ``--set model.name=...``), so the layers are read once without a preset to learn them, and again
    with it when one exists."""
    from vidkit.models import resolve

    if model is not None:
        model = resolve(model)  # an unknown name fails here, before anything is built
    values = dict(values or {})
    if model is not None:
        values["model"] = {**values.get("model", {}), "name": model}
    layers = [config_file("defaults.yaml"), *files]
    config = load_config(TrainConfig, layers, values=values, overrides=overrides)
    preset = config_file(config.data.name, f"{resolve(config.model.name)}.yaml")
    if preset is not None:
        config = load_config(TrainConfig, [layers[0], preset, *files], values=values, overrides=overrides)
    return config
