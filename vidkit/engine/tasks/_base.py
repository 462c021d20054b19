"""The :class:`Task` interface, the registry of tasks, and the plain records the jobs fill in for them."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vidkit.errors import ConfigError

if TYPE_CHECKING:
    import torch
    import torch.nn as nn


@dataclass(frozen=True)
class ClipSettings:
    """How training clips are cut and augmented: the data section of a training config, resolved
    (``flip`` decided: flipped clips with their labels swapped count as flipped)."""

    data_name: str
    num_frames: int
    interval_s: float
    crop_size: int
    train_scale: tuple[int, int]
    test_scale: int
    backend: str
    seed: int
    flip: bool = False
    keyframe_offset_s: float = 0.0
    test_frames: int | None = None  # frames (segments) per validation clip; None: num_frames
    model_options: dict = field(default_factory=dict)  # the model's builder options (e.g. AdaFrame's snippet)


@dataclass(frozen=True)
class TrainData:
    """What :class:`~vidkit.engine.trainer.Trainer` learns from: the class names, the two splits, the
    batched transform and the objective (:mod:`vidkit.engine.objectives`)."""

    classes: list[str]
    train_set: Any
    val_set: Any
    transform: Any
    objective: Any


@dataclass(frozen=True)
class EvalRequest:
    """What ``vidkit eval`` was asked, as plain values (None: the checkpoint's or the task's default)."""

    data: str | None = None
    data_root: str | None = None
    annotations: str | None = None
    videos: str | None = None
    split: str = "val"
    views: str | None = None
    num_frames: int | None = None
    interval_s: float | None = None
    sampling_rate: int | None = None
    target_fps: float = 30.0
    crop_size: int | None = None
    test_scale: int | None = None
    aggregate: str = "softmax"
    batch_size: int = 32
    workers: int | None = None
    backend: str = "pyav"
    timeout_s: float = 60.0
    limit: int | None = None
    device: str = "auto"
    boxes: str | None = None
    min_score: float = 0.0
    detections_per_keyframe: int | None = 50  # AVA: the official evaluator's cap; None: all (PySlowFast)
    out: str | None = None


class Task:
    """How the models of one kind of input are fed and read. Subclasses override what differs;
    :func:`~vidkit.engine.tasks.register_task` names them. The defaults here are those of RGB clip
    classification."""

    name = "video"
    workers_run_the_model = False  # tagging: the decoding workers only decode (else they need the model)
    segments = False  # test views: num_frames frames over the whole video (one temporal clip), not clips
    test_frames = False  # validation clips take data.test_frames segments (the compressed domain's TSN testing)

    # -- training ----------------------------------------------------------------------------------
    def check_data(self, dataset, *, data_name: str, model_name: str) -> None:
        """Raise :class:`~vidkit.errors.ConfigError` when ``dataset`` is not what this task's models
        learn from (here: per-person labels, which a model of whole clips cannot use)."""
        if has_person_boxes(dataset, data_name):
            raise ConfigError(
                f"{data_name} data has person boxes and per-person labels; {model_name} classifies "
                f"whole clips (person models: action_transformer, i3d_roi_head)"
            )

    def train_data(self, dataset, settings: ClipSettings, *, model_name: str) -> TrainData:
        """The training and validation data of ``dataset`` (``classes``, ``samples(split)``; checked
        by :meth:`check_data`) for ``model_name``, clips cut as ``settings`` say."""
        raise NotImplementedError

    # -- test views ----------------------------------------------------------------------------------
    def view_spec(
        self,
        loaded,
        *,
        views: str | None = None,
        default_preset: str = "kinetics",
        num_frames: int | None = None,
        interval_s: float | None = None,
        sampling_rate: int | None = None,
        target_fps: float = 30.0,
        crop_size: int | None = None,
        test_scale: int | None = None,
    ):
        """The views to test ``loaded`` (:class:`~vidkit.engine.inference.LoadedModel`) with, and the
        preset's name (or ``"NxM"``): the arguments override the clip settings the model was trained
        with, or the recipe its published weights came with, which override its card's default input."""
        from vidkit.data.views import ViewSpec, parse_views
        from vidkit.models import model_card

        recipe = loaded.recipe
        preset = views or recipe.get("views") or default_preset
        clips, crops = parse_views(preset)
        trained = loaded.trained or recipe
        card = model_card(loaded.name)
        # Published weights tested TSN's way (TSM, SSv2 models): frames over the whole video, unless told.
        segments = self.segments or (
            bool(recipe) and recipe.get("interval_s") is None and interval_s is None and sampling_rate is None
        )
        if segments:  # frames over the whole video: one temporal clip, the crops as asked
            clips = 1
        num_frames = num_frames or trained.get("num_frames") or card.input_frames
        crop = crop_size or trained.get("crop_size") or card.input_size
        test_scale = test_scale or recipe.get("test_scale")
        if sampling_rate is not None:
            interval = sampling_rate / target_fps
        else:
            interval = interval_s or trained.get("interval_s") or (1.0 if segments else None)
        if not num_frames or not crop or not interval:
            raise ConfigError(
                f"{loaded.name}: say how clips are cut — --num-frames, --interval-s (or --sampling-rate) and "
                "--crop-size (a vidkit checkpoint carries them; these weights do not)"
            )
        try:
            spec = ViewSpec(
                num_clips=clips,
                num_crops=crops,
                num_frames=int(num_frames),
                interval_s=float(interval),
                crop_size=int(crop),
                test_scale=int(test_scale or crop),
                segments=segments,
                snippet=int(loaded.options.get("snippet", 1)),
            )
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return spec, preset

    def test_transform(self, loaded):
        """What turns decoded, cropped test views into the model's input (``.normalize(views)``), in
        evaluation and tagging: here RGB normalised with the Kinetics mean and standard deviation, or
        with those the published weights were trained with."""
        from vidkit.data.transforms import ClipTransform

        recipe = loaded.recipe
        if "mean" in recipe:
            return ClipTransform(mean=tuple(recipe["mean"]), std=tuple(recipe["std"]), channels=recipe["channels"])
        return ClipTransform()

    # -- evaluation -----------------------------------------------------------------------------------
    def evaluate(self, loaded, request: EvalRequest) -> dict | None:
        """Test ``loaded`` as ``request`` says and write the report (rank 0); the results, or None on
        other ranks."""
        raise NotImplementedError

    # -- labelling files ------------------------------------------------------------------------------
    def check_tagging(self, loaded) -> None:
        """Raise :class:`~vidkit.errors.ConfigError` when this task's models cannot label whole files."""

    def check_segments(self, loaded, segment_s: float | None) -> None:
        """Raise :class:`~vidkit.errors.ConfigError` when ``--segments`` does not apply."""

    def check_extracting(self, loaded) -> None:
        """Raise :class:`~vidkit.errors.ConfigError` when ``vidkit extract`` cannot read this task's models'
        features from decoded clips (after :meth:`check_tagging`, which it also applies)."""

    def check_watching(self, loaded) -> None:
        """Raise :class:`~vidkit.errors.ConfigError` when ``vidkit watch`` cannot label a live source with this
        task's models, window by window (after :meth:`check_tagging`, which it also applies)."""

    def tagging_device(self, device: torch.device) -> torch.device:
        """Where the model runs while tagging."""
        return device

    def describe_tagging(self, model: nn.Module, spec) -> str:
        """What each file gets, for the line ``vidkit tag`` starts with."""
        return f"{spec.num_clips}x{spec.num_crops} views of {spec.num_frames} frames"

    def tagging_worker(
        self,
        model: nn.Module,
        spec,
        *,
        segment_s: float | None,
        stride_s: float | None,
        backend: str,
        timeout_s: float,
    ) -> Callable:
        """The function the crash-isolated workers run per file (``fn(path, beat)``, a generator of
        what :class:`~vidkit.engine.tagger.Tagger` takes); picklable."""
        from vidkit.engine.tagger import decode_worker

        return functools.partial(
            decode_worker, spec=spec, segment_s=segment_s, stride_s=stride_s, backend=backend, timeout_s=timeout_s
        )


