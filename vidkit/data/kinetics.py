"""Kinetics-400/600/700 (Kay et al. 2017; Carreira et al. 2018, 2019) as the official releases and
the usual downloaders leave it.

Annotations are the official CSVs (``label,youtube_id,time_start,time_end,split``; the test CSV may
lack ``label``), under whatever name the release used (``validate.csv``, ``kinetics_700_2020_val.csv``,
``kinetics-400_validate.csv``...), at the top of the dataset folder or under ``annotations/``.
A ``<path> <label>`` list (PySlowFast, mmaction2) in their place is read by :mod:`vidkit.data.lists`.

Class indices are the sorted class names over every split's CSV, the order pytorchvideo's and
PySlowFast's Kinetics checkpoints were trained with. Videos are matched by file stem
(``<youtube_id>_<start:06d>_<end:06d>``, or the bare ``youtube_id``) wherever they are under the
videos folder, since downloaders disagree on folder names (``val/``, ``validate/``, ``abseiling/``
or ``abseiling_/``...).
"""

from __future__ import annotations

import csv
import os

from vidkit.data._catalog import (
    SPLIT_SYNONYMS,
    Catalog,
    VideoEntry,
    annotation_places,
    index_by_stem,
    name_words,
    pick_for_split,
)
from vidkit.data._registry import register_dataset
from vidkit.data.lists import EXPECTED_CLASSES, is_list_file, open_list
from vidkit.errors import ConfigError
from vidkit.io.walk import walk_videos

_REQUIRED = ("youtube_id", "time_start", "time_end")


def open_kinetics(name: str, *, root: str | None, annotations: str | None, videos: str | None, split: str) -> Catalog:
    """One split of Kinetics: see the module docstring for the layouts understood."""
    csv_path, folders = annotation_places(name, root=root, annotations=annotations)
    csv_path = csv_path or find_split_file(folders, split, name=name)
    videos_root = videos or _videos_root(root)
    if videos_root is None:
        raise ConfigError(f"{name}: pass the videos folder with --videos DIR (or --data-root DIR)")
    if is_list_file(csv_path):
        return open_list(csv_path, videos=videos_root, split=split, name=name)

    rows = read_kinetics_csv(csv_path, require_labels=split != "test")
    names: set[str] = {label for _, _, _, label in rows if label is not None}
    warnings = []
    for other in ("train", "val"):
        try:
            other_path = find_split_file(folders, other, name=name, required=False)
            if (
                other_path is None
                or os.path.abspath(other_path) == os.path.abspath(csv_path)
                or is_list_file(other_path)
            ):
                continue
            names |= {label for _, _, _, label in read_kinetics_csv(other_path) if label is not None}
        except ConfigError as e:  # another split's file is only consulted for class names
            warnings.append(f"{name}: class names taken without the {other} split's annotations ({e})")
    classes = tuple(sorted(names))
    expected = EXPECTED_CLASSES.get(name)
    if expected and len(classes) != expected:
        warnings.append(f"{name}: {len(classes)} classes found, expected {expected}")
    index = {c: i for i, c in enumerate(classes)}
    skipped: list[tuple[str, str]] = []
    stems = index_by_stem(walk_videos(videos_root, skipped=skipped))
    entries = []
    for _, youtube_id, key, label in rows:
        paths = stems.get(key) or stems.get(youtube_id)
        path = pick_for_split(paths, root=videos_root, split=split) if paths else None
        entries.append(VideoEntry(key, path, index[label] if label is not None else -1))
    return Catalog(
        name=name,
        split=split,
        classes=classes,
        entries=tuple(entries),
        annotations=os.path.abspath(csv_path),
        videos_root=videos_root,
        flip_label_map={},
        default_flip=True,
        warnings=tuple(warnings),
        skipped=tuple(skipped),
    )


def read_kinetics_csv(path: str, *, require_labels: bool = False) -> list[tuple[int, str, str, str | None]]:
    """Rows ``(line, youtube_id, key, label or None)`` of an official Kinetics CSV; the label is None
    where the CSV has no ``label`` column or leaves it empty, an error with ``require_labels``.

    Extra columns (``split``, ``is_cc``) are ignored; times written as floats (``14.0``) are
    truncated to whole seconds as the downloaders name the files.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [h for h in _REQUIRED if h not in header]
        if missing:
            raise ConfigError(
                f"{path}:1: not a Kinetics CSV: the header {','.join(header)!r} lacks {', '.join(missing)} "
                "(expected label,youtube_id,time_start,time_end,split)"
            )
        col = {h: header.index(h) for h in (*_REQUIRED, "label") if h in header}
        has_labels = "label" in col
        rows = []
        for fields in reader:
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                hint = " (a label with a comma must be quoted)" if len(fields) > len(header) else ""
                raise ConfigError(f"{path}:{line}: {len(fields)} fields, the header has {len(header)}{hint}")
            youtube_id = fields[col["youtube_id"]].strip()
            if not youtube_id:
                raise ConfigError(f"{path}:{line}: empty youtube_id")
            start, end = (_seconds(path, line, h, fields[col[h]]) for h in ("time_start", "time_end"))
            label = (fields[col["label"]].strip() or None) if has_labels else None
            if require_labels and label is None:
                raise ConfigError(f"{path}:{line}: no label (only the test split may be unlabelled)")
            rows.append((line, youtube_id, f"{youtube_id}_{start:06d}_{end:06d}", label))
    return rows


def _seconds(path: str, line: int, column: str, text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{path}:{line}: {column} {text.strip()!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"{path}:{line}: {column} {text.strip()!r} is not a time in seconds")
    return int(value)


def find_split_file(folders: list[str], split: str, *, name: str, required: bool = True) -> str | None:
    """The annotation file of ``split`` in ``folders``: a ``.csv`` (or ``.txt`` list) whose name has a
    word for the split (``val``, ``validate``...); an exact name such as ``val.csv`` wins. None when
    there is none and it is not ``required``."""
    words = set(SPLIT_SYNONYMS[split])
    exact, partial = [], []
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for entry in sorted(os.listdir(folder)):
            path = os.path.join(folder, entry)
            if not entry.lower().endswith((".csv", ".txt")) or entry.startswith(".") or not os.path.isfile(path):
                continue
            tokens = name_words(entry)
            if "label" in tokens or "classids" in tokens:
                continue
            if len(tokens) == 1 and tokens[0] in words:
                exact.append(path)
            elif words & set(tokens):
                partial.append(path)
    for found in (exact, partial):
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ConfigError(
                f"{name}: several annotation files for split {split!r}: {', '.join(found)}; "
                "choose one with --annotations FILE"
            )
    if not required:
        return None
    where = " or ".join(folders)
    raise ConfigError(
        f"{name}: no annotation file for split {split!r} in {where} (looked for {split}.csv, "
        f"*_{SPLIT_SYNONYMS[split][-1]}.csv and the like); pass --annotations FILE"
    )


def _videos_root(root: str | None) -> str | None:
    """``root/videos`` when the downloader put the videos there, else ``root`` itself."""
    if root is None:
        return None
    inner = os.path.join(root, "videos")
    return inner if os.path.isdir(inner) else root


# Each release, its class count checked; "kinetics" reads any release without that check.
register_dataset("kinetics400", kind="downloaded", open_catalog=open_kinetics)
register_dataset("kinetics600", kind="downloaded", open_catalog=open_kinetics)
register_dataset("kinetics700", kind="downloaded", open_catalog=open_kinetics)
register_dataset("kinetics", kind="downloaded", open_catalog=open_kinetics)

__all__ = ["find_split_file", "open_kinetics", "read_kinetics_csv"]
