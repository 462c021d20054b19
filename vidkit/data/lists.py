"""``path label`` list files and folder-per-class datasets.

List files are what PySlowFast (``train.csv``/``val.csv``: despite the name, ``<path> <label>``
separated by a space, no header) and mmaction2 (``kinetics400_val_list_videos.txt``) train from.
Class names come from a label map next to the list: mmaction2's ``label_map_k400.txt`` (one name per
line, in index order) or PySlowFast's ``classids.json`` (``{"name": index}``).

A folder per class is ``root/<class>/**/video.mp4``, or ``root/<split>/<class>/...``.
"""

from __future__ import annotations

import json
import os
import re

from vidkit.data._catalog import Catalog, VideoEntry, index_by_stem, mirror_map, split_of_folder
from vidkit.data._registry import register_dataset
from vidkit.errors import ConfigError
from vidkit.io.walk import is_video_name, walk_videos

# Class counts of the datasets that have a fixed one.
EXPECTED_CLASSES = {"kinetics400": 400, "kinetics600": 600, "kinetics700": 700, "ssv2": 174}

_LINE = re.compile(r"^(?P<path>.*\S)\s+(?P<label>-?\d+)$")
# The label map of a folder's split lists (vidkit.data.split), beside its train.txt and val.txt.
LIST_CLASSES = "classes.txt"


def is_list_file(path: str | os.PathLike) -> bool:
    """True when the first non-empty line of ``path`` reads ``<path> <integer>`` rather than a CSV header."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line:
                return "youtube_id" not in line and _LINE.match(line) is not None
    return False


def read_list(path: str | os.PathLike) -> list[tuple[int, str, int]]:
    """``(line number, path as listed, label)`` for every non-empty line of a list file. The file is
    UTF-8; bytes that are not (a Latin-1 file name written as it is on disk) are kept as the file
    system keeps them (``surrogateescape``), so such a path still opens its file."""
    path = os.fspath(path)
    rows = []
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            m = _LINE.match(line)
            if m is None:
                raise ConfigError(
                    f"{path}:{number}: expected '<path> <label>' (a path, a space, an integer class "
                    f"index), found {line[:80]!r}"
                )
            rows.append((number, m["path"], int(m["label"])))
    return rows


def read_label_map(path: str | os.PathLike) -> tuple[str, ...]:
    """Class names in index order from an mmaction2 ``label_map_*.txt`` or a PySlowFast ``classids.json``."""
    path = os.fspath(path)
    if path.endswith(".json"):
        try:
            with open(path, encoding="utf-8-sig") as f:
                mapping = json.load(f)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(mapping, dict):
            raise ConfigError(f'{path}: expected an object {{"class name": index}}, found a {type(mapping).__name__}')
        return classes_from_indices(path, mapping)
    names = []
    with open(path, encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise ConfigError(f"{path}:{number}: empty class name (line {number} is class {number - 1})")
        names.append(line.strip())
    return tuple(names)


def classes_from_indices(path: str, mapping: dict) -> tuple[str, ...]:
    """Class names ordered by the index each maps to; the indices must be exactly 0..N-1."""
    by_index: dict[int, str] = {}
    for name, value in mapping.items():
        try:
            index = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: entry {name!r}: index {value!r} is not an integer") from None
        if index in by_index:
            raise ConfigError(f"{path}: entry {name!r}: index {index} is also {by_index[index]!r}")
        by_index[index] = name
    if sorted(by_index) != list(range(len(by_index))):
        gap = next(i for i in range(len(by_index)) if i not in by_index)
        raise ConfigError(f"{path}: indices must run 0..{len(by_index) - 1}; {gap} is missing")
    return tuple(by_index[i] for i in range(len(by_index)))


def find_label_map(list_file: str, name: str) -> str | None:
    """A label map in the list file's folder: ``label_map*.txt``, ``classids.json`` or ``*labels.json``.
    With several, the one whose name carries the dataset's class count (``label_map_k400.txt``)."""
    folder = os.path.dirname(os.path.abspath(list_file))
    candidates = sorted(
        os.path.join(folder, n)
        for n in os.listdir(folder)
        if (n.startswith("label_map") and n.endswith(".txt"))
        or n == "classids.json"
        or (n.endswith("labels.json") and "something" in n)
    )
    if len(candidates) > 1 and name in EXPECTED_CLASSES:
        count = str(EXPECTED_CLASSES[name])
        candidates = [c for c in candidates if count in os.path.basename(c)] or candidates
    return candidates[0] if len(candidates) == 1 else None


