"""The model registry: a name maps to a builder and a small card of facts about it (timm's and
torchvision's way: the default input and the paper are data next to the builder)."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
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
    input_kind: str = (
        "rgb"  # "rgb" clips, or "compressed": I-frames, motion vectors, residuals (vidkit.data.compressed)
    )
    # "clip": input_frames consecutive frames a fixed interval apart; "segments": input_frames frames
    # spread over the whole video, one per TSN segment (AdaFrame's candidate frames)
    sampling: str = "clip"
    # "video": one label per clip (logits [B, num_classes]); "persons": labels per person box, multi-label
    # (the Action Transformer: model(clip, boxes), trained on AVA-format data and scored by frame mAP)
    task: str = "video"

    @property
    def input_channels(self) -> int:
        return 8 if self.input_kind == "compressed" else 3

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
    input_kind: str = "rgb",
    sampling: str = "clip",
    task: str = "video",
):
    """Register a keyword-only builder under its function name (and ``aliases``) with its card; a
    duplicate name raises. ``@register_model`` alone works; so does ``@register_model(aliases=..., ...)``."""

    def register(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        for name in (builder.__name__, *aliases):
            if name in _CARDS or name in _ALIASES:
                raise ValueError(f"model name {name!r} is registered twice")
        for alias in aliases:
            _ALIASES[alias] = builder.__name__
        if input_kind not in ("rgb", "compressed"):
            raise ValueError(f"input_kind must be 'rgb' or 'compressed', not {input_kind!r}")
        if sampling not in ("clip", "segments"):
            raise ValueError(f"sampling must be 'clip' or 'segments', not {sampling!r}")
        if task not in ("video", "persons"):
            raise ValueError(f"task must be 'video' or 'persons', not {task!r}")
        _CARDS[builder.__name__] = ModelCard(
            builder.__name__, builder, tuple(aliases), input_frames, input_size, paper, input_kind, sampling, task
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


def build(
    name: str, *, num_classes: int, weights: str | os.PathLike | Mapping[str, Any] | None = None, **overrides
) -> nn.Module:
    """Build a registered model: ``build("r2plus1d_18", num_classes=8)``. ``None`` overrides are
    dropped so the builder's defaults stand; an argument the builder does not take is an error.

    ``weights`` (a checkpoint file, or a loaded checkpoint/state dict) is loaded into the model:
    vidkit's own checkpoints, pytorchvideo's and PySlowFast's model-zoo files (see
    :func:`vidkit.models.weights.load_weights`). ``None`` keeps the fresh initialisation."""
    registered = resolve(name)
    builder = _CARDS[registered].builder
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"model {name!r} takes no argument(s) {', '.join(unknown)}; "
            f"it takes {', '.join(p for p in accepted if p != 'num_classes')}"
        )
    model = builder(num_classes=num_classes, **kwargs)
    if weights is not None:
        from vidkit.models.weights import load_weights

        load_weights(model, weights, model_name=registered)
    return model


def model_card(name: str) -> ModelCard:
    """The card of a registered model (an alias works too)."""
    return _CARDS[resolve(name)]


def list_models() -> list[str]:
    """Every registered name (aliases not included), sorted."""
    return sorted(_CARDS)
