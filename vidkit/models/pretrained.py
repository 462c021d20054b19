"""Pretrained weights by name: each entry binds a published file (its URLs, hash and layout) to its labels,
its input recipe and its published accuracy, as torchvision's ``Weights`` do.

    entry = get_weights("slowfast_r50", "kinetics400")
    entry.recipe.num_frames, entry.recipe.interval_s      # 32 frames, 2/30 s apart
    entry.classes()[:2]                                    # ['abseiling', 'air drumming']
    path = entry.fetch()                                   # $VIDKIT_CACHE/weights/SLOWFAST_8x8_R50.pyth
    model = build("slowfast_r50", num_classes=400, weights="kinetics400")

The entries ship inside the package (``vidkit/models/weights_data/entries.json``, the class names in
``weights_data/labels/``; where every value comes from: ``weights_data/SOURCES.md``). A site adds its own
in a JSON file of the same form named by ``VIDKIT_WEIGHTS_ENTRIES`` (``"labels"`` may then be a path to a
text file of class names, one per line, or the list of names itself). Files are downloaded once, into
``$VIDKIT_CACHE/weights/``, verified and resumed as :func:`vidkit.utils.download.fetch` does; offline
(``VIDKIT_OFFLINE=1``) a missing file is one line naming its URL and where to put it by hand.
"""

from __future__ import annotations

import dataclasses
import json
import os
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

from vidkit.errors import ConfigError
from vidkit.models._registry import resolve

__all__ = ["Recipe", "Weights", "get_weights", "list_weights", "weights_file", "weights_named"]

_DATA = Path(__file__).with_name("weights_data")
_LAYOUTS = ("pytorchvideo", "pyslowfast-pyth", "pyslowfast-caffe2", "torchvision", "mmaction2", "tsm")
# Layouts vidkit's converters read today (vidkit.models.weights); the others are listed, not loaded.
LOADABLE_LAYOUTS = frozenset(
    {"pytorchvideo", "pyslowfast-pyth", "pyslowfast-caffe2", "torchvision", "mmaction2", "tsm"}
)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How the weights were tested: ``num_frames`` frames ``interval_s`` seconds apart (``sampling_rate``
    frames at ``fps``, PySlowFast's terms, where published so; None: spread over the whole video, one per
    segment, as TSN and TSM sample), the short side scaled to ``short_side``, ``crop_size`` crops, RGB in
    0..1 normalised by ``mean``/``std`` (then ``channels`` reversed for ``"BGR"`` networks), ``views``
    (``"10x3"``: clips x crops)."""

    num_frames: int
    interval_s: float | None
    short_side: int
    crop_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    views: str
    sampling_rate: int | None = None
    fps: float | None = None
    channels: str = "RGB"  # "BGR" for networks trained on channels reversed after normalising

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        rate, fps, interval = d.get("sampling_rate"), d.get("fps"), d.get("interval_s")
        if interval is None and rate and fps:
            interval = rate / fps
        return cls(
            num_frames=int(d["num_frames"]),
            interval_s=float(interval) if interval else None,
            short_side=int(d["short_side"]),
            crop_size=int(d["crop_size"]),
            mean=tuple(float(x) for x in d["mean"]),
            std=tuple(float(x) for x in d["std"]),
            views=str(d["views"]),
            sampling_rate=int(rate) if rate else None,
            fps=float(fps) if fps else None,
            channels={"RGB": "RGB", "BGR": "BGR"}[d.get("channels", "RGB")],
        )

    def describe(self) -> str:
        """``32 frames every 2 at 30 fps, short side 256, 256 crop, 10x3 views``."""
        if self.sampling_rate and self.fps:
            spacing = f"every {self.sampling_rate} at {self.fps:g} fps"
        elif self.interval_s:
            spacing = f"{self.interval_s:.3g} s apart"
        else:
            spacing = "one per segment"
        return (
            f"{self.num_frames} frames {spacing}, short side {self.short_side}, "
            f"{self.crop_size} crop, {self.views} views" + (", BGR" if self.channels == "BGR" else "")
        )


@dataclasses.dataclass(frozen=True)
class Weights:
    """One published file for one model. ``name`` is what a user types (``--weights kinetics400``);
    ``labels`` names the class list (a file in ``weights_data/labels/``, a path, or the names). ``model``
    is ``""`` for a published file no vidkit model takes yet (listed, not usable)."""

    model: str
    name: str
    urls: tuple[str, ...]
    layout: str
    labels: str | tuple[str, ...]
    num_classes: int
    recipe: Recipe
    sha256: str | None = None
    hash_prefix: str | None = None
    params: int | None = None
    accuracy: dict = dataclasses.field(default_factory=dict)
    source: str = ""
    notes: str = ""
    usable: bool = True  # False: listed, but vidkit's model differs from the one the file was trained in

    @property
    def filename(self) -> str:
        """The file's name: the last part of its first URL."""
        return os.path.basename(urlparse(self.urls[0]).path)

    @property
    def cache_path(self) -> Path:
        """Where the file is kept: ``$VIDKIT_CACHE/weights/<host>/<URL path>``, so that two publishers'
        files of one name (pytorchvideo's Kinetics and SSv2 ``SLOWFAST_8x8_R50.pyth``) never meet."""
        from vidkit.utils.download import weights_dir

        url = urlparse(self.urls[0])
        return weights_dir().joinpath(url.hostname or "local", *[p for p in url.path.split("/") if p])

    @property
    def loadable(self) -> bool:
        """Whether vidkit reads this file today: its layout has converters, and the entry is not marked
        otherwise (PySlowFast's C2D_NOPOOL: the blobs load, but vidkit's C2D pools where it does not)."""
        return self.layout in LOADABLE_LAYOUTS and self.usable

    @property
    def label_set(self) -> str:
        """The label set's name, for listings: the file stem, or ``"custom"``."""
        if isinstance(self.labels, str):
            return Path(self.labels).stem
        return "custom"

    def classes(self) -> list[str]:
        """The class names, in the publisher's order (the classifier's rows)."""
        if isinstance(self.labels, tuple):
            return list(self.labels)
        path = Path(self.labels) if _names_a_file(self.labels) else _DATA / "labels" / f"{self.labels}.txt"
        try:
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as e:
            raise ConfigError(f"{self.model} weights {self.name!r}: labels {path}: {e.strerror}") from None
        if len(names) != self.num_classes:
            raise ConfigError(f"{path}: {len(names)} class names for {self.num_classes} classes")
        return names

    def fetch(self, *, progress: bool = True) -> Path:
        """The file in ``$VIDKIT_CACHE/weights/``, downloaded there first when missing (verified by its
        hash where published; resumed after a cut connection). Raises
        :class:`vidkit.utils.download.DownloadError` in one line when it cannot be had."""
        from vidkit.utils.download import fetch

        if not self.loadable:
            why = f"the {self.layout} layout, which vidkit does not read yet" if self.usable else self.notes
            raise ConfigError(f"{self.model} weights {self.name!r} ({self.filename}): {why}")
        path = self.cache_path
        return fetch(
            self.urls[0],
            dest_dir=path.parent,
            filename=path.name,
            sha256=self.sha256,
            hash_prefix=self.hash_prefix,
            progress=progress,
        )


