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
    variant: Literal["motion", "long", "actors"] = "motion"  # a default, so configs saved without this key still load


@dataclass(frozen=True)
class DataConfig:
    name: Literal[DATA_NAMES]  # Literal[("a", "b")] is Literal["a", "b"]: the loader checks the name against them
    root: str | None
    backend: Literal["pyav", "decord"]
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


@dataclass(frozen=True)
class ModelConfig:
    name: str
    weights: str | None
    options: dict[str, Any]


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
