"""Loading a model for inference, in one call, with what it needs to be fed: its classes and its
recipe (frames, interval, crop, scale, the test views).

    loaded = load_model("run/best.pt")                        # a vidkit checkpoint names everything
    loaded = load_model("SLOWFAST_8x8_R50.pyth", model="slowfast_r50")   # peer weights: name the model
    loaded = load_model("kinetics400", model="slowfast_r50")  # published weights by name: labels and recipe too
    spec, preset = loaded.task.view_spec(loaded, views="10x3")

A vidkit checkpoint (``vidkit train``'s ``best.pt``/``last.pt``) builds its own model: its name, class
names, builder options and training clips are in the file. Any other weights (pytorchvideo, PySlowFast,
mmaction2, torchvision) need the model named, and their classifier's size decides the class count only
once it is known: :meth:`LoadedModel.build` then makes the model. Published weights named as the
registry lists them (:mod:`vidkit.models.pretrained`) bring their class names and their recipe (frames,
interval, scale, crop, normalisation, test views), which stand where a vidkit checkpoint's training
config would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidkit.errors import CheckpointError, ConfigError
from vidkit.utils import file_digest

if TYPE_CHECKING:  # torch is imported when a model is loaded, not when the command line is parsed
    import torch.nn as nn


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference and what is known about it. ``model`` is None for peer weights
    until :meth:`build` knows the class count; ``classes`` is None when the weights do not name them;
    ``config`` is the training config of a vidkit checkpoint (its data section is the recipe)."""

    model: nn.Module | None
    name: str
    path: str
    classes: tuple[str, ...] | None
    config: dict | None
    sha256: str
    weights: object = None  # peer weights, as read
    entry: object = None  # the published weights' registry entry (vidkit.models.pretrained.Weights), if named

    @property
    def recipe(self) -> dict:
        """The published weights' test recipe in the terms of a training config's data section
        (``num_frames``, ``interval_s``, ``crop_size``, ``test_scale``, ``mean``, ``std``, ``views``);
        empty for anything else."""
        if self.entry is None:
            return {}
        r = self.entry.recipe
        return {
            "num_frames": r.num_frames,
            "interval_s": r.interval_s,
            "crop_size": r.crop_size,
            "test_scale": r.short_side,
            "mean": r.mean,
            "std": r.std,
            "views": r.views,
            "channels": r.channels,
        }

    @property
    def task(self):
        """The model's task (:mod:`vidkit.engine.tasks`): how it is fed and read."""
        from vidkit.engine.tasks import task_for

        return task_for(self.name)

    @property
    def trained(self) -> dict:
        """The data section of the training config (clip settings, dataset), empty for peer weights."""
        return (self.config or {}).get("data") or {}

    @property
    def options(self) -> dict:
        """The builder options the model was trained with."""
        return dict(((self.config or {}).get("model") or {}).get("options") or {})

    def build(self, num_classes: int) -> nn.Module:
        """The model for peer weights with ``num_classes`` classes (the model itself when it is built
        already); errors name the weights file."""
        if self.model is not None:
            return self.model
        from vidkit.models import build

        try:
            return build(self.name, num_classes=num_classes, weights=self.weights)
        except CheckpointError as e:
            raise CheckpointError(self.path, e.reason) from None


def load_model(path: str | os.PathLike, *, model: str | None = None) -> LoadedModel:
    """A vidkit checkpoint builds its own model (name, classes, options from the file); any other
    weights need ``model`` and are built by :meth:`LoadedModel.build` once the class count is known.
    ``path`` may also name one of ``model``'s published weights (``"kinetics400"``), fetched once into the
    cache: their class names and recipe come with them."""
    from vidkit.models import build, resolve
    from vidkit.models.weights import checkpoint_build_options, read_checkpoint

    entry = None
    if model is not None:
        from vidkit.models.pretrained import weights_file

        path, entry = weights_file(resolve(model), path)
    path = os.fspath(path)
    saved = read_checkpoint(path)
    digest = file_digest(path)
    if isinstance(saved, dict) and "model_name" in saved and isinstance(saved.get("model"), dict):
        name = saved["model_name"]
        if model is not None and resolve(model) != resolve(name):
            raise ConfigError(f"--model {model}: {path} is a vidkit checkpoint of {name}")
        config = saved.get("config") or {}
        # and the options the weights were trained with (recorded, or the card's defaults for older files)
        options = {**((config.get("model") or {}).get("options") or {}), **checkpoint_build_options(saved)}
        net = build(name, num_classes=int(saved["num_classes"]), **options)
        try:
            net.load_state_dict(saved["model"])
        except RuntimeError as e:
            raise CheckpointError(path, f"does not fit {name} ({str(e).splitlines()[0]})") from None
        return LoadedModel(net, resolve(name), path, tuple(saved.get("classes") or ()) or None, config, digest)
    if model is None:
        raise ConfigError(
            f"{path} is not a vidkit training checkpoint, so it does not say which model it holds: "
            "name it with --model (e.g. --model slowfast_r50)"
        )
    classes = tuple(entry.classes()) if entry is not None else None
    return LoadedModel(None, resolve(model), path, classes, None, digest, weights=saved, entry=entry)


def load_for_inference(
    *,
    checkpoint: str | None = None,
    model: str | None = None,
    weights: str | None = None,
    classes: str | None = None,
) -> tuple[LoadedModel, nn.Module, list[str]]:
    """``(loaded, model, class names)`` for labelling whole videos (``vidkit tag``): a vidkit
    ``checkpoint``, or ``model`` with peer ``weights`` whose class names come from the ``classes``
    file (one per line, in index order) or, without one, are the classifier's row indices. A model
    whose task cannot label files (:meth:`vidkit.engine.tasks.Task.check_tagging`) is a one-line error."""
    if checkpoint and weights:
        raise ConfigError("give --checkpoint (a vidkit checkpoint) or --model with --weights, not both")
    if not (checkpoint or (model and weights)):
        raise ConfigError(
            "name the model: --checkpoint run/best.pt, or --model NAME --weights NAME|FILE [--classes FILE] "
            "(published weights by name: `vidkit models --weights`)"
        )
    loaded = load_model(checkpoint or weights, model=model)  # peer weights are read once, here
    loaded.task.check_tagging(loaded)
    if loaded.model is not None:
        names = list(loaded.classes or [str(i) for i in range(_classifier_size(loaded.model))])
        return loaded, loaded.model, names
    if classes:
        try:
            names = [line.strip() for line in Path(classes).read_text().splitlines() if line.strip()]
        except OSError as e:
            raise ConfigError(f"--classes {classes}: {e.strerror}") from None
    elif loaded.classes is not None:  # published weights: their label set, in the publisher's order
        names = list(loaded.classes)
    else:
        from vidkit.models.weights import classifier_classes

        count = classifier_classes(loaded.weights)
        if count is None:
            raise ConfigError(f"{loaded.path}: cannot tell the number of classes; list them with --classes FILE")
        names = [str(i) for i in range(count)]
    return loaded, loaded.build(len(names)), names


def _classifier_size(model: nn.Module) -> int:
    import torch.nn as nn

    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features


__all__ = ["LoadedModel", "load_for_inference", "load_model"]