def list_weights(model: str | None = None) -> list[Weights]:
    """Every entry (shipped, then ``VIDKIT_WEIGHTS_ENTRIES``'s), or those of ``model`` (aliases resolved)."""
    entries = [*_shipped(), *_extra(os.environ.get("VIDKIT_WEIGHTS_ENTRIES", ""))]
    if model is None:
        return entries
    name = resolve(model)
    return [e for e in entries if e.model == name]


def get_weights(model: str, name: str) -> Weights:
    """The entry ``name`` of ``model``; a :class:`ConfigError` listing the model's entries otherwise."""
    found = weights_named(model, name)
    if found is None:
        names = [e.name for e in list_weights(model)]
        known = f"its entries: {', '.join(names)}" if names else "it has no published weights listed"
        raise ConfigError(f"{resolve(model)} has no weights named {name!r} ({known}; `vidkit models --weights`)")
    return found


def weights_named(model: str, name: str) -> Weights | None:
    """The entry ``name`` of ``model``, or None (a path, say)."""
    return next((e for e in list_weights(model) if e.name == name), None)


def weights_file(model: str, weights: str | os.PathLike) -> tuple[str, Weights | None]:
    """``(path, entry)`` for what a user gave as ``--weights``: an existing file as it is (no entry); the
    name of one of ``model``'s entries, its file (downloaded into the cache when missing) and the entry;
    anything else that looks like a path, as it is (reading it says what is wrong). A bare word that names
    no entry is a :class:`ConfigError` listing the model's entries."""
    given = os.fspath(weights)
    if os.path.exists(given):
        return given, None
    entry = weights_named(model, given)
    if entry is None and (os.sep in given or "." in given):
        return given, None
    entry = entry or get_weights(model, given)  # a bare word no entry has: the error lists the entries
    return str(entry.fetch()), entry


def _names_a_file(labels: str) -> bool:
    """Whether an entry's ``labels`` is a file of class names rather than a shipped label set's name."""
    return os.sep in labels or labels.endswith(".txt")


@cache
def _shipped() -> tuple[Weights, ...]:
    return tuple(_parse(json.loads((_DATA / "entries.json").read_text(encoding="utf-8")), str(_DATA / "entries.json")))


@cache
def _extra(path: str) -> tuple[Weights, ...]:
    if not path:
        return ()
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"VIDKIT_WEIGHTS_ENTRIES={path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"VIDKIT_WEIGHTS_ENTRIES={path}: not JSON ({e})") from None
    return tuple(_parse(raw, path, base=Path(path).parent))


def _parse(raw, source: str, base: Path | None = None) -> list[Weights]:
    """Entries from their JSON form; one with ``"models": [...]`` becomes one entry per model."""
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: expected a JSON list of weights entries")
    entries = []
    for i, item in enumerate(raw):
        try:
            labels = item["labels"]
            if isinstance(labels, list):
                labels = tuple(str(x) for x in labels)
            elif base is not None and _names_a_file(labels):
                labels = str(base / labels)
            models = item.get("models") or [item["model"]]
            for model in models:
                entry = Weights(
                    model=resolve(model) if model else "",
                    name=str(item["name"]),
                    urls=tuple(item["urls"]),
                    layout=str(item["layout"]),
                    labels=labels,
                    num_classes=int(item["num_classes"]),
                    recipe=Recipe.from_dict(item["recipe"]),
                    sha256=item.get("sha256") or None,
                    hash_prefix=item.get("hash_prefix") or None,
                    params=item.get("params"),
                    accuracy=dict(item.get("accuracy") or {}),
                    source=str(item.get("source") or ""),
                    notes=str(item.get("notes") or ""),
                    usable=bool(item.get("loadable", True)),
                )
                if entry.layout not in _LAYOUTS:
                    raise ValueError(f"layout {entry.layout!r} is not one of {', '.join(_LAYOUTS)}")
                if not entry.urls:
                    raise ValueError("no URL")
                entries.append(entry)
        except (KeyError, TypeError, ValueError, ConfigError) as e:
            what = f"{item.get('model') or item.get('models')} {item.get('name')!r}" if isinstance(item, dict) else ""
            raise ConfigError(f"{source}: entry {i} {what}: {e}") from None
    return entries
