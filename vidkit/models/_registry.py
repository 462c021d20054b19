"""The registry's tables (private): a name maps to a builder and a small card of facts about it; aliases
map to names. :mod:`vidkit.models.registry` adds :func:`~vidkit.models.registry.build` on top; this
module imports no other part of vidkit.models, so the checkpoint loader can resolve names too."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from typing import Any

import torch.nn as nn

from vidkit.errors import ConfigError

_ALIASES: dict[str, str] = {}
_CARDS: dict[str, ModelCard] = {}


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What the registry knows about a model besides how to build it.

    ``input_frames`` × ``input_size``² is the clip its complexity (GFLOPs) is quoted at — the paper's
    protocol, e.g. 32 frames at 256² for SlowFast — not a limit on what it accepts."""

    name: str
    builder: Callable[..., nn.Module]
    aliases: tuple[str, ...] = ()
    input_frames: int | None = None
    input_size: int | None = None
    paper: str = ""
    input_channels: int = 3  # channels of the input tensor: 3 for RGB, 8 for CoViAR's packed streams
    # The task (vidkit.engine.tasks) that knows how the model is fed and read: "video" (RGB clips, one
    # label per clip), "adaptive" (candidate frames over the whole video, a policy choosing among them),
    # "compressed" (I-frames, motion vectors, residuals), "persons" (labels per person box), or a task
    # registered by the code that registers the model.
    task: str = "video"
    # Builder options that decide what the weights compute and that vidkit's checkpoints written before
    # they recorded them (``model_options``) were trained with: i3d_r50's replicate padding, its old default.
    checkpoint_defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    # Frames (TSN segments) per clip when testing, where the paper tests with more than it trains on
    # (CoViAR: 3 in training, 25 in testing); None: as many as in training.
    test_frames: int | None = None

    @property
    def input_shape(self) -> tuple[int, int, int, int, int] | None:
        """``(1, C, T, H, W)``: one clip at the default input, or None when the card has none."""
        if self.input_frames is None or self.input_size is None:
            return None
        return (1, self.input_channels, self.input_frames, self.input_size, self.input_size)


def register_model(
    fn: Callable[..., nn.Module] | None = None,
    *,
    aliases: tuple[str, ...] = (),
    input_frames: int | None = None,
    input_size: int | None = None,
    paper: str = "",
    input_channels: int = 3,
    task: str = "video",
    checkpoint_defaults: Mapping[str, Any] | None = None,
    test_frames: int | None = None,
):
    """Register a keyword-only builder under its function name (and ``aliases``) with its card; a
    duplicate name raises. ``@register_model`` alone works; so does ``@register_model(aliases=..., ...)``."""

    def register(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        for name in (builder.__name__, *aliases):
            if name in _CARDS or name in _ALIASES:
                raise ValueError(f"model name {name!r} is registered twice")
        if not isinstance(task, str) or not task:
            raise ValueError(f"task must name a task (vidkit.engine.tasks), not {task!r}")
        for alias in aliases:
            _ALIASES[alias] = builder.__name__
        _CARDS[builder.__name__] = ModelCard(
            builder.__name__,
            builder,
            tuple(aliases),
            input_frames,
            input_size,
            paper,
            input_channels,
            task,
            checkpoint_defaults=dict(checkpoint_defaults or {}),
            test_frames=test_frames,
        )
        return builder

    return register(fn) if fn is not None else register


def resolve(name: str) -> str:
    """The registered name behind ``name`` (an alias such as ``slowfast`` included)."""
    name = _ALIASES.get(name, name)
    if name not in _CARDS:
        known = sorted([*_CARDS, *_ALIASES])
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown model {name!r}{hint} (vidkit models lists them: {', '.join(sorted(_CARDS))})")
    return name


def model_card(name: str) -> ModelCard:
    """The card of a registered model (an alias works too)."""
    return _CARDS[resolve(name)]


def list_models() -> list[str]:
    """Every registered name (aliases not included), sorted."""
    return sorted(_CARDS)
