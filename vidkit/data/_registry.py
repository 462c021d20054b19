"""The dataset registry's storage: each name ``--data`` accepts, its kind and, for a downloaded
format, the function that reads it.

The format readers register their names here as they are imported; :mod:`vidkit.data.registry` is
the public face, which imports every built-in reader so that the names are complete. This module
imports no reader, so a reader can import it without a cycle.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from vidkit.data._catalog import Catalog
from vidkit.errors import ConfigError

# "downloaded": a dataset as its makers distribute it, read by vidkit.data.catalog.open_catalog;
# "synthetic": the built-in rendered set; "persons": AVA-format person boxes (vidkit.data.ava).
KINDS = ("downloaded", "synthetic", "persons")

# The built-in names in the order --data lists them (help texts and error messages show this order).
# Registration order follows import order, which the readers' imports of one another decide (Kinetics
# imports the list reader), so the order is written down here; other names follow in the order registered.
_BUILTIN_ORDER = (
    "synthetic",
    "kinetics400",
    "kinetics600",
    "kinetics700",
    "kinetics",
    "ssv2",
    "folder",
    "list",
    "ava",
    "synthetic-actors",
)
_RANK = {name: i for i, name in enumerate(_BUILTIN_ORDER)}


@dataclass(frozen=True)
class DatasetInfo:
    """A name ``--data`` accepts.

    ``open_catalog(name, *, root, annotations, videos, split)`` reads one split of a downloaded dataset
    into a :class:`~vidkit.data.catalog.Catalog`; it gets the arguments already checked by
    :func:`vidkit.data.catalog.open_catalog` (folders absolute and existing, ``split`` canonical).
    ``default_views`` is the multi-view test preset ``vidkit eval`` uses unless ``--views`` says
    otherwise (SSv2's 2 clips x 3 crops, Kinetics' 10 x 3 for the rest)."""

    name: str
    kind: str
    open_catalog: Callable[..., Catalog] | None = None
    default_views: str = "kinetics"


_DATASETS: dict[str, DatasetInfo] = {}


def register_dataset(
    name: str, *, kind: str, open_catalog: Callable[..., Catalog] | None = None, default_views: str = "kinetics"
) -> DatasetInfo:
    """Register ``name`` as a dataset of ``kind`` (one of :data:`KINDS`); a downloaded format needs its
    ``open_catalog``, the others have none. A name registered twice raises :class:`ValueError`."""
    if name in _DATASETS:
        raise ValueError(f"dataset name {name!r} is registered twice")
    if kind not in KINDS:
        raise ValueError(f"dataset {name!r}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if (open_catalog is not None) != (kind == "downloaded"):
        raise ValueError(f"dataset {name!r}: a downloaded dataset, and only one, takes open_catalog")
    info = DatasetInfo(name, kind, open_catalog, default_views)
    _DATASETS[name] = info
    return info


def dataset_names(kind: str | None = None) -> tuple[str, ...]:
    """Every registered name, or those of one ``kind``: the built-in ones in the order ``--data``
    lists them, then any other in the order registered."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    names = sorted(_DATASETS, key=lambda name: _RANK.get(name, len(_RANK)))
    return tuple(name for name in names if kind is None or _DATASETS[name].kind == kind)


def dataset_info(name: str) -> DatasetInfo:
    """What the registry knows of ``name``; a one-line :class:`ConfigError` with a suggestion when it
    knows nothing."""
    info = _DATASETS.get(name)
    if info is None:
        known = dataset_names()
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown dataset {name!r}{hint} (--data takes {', '.join(known)})")
    return info


__all__ = ["KINDS", "DatasetInfo", "dataset_info", "dataset_names", "register_dataset"]