def open_list(path: str, *, videos: str, split: str, name: str = "list", label_map: str | None = None) -> Catalog:
    """A ``<path> <label>`` list: relative paths resolve against ``videos``; a listed path that is not
    there is looked up by its file stem anywhere under ``videos`` (folder names vary between copies)."""
    rows = read_list(path)
    warnings = []
    label_map = label_map or find_label_map(path, name)
    top = max((label for _, _, label in rows), default=-1)
    if label_map is not None:
        classes = read_label_map(label_map)
        for number, _, label in rows:
            if label >= len(classes):
                raise ConfigError(
                    f"{path}:{number}: label {label} is out of range: {label_map} has {len(classes)} classes"
                )
    else:
        count = max(top + 1, EXPECTED_CLASSES.get(name, 0))
        classes = tuple(str(i) for i in range(count))
        if rows:
            warnings.append(
                f"{name}: no label map next to {path} (label_map_*.txt or classids.json); class names are numbers"
            )
    for number, _, label in rows:
        if label < -1:
            raise ConfigError(f"{path}:{number}: label {label} is negative (-1 marks an unlabelled video)")
    expected = EXPECTED_CLASSES.get(name)
    if expected and len(classes) != expected:
        warnings.append(f"{name}: {len(classes)} classes found, expected {expected}")
    stems = None
    entries = []
    for _, listed, label in rows:
        full = os.path.normpath(os.path.join(videos, os.path.expanduser(listed)))
        if not os.path.isfile(full):
            if stems is None:
                stems = index_by_stem(walk_videos(videos))
            stem = os.path.splitext(os.path.basename(listed))[0]
            full = stems[stem][0] if stem in stems else None
        entries.append(VideoEntry(listed, full, label))
    flips = mirror_map(classes)
    return Catalog(
        name=name,
        split=split,
        classes=classes,
        entries=tuple(entries),
        annotations=os.path.abspath(path),
        videos_root=videos,
        flip_label_map=flips,
        default_flip=not flips and name != "ssv2",
        warnings=tuple(warnings),
    )


def open_folder(*, root: str | None, videos: str | None, split: str, annotations: str | None = None) -> Catalog:
    """``root/<class>/**/video.ext``, or ``root/<split>/<class>/...`` when split folders exist. Classes
    are the sorted folder names, taken from the training split's folder when there is one, so the
    indices agree across splits.

    ``annotations``, a folder holding ``classes.txt`` and ``<split>.txt`` lists as
    :func:`vidkit.data.split.split_folder` writes them, gives the split instead: the listed paths
    resolve against the folder, a listed file that is gone is missing, and the classes are
    ``classes.txt``'s."""
    base = videos or root
    if base is None:
        raise ConfigError("folder: pass the dataset folder with --data-root DIR")
    if annotations is not None and has_split_lists(annotations):
        return _open_split_lists(annotations, base=base, split=split)
    unreadable: dict[str, str] = {}
    folders = subfolders(base, unreadable)
    splits = {}
    for folder in folders:
        splits.setdefault(split_of_folder(folder), folder)
    splits.pop(None, None)
    warnings = []
    if splits:
        if split not in splits:
            raise ConfigError(
                f"folder: {base} has split folders ({', '.join(sorted(splits.values()))}) but none for {split!r}"
            )
        top = os.path.join(base, splits[split])
        reference = os.path.join(base, splits["train"]) if "train" in splits else top
    else:
        top = reference = base
    classes = tuple(subfolders(reference, unreadable))
    if not classes:
        raise ConfigError(f"folder: {reference} has no class folders (expected <class>/<video files>)")
    index = {name: i for i, name in enumerate(classes)}
    entries, skipped = [], []
    for name in subfolders(top, unreadable):
        videos_in = walk_videos(os.path.join(top, name), skipped=skipped)
        if name not in index:
            if videos_in:
                raise ConfigError(
                    f"folder: {os.path.join(top, name)}: class {name!r} has no folder in {reference} "
                    "(classes come from the training split)"
                )
            continue
        entries += [VideoEntry(os.path.relpath(p, base), p, index[name]) for p in videos_in]
    loose = [n for n in os.listdir(top) if is_video_name(n) and os.path.isfile(os.path.join(top, n))]
    if loose:
        warnings.append(f"folder: {len(loose)} video(s) directly in {top} are in no class folder; ignored")
    warnings += [f"folder: {path}: cannot be read ({reason}); skipped" for path, reason in sorted(unreadable.items())]
    return _folder_catalog(split, classes, entries, base, warnings=tuple(warnings), skipped=tuple(skipped))


