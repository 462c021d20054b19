"""What a catalog is made of, and the helpers the dataset formats share to build one.

:mod:`vidkit.data.catalog` is the public home of these names; they live here so that the format
readers (:mod:`vidkit.data.kinetics`, :mod:`vidkit.data.ssv2`, :mod:`vidkit.data.lists`) can use them
without importing the module that dispatches to them. This module imports no format reader.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from vidkit.errors import ConfigError

# Canonical split -> the words that name it in file and folder names.
SPLIT_SYNONYMS = {
    "train": ("train", "training"),
    "val": ("val", "validate", "validation", "valid"),
    "test": ("test", "testing"),
}
_SPLIT_OF = {word: split for split, words in SPLIT_SYNONYMS.items() for word in words}
# A split folder: "val", "validation", "train_256", "val-320" (resized copies keep their size suffix).
_SPLIT_FOLDER = re.compile(r"^(?P<word>[a-z]+)(?:[_-]?\d+)?$")


@dataclass(frozen=True)
class VideoEntry:
    """One annotated video. ``key`` is the dataset's own id (Kinetics ``<youtube_id>_<start:06d>_<end:06d>``,
    SSv2 ``<id>``, lists and folders the path as listed); ``path`` the file on disk, None when missing;
    ``label`` the class index, -1 in an unlabelled split."""

    key: str
    path: str | None
    label: int


@dataclass(frozen=True)
class Catalog:
    """One split of a dataset as found on disk. ``flip_label_map`` maps a class to its mirror image
    (SSv2's "from left to right" <-> "from right to left"), for label swapping under horizontal flips;
    ``default_flip`` says whether flipping is a sound augmentation for this dataset; ``skipped`` holds
    ``(path, reason)`` of the files in the videos folder that are not videos (:func:`vidkit.io.walk_videos`),
    for the count a job's summary gives."""

    name: str
    split: str
    classes: tuple[str, ...]
    entries: tuple[VideoEntry, ...]
    annotations: str | None
    videos_root: str
    flip_label_map: dict[int, int] = field(default_factory=dict)
    default_flip: bool = True
    warnings: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def found(self) -> list[VideoEntry]:
        return [e for e in self.entries if e.path is not None]

    @property
    def missing(self) -> list[VideoEntry]:
        return [e for e in self.entries if e.path is None]

    def samples(self) -> list[tuple[str, int]]:
        """``(path, label)`` of the videos on disk, as :class:`vidkit.data.datasets.ClipDataset` takes them."""
        return [(e.path, e.label) for e in self.entries if e.path is not None]


def canonical_split(split: str) -> str:
    """``"validation"`` -> ``"val"``, ``"training"`` -> ``"train"``, ``"testing"`` -> ``"test"``."""
    name = _SPLIT_OF.get(str(split).strip().lower())
    if name is None:
        words = ", ".join(w for words in SPLIT_SYNONYMS.values() for w in words)
        raise ConfigError(f"split {split!r}: choose train, val or test (also accepted: {words})")
    return name


def split_of_folder(name: str) -> str | None:
    """The split a folder name stands for (``"val_256"`` -> ``"val"``), or None for any other folder."""
    m = _SPLIT_FOLDER.match(name.lower())
    return _SPLIT_OF.get(m["word"]) if m else None


def name_words(filename: str) -> list[str]:
    """The words of a file name, lower case: ``"kinetics-400_validate.csv"`` -> ``["kinetics", "400", "validate"]``."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return [w for w in re.split(r"[^a-z0-9]+|(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])", stem.lower()) if w]


def index_by_stem(paths: list[str]) -> dict[str, list[str]]:
    """File stem -> the paths with that stem (in the order given)."""
    index: dict[str, list[str]] = {}
    for path in paths:
        index.setdefault(os.path.splitext(os.path.basename(path))[0], []).append(path)
    return index


def pick_for_split(paths: list[str], *, root: str, split: str) -> str:
    """Of several files with one stem, the one inside a folder of ``split`` (e.g. under ``val/``
    rather than ``train/``), else the first."""
    if len(paths) == 1:
        return paths[0]
    for path in paths:
        parts = Path(os.path.relpath(path, root)).parts[:-1]
        if any(split_of_folder(p) == split for p in parts):
            return path
    return paths[0]


def mirror_map(classes: tuple[str, ...] | list[str]) -> dict[int, int]:
    """Class index -> the index of the same class with "left" and "right" swapped, where that class
    exists: ``"Pushing something from left to right"`` <-> ``"Pushing something from right to left"``."""
    index = {name: i for i, name in enumerate(classes)}
    swap = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}
    out = {}
    for i, name in enumerate(classes):
        mirrored = re.sub(r"\b(left|right|Left|Right|LEFT|RIGHT)\b", lambda m: swap[m[1]], name)
        if mirrored != name and mirrored in index:
            out[i] = index[mirrored]
    return out


def annotation_places(name: str, *, root: str | None, annotations: str | None) -> tuple[str | None, list[str]]:
    """``(the annotation file given, or None; the folders to look in)``: ``--annotations`` naming a file
    wins; otherwise the folder it names (or the dataset root) and its ``annotations/`` subfolder."""
    if annotations is not None and os.path.isfile(annotations):
        return annotations, [os.path.dirname(annotations)]
    base = annotations or root
    if base is None:
        raise ConfigError(f"{name}: pass the dataset folder with --data-root DIR (or --annotations and --videos DIR)")
    return None, [base, os.path.join(base, "annotations")]


def require_folder(path: str | os.PathLike, what: str) -> str:
    """``path`` as an absolute folder (``~`` expanded); a :class:`ConfigError` naming ``what`` when it is none."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isdir(path):
        raise ConfigError(f"{what} {path}: no such folder")
    return path


__all__ = [
    "SPLIT_SYNONYMS",
    "Catalog",
    "VideoEntry",
    "annotation_places",
    "canonical_split",
    "index_by_stem",
    "mirror_map",
    "name_words",
    "pick_for_split",
    "require_folder",
    "split_of_folder",
]
