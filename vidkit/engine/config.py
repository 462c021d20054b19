"""Typed configuration from YAML and dotted command-line overrides, turned into dataclasses once.

A config schema is a tree of dataclasses whose fields have defaults. :func:`load_config` starts
from the defaults, merges YAML files in order, then ``--set`` overrides (``optim.lr=0.05``; the
value is read as YAML, so ``[32, 40]``, ``true`` and ``null`` work), and checks every key and value
against the schema's type hints: an unknown key or a bad value is a one-line :class:`ConfigError`
that names the valid keys or choices. From there on code takes plain typed values; nothing else
reads the YAML.

>>> @dataclass
... class Optim:
...     lr: float = 0.1
...     name: Literal["sgd", "adamw"] = "sgd"
>>> @dataclass
... class Config:
...     optim: Optim = field(default_factory=Optim)
>>> load_config(Config, overrides=["optim.lr=0.05"]).optim.lr
0.05
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from vidkit.errors import ConfigError

T = TypeVar("T")


def load_config(
    schema: type[T],
    files: Sequence[str | Path] = (),
    *,
    base: dict | None = None,
    values: dict | None = None,
    overrides: Sequence[str] = (),
) -> T:
    """Build ``schema`` from ``base`` (a nested dict, e.g. a saved config), then ``files`` (YAML, in
    order), then ``values`` (a nested dict from dedicated CLI flags; ``None`` leaves are skipped),
    then ``overrides`` (``"section.key=value"`` strings)."""
    import copy

    import yaml

    merged: dict = copy.deepcopy(base) if base else {}
    for file in files:
        try:
            data = yaml.safe_load(Path(file).read_text())
        except OSError as e:
            raise ConfigError(f"{file}: cannot read config ({e.strerror})") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{file}: not valid YAML ({str(e).splitlines()[0]})") from None
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: a config file holds a mapping of keys to values, got {type(data).__name__}")
        _merge(merged, data)
    if values:
        _merge(merged, _drop_none(values))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: write it as KEY=VALUE, e.g. optim.lr=0.05")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        node = merged
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is a value, not a section")
        node[parts[-1]] = value
    return from_dict(schema, merged)


def from_dict(schema: type[T], data: dict, *, prefix: str = "") -> T:
    """``schema(**data)`` with every key checked and every value converted to its field's type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a section (a mapping), got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(schema)}
    hints = typing.get_type_hints(schema)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" — did you mean '{prefix}{close[0]}'?" if close else ""
            raise ConfigError(
                f"unknown config key '{prefix}{key}'{hint} (valid: {', '.join(prefix + k for k in fields)})"
            )
    missing = [
        name
        for name, f in fields.items()
        if name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing config key(s) {', '.join(prefix + k for k in missing)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(value, hints[name], f"{prefix}{name}")
    return schema(**kwargs)


def to_dict(config: Any) -> dict:
    """The config as plain YAML/JSON values (tuples become lists)."""

    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def _convert(value: Any, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, {} if value is None else value, prefix=f"{key}.")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, key)
            except ConfigError as e:
                errors.append(e)
        raise errors[0]
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}={value!r} is not a valid choice; choose one of {', '.join(map(str, args))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(
                f"{key}={value!r}: expected a list like [{', '.join('…' for _ in args if _ is not Ellipsis)}]"
            )
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{key}={value!r}: expected {len(args)} values")
        return tuple(_convert(v, a, key) for v, a in zip(value, args))
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r}: expected a mapping of names to values")
        return dict(value)
    if kind is Any:
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r}: expected true or false")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r}: expected a whole number")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-9 (no dot) as a string: take it as the number it means
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}={value!r}: expected a number")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}={value!r}: expected a string")
    raise TypeError(f"config field {key} has a type the loader does not handle: {kind!r}")


def _merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _drop_none(values: dict) -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _drop_none(value)
            if value:
                out[key] = value
        elif value is not None:
            out[key] = value
    return out