def _folder_catalog(split: str, classes, entries, base: str, *, annotations: str | None = None, **extra) -> Catalog:
    """A class-folder dataset's catalog: flips swap its left/right classes where it has them, and are a
    sound augmentation where it has none."""
    flips = mirror_map(classes)
    return Catalog(
        name="folder",
        split=split,
        classes=classes,
        entries=tuple(entries),
        annotations=annotations,
        videos_root=base,
        flip_label_map=flips,
        default_flip=not flips,
        **extra,
    )


def subfolders(folder: str, unreadable: dict[str, str] | None = None) -> list[str]:
    """The sorted names of ``folder``'s visible sub-folders. An entry whose kind cannot be read (a
    symlink loop: ELOOP) is left out, and put in ``unreadable`` (path -> reason) when given."""
    names = []
    for e in os.scandir(folder):
        if e.name.startswith("."):
            continue
        try:
            if e.is_dir():
                names.append(e.name)
        except OSError as error:
            if unreadable is not None:
                unreadable[e.path] = error.strerror or str(error)
    return sorted(names)


def list_file_name(split: str) -> str:
    """The file of one split's list in a folder of split lists: ``"val"`` -> ``"val.txt"``."""
    return f"{split}.txt"


def has_split_lists(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a folder split's lists: ``classes.txt`` and ``train.txt`` or ``val.txt``."""
    folder = os.fspath(folder)
    return os.path.isfile(os.path.join(folder, LIST_CLASSES)) and any(
        os.path.isfile(os.path.join(folder, list_file_name(s))) for s in ("train", "val")
    )


def _open_split_lists(folder: str, *, base: str, split: str) -> Catalog:
    """One split of a folder as the lists in ``folder`` give it; paths resolve against ``base``. No
    look-up by file stem, as :func:`open_list` does: the class folders of one's own videos often hold
    files of the same names (``clip_001.mp4``), and another class's file would come back mislabelled."""
    listed = os.path.join(folder, list_file_name(split))
    if not os.path.isfile(listed):
        have = sorted(n for n in os.listdir(folder) if n.endswith(".txt") and n != LIST_CLASSES)
        raise ConfigError(f"folder: {folder} has split lists ({', '.join(have)}) but none for {split!r}")
    label_map = os.path.join(folder, LIST_CLASSES)
    classes = read_label_map(label_map)
    entries = []
    for number, path, label in read_list(listed):
        if not 0 <= label < len(classes):
            raise ConfigError(
                f"{listed}:{number}: label {label} is out of range: {label_map} has {len(classes)} classes"
            )
        full = os.path.normpath(os.path.join(base, path))
        entries.append(VideoEntry(path, full if os.path.isfile(full) else None, label))
    return _folder_catalog(split, classes, entries, base, annotations=os.path.abspath(listed))


def _open_folder(name: str, *, root: str | None, annotations: str | None, videos: str | None, split: str) -> Catalog:
    """``--annotations DIR`` holding split lists (:func:`vidkit.data.split.split_folder`) gives the split."""
    return open_folder(root=root, videos=videos, split=split, annotations=annotations)


def _open_list(name: str, *, root: str | None, annotations: str | None, videos: str | None, split: str) -> Catalog:
    """``--annotations FILE`` is the list; its paths resolve against ``--videos``, else ``--data-root``,
    else the list's own folder."""
    if annotations is None or os.path.isdir(annotations):
        raise ConfigError("list: pass the list file with --annotations FILE (lines '<path> <label>')")
    if videos is None and root is None:
        root = os.path.dirname(annotations)
    return open_list(annotations, videos=videos or root, split=split)


register_dataset("folder", kind="downloaded", open_catalog=_open_folder)
register_dataset("list", kind="downloaded", open_catalog=_open_list)

__all__ = [
    "LIST_CLASSES",
    "classes_from_indices",
    "find_label_map",
    "has_split_lists",
    "is_list_file",
    "list_file_name",
    "open_folder",
    "open_list",
    "read_label_map",
    "read_list",
    "subfolders",
]
