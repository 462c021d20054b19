"""The model registry: a name maps to a builder, and nothing else (timm's and torchvision's way)."""

from __future__ import annotations

import difflib
import inspect
from typing import Callable

import torch.nn as nn

from vidkit.errors import ConfigError

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_ALIASES: dict[str, str] = {}


def register_model(fn: Callable[..., nn.Module] | None = None, *, aliases: tuple[str, ...] = ()):
    """Register a keyword-only builder under its function name (and ``aliases``); a duplicate name raises."""

    def register(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        for name in (builder.__name__, *aliases):
            if name in _BUILDERS or name in _ALIASES:
                raise ValueError(f"model name {name!r} is registered twice")
        _BUILDERS[builder.__name__] = builder
        for alias in aliases:
            _ALIASES[alias] = builder.__name__
        return builder

    return register(fn) if fn is not None else register


def resolve(name: str) -> str:
    """The registered name behind ``name`` (an alias such as ``slowfast`` included)."""
    name = _ALIASES.get(name, name)
    if name not in _BUILDERS:
        known = sorted([*_BUILDERS, *_ALIASES])
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown model {name!r}{hint} (vidkit models lists them: {', '.join(sorted(_BUILDERS))})")
    return name


def build(name: str, *, num_classes: int, **overrides) -> nn.Module:
    """Build a registered model: ``build("r2plus1d_18", num_classes=8)``. ``None`` overrides are
    dropped so the builder's defaults stand; an argument the builder does not take is an error."""
    builder = _BUILDERS[resolve(name)]
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(f"model {name!r} takes no argument(s) {', '.join(unknown)}; it takes {', '.join(p for p in accepted if p != 'num_classes')}")
    return builder(num_classes=num_classes, **kwargs)


def list_models() -> list[str]:
    return sorted(_BUILDERS)
