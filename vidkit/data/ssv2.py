"""Something-Something-v2 (Goyal et al., ICCV 2017) as distributed by Qualcomm / 20BN.

Annotations: ``something-something-v2-labels.json`` (``{"Approaching something with your camera":
"0", ...}``; the numbers are the class indices), ``-train.json`` and ``-validation.json`` (lists of
``{"id", "label", "template", "placeholders"}``) and ``-test.json`` (``[{"id": "1420"}]``, unlabelled).
An entry's class is its template with the brackets removed (``"Holding [something] next to
[something]"`` -> ``"Holding something next to something"``). Videos are ``<id>.webm`` (VP9) in
``20bn-something-something-v2/``, the folder the official archive extracts to.

Many classes come in left/right mirror pairs, so horizontal flipping changes the label:
``flip_label_map`` pairs them, and ``default_flip`` is False (PySlowFast trains SSv2 without flips).
"""

from __future__ import annotations

import json
import os

from vidkit.data._catalog import Catalog, VideoEntry, annotation_places, index_by_stem, mirror_map
from vidkit.data._registry import register_dataset
from vidkit.data.lists import classes_from_indices
from vidkit.errors import ConfigError
from vidkit.io.walk import walk_videos

_PREFIX = "something-something-v2-"
_SPLIT_FILES = {"train": ("train",), "val": ("validation", "val"), "test": ("test",)}
_VIDEO_FOLDERS = ("20bn-something-something-v2", "videos")


def open_ssv2(*, root: str | None, annotations: str | None, videos: str | None, split: str) -> Catalog:
    """One split of Something-Something-v2; ``annotations`` may be the split's JSON or the folder holding them."""
    split_file, folders = annotation_places("ssv2", root=root, annotations=annotations)
    split_file = split_file or _find(
        folders,
        [f"{_PREFIX}{n}.json" for n in _SPLIT_FILES[split]] + [f"{n}.json" for n in _SPLIT_FILES[split]],
        what=f"the {split} split",
    )
    labels_file = _find(folders, [f"{_PREFIX}labels.json", "labels.json"], what="the labels")
    classes = read_labels(labels_file)
    videos_root = videos or _videos_root(root)
    if videos_root is None:
        raise ConfigError("ssv2: pass the videos folder with --videos DIR (or --data-root DIR)")
    entries = read_split(split_file, classes, labels_file=labels_file, labelled=split != "test")
    skipped: list[tuple[str, str]] = []
    stems = index_by_stem(walk_videos(videos_root, skipped=skipped))
    entries = [VideoEntry(key, stems[key][0] if key in stems else None, label) for key, label in entries]
    warnings = [] if len(classes) == 174 else [f"ssv2: {len(classes)} classes found, expected 174"]
    return Catalog(
        name="ssv2",
        split=split,
        classes=classes,
        entries=tuple(entries),
        annotations=os.path.abspath(split_file),
        videos_root=videos_root,
        flip_label_map=mirror_map(classes),
        default_flip=False,
        warnings=tuple(warnings),
        skipped=tuple(skipped),
    )


def read_labels(path: str) -> tuple[str, ...]:
    """Class names in index order from ``something-something-v2-labels.json``."""
    mapping = _load_json(path)
    if not isinstance(mapping, dict):
        raise ConfigError(f'{path}: expected an object {{"class name": "index"}}, found a {type(mapping).__name__}')
    return classes_from_indices(path, mapping)


def read_split(path: str, classes: tuple[str, ...], *, labels_file: str, labelled: bool) -> list[tuple[str, int]]:
    """``(id, class index)`` per entry of a split's JSON; -1 for entries without a template in the test split.

    The class is the template without its brackets, matched exactly, then ignoring case (a few real
    templates differ from their label in capitalisation).
    """
    items = _load_json(path)
    if not isinstance(items, list):
        raise ConfigError(
            f'{path}: expected a list of {{"id", "template", ...}} entries, found a {type(items).__name__}'
        )
    exact = {name: i for i, name in enumerate(classes)}
    folded = {name.casefold(): i for i, name in enumerate(classes)}
    out = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or item.get("id") in (None, ""):
            raise ConfigError(f"{path}: entry {n}: expected an object with an 'id', found {str(item)[:80]}")
        key = str(item["id"]).strip()
        template = item.get("template")
        if template is None:
            if labelled:
                raise ConfigError(f"{path}: entry {n} (id {key}): no 'template' (needed for the class)")
            out.append((key, -1))
            continue
        if not isinstance(template, str):
            raise ConfigError(f"{path}: entry {n} (id {key}): template {template!r} is not a string")
        name = template.replace("[", "").replace("]", "")
        label = exact.get(name, folded.get(name.casefold()))
        if label is None:
            raise ConfigError(f"{path}: entry {n} (id {key}): template {template!r} matches no class in {labels_file}")
        out.append((key, label))
    return out


def _load_json(path: str):
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None


def _find(folders: list[str], names: list[str], *, what: str) -> str:
    for name in names:
        for folder in folders:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    raise ConfigError(
        f"ssv2: no file for {what} in {' or '.join(folders)} (looked for {', '.join(names)}); pass --annotations"
    )


def _videos_root(root: str | None) -> str | None:
    if root is None:
        return None
    for name in _VIDEO_FOLDERS:
        if os.path.isdir(os.path.join(root, name)):
            return os.path.join(root, name)
    return root


def _open(name: str, *, root: str | None, annotations: str | None, videos: str | None, split: str) -> Catalog:
    return open_ssv2(root=root, annotations=annotations, videos=videos, split=split)


# Tested with 2 clips x 3 crops (TSM, mmaction2) rather than Kinetics' 10 x 3.
register_dataset("ssv2", kind="downloaded", open_catalog=_open, default_views="ssv2")

__all__ = ["open_ssv2", "read_labels", "read_split"]