_TASKS: dict[str, Task] = {}


def register_task(name: str):
    """Class decorator: register a :class:`Task` subclass under ``name`` (one instance serves every
    model naming it); a duplicate name raises."""

    def register(cls: type[Task]) -> type[Task]:
        if name in _TASKS:
            raise ValueError(f"task {name!r} is registered twice")
        cls.name = name
        _TASKS[name] = cls()
        return cls

    return register


def get_task(name: str) -> Task:
    """The task registered as ``name``."""
    if name not in _TASKS:
        close = difflib.get_close_matches(name, list(_TASKS), n=1)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"no task {name!r}{hint} (registered: {', '.join(sorted(_TASKS))})")
    return _TASKS[name]


def task_for(model: str) -> Task:
    """The task of a registered model (a name or an alias): the one its card names."""
    from vidkit.models import model_card

    card = model_card(model)
    try:
        return get_task(card.task)
    except KeyError as e:
        raise ConfigError(f"model {card.name}: {e.args[0]}") from None


def list_tasks() -> list[str]:
    return sorted(_TASKS)


def has_person_boxes(dataset, data_name: str) -> bool:
    """Whether ``dataset`` is AVA-format data: person boxes and per-person labels."""
    return data_name == "ava" or getattr(getattr(dataset, "spec", None), "variant", None) == "actors"


__all__ = [
    "ClipSettings",
    "EvalRequest",
    "Task",
    "TrainData",
    "get_task",
    "has_person_boxes",
    "list_tasks",
    "register_task",
    "task_for",
]
