"""A held-out validation split for a folder of class sub-folders that has none of its own.

    val_dir = split_folder("~/my_videos", out_dir="runs/x/splits", val_fraction=0.1, seed=0)
    train = open_catalog("folder", root="~/my_videos", annotations=val_dir, split="train")
    val = open_catalog("folder", root="~/my_videos", annotations=val_dir, split="val")

The split is stratified: each class gives ``max(1, round(n * val_fraction))`` of its ``n`` videos to
validation and keeps at least one to train on. Which ones is decided per class by a random generator
seeded from ``(seed, class name)`` only, over the class's videos sorted by path, so the same folder
and seed give the same split on any machine, and adding a class does not reshuffle the others.

``out_dir`` receives, each file written under a temporary name and renamed when complete (a killed
job leaves the previous file or none, never half of one):

* ``classes.txt`` — the class names, one a line, in label order (the label map);
* ``train.txt``, ``val.txt`` — ``<path> <label>`` lines, the format of :func:`vidkit.data.lists.read_list`.
  Paths are relative to the folder, ``/``-separated, so the lists stay valid when the folder is
  mounted elsewhere (pass the new place as ``root``). A path may hold spaces (the label is the last
  word). The file is UTF-8; a file name that is not (Latin-1 from an old camera) is written as its
  bytes on disk, and read back the same way (``surrogateescape``). A name with a line break, or a class
  name that begins or ends with a space or is not UTF-8, cannot be held by the lists and is refused;
* ``split.json`` — the folder, ``val_fraction``, ``seed`` and the videos per class in each split, for
  people to read.

``vidkit train`` writes the split into its run directory, and ``vidkit eval`` of that run's checkpoint
evaluates on the run's ``val.txt`` rather than on the whole folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Sequence
from numbers import Real

from vidkit.data._catalog import require_folder, split_of_folder
from vidkit.data.lists import LIST_CLASSES, list_file_name, open_folder, subfolders
from vidkit.errors import ConfigError
from vidkit.utils import atomic_write, atomic_write_text

SPLIT_SUMMARY = "split.json"
_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")  # what str.splitlines splits on


def stratified_split(
    samples: Sequence[tuple[str, int]],
    classes: Sequence[str],
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    where: str = "",
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """``(train, val)``: of each class's ``n`` samples ``(path, label)``, ``max(1, round(n * val_fraction))``
    go to ``val`` and at least one stays in ``train``. Within a class the samples are sorted by path,
    then shuffled by ``random.Random`` seeded from the SHA-256 of ``(seed, class name)``. Both lists
    come back sorted by path. ``where`` (the folder) names the data in the errors: a class with fewer
    than 2 samples, or ``val_fraction`` outside (0, 1), is a :class:`ConfigError`."""
    check_val_fraction(val_fraction)
    by_class: dict[int, list[str]] = {label: [] for label in range(len(classes))}
    for path, label in samples:
        if label not in by_class:
            raise ValueError(f"stratified_split: label {label} of {path!r} is not one of the {len(classes)} classes")
        by_class[label].append(path)
    prefix = f"folder: {where}: " if where else ""
    train, val = [], []
    for label, paths in by_class.items():
        n = len(paths)
        if n < 2:
            raise ConfigError(
                f"{prefix}class {classes[label]!r} has {n} video{'' if n == 1 else 's'}; a validation split "
                "needs at least 2 a class (one to train on, one to check) — add videos, or give the folder "
                "train/ and val/ sub-folders"
            )
        order = sorted(paths)
        random.Random(_class_seed(seed, classes[label])).shuffle(order)
        n_val = min(max(1, round(n * val_fraction)), n - 1)
        val += [(p, label) for p in order[:n_val]]
        train += [(p, label) for p in order[n_val:]]
    return sorted(train), sorted(val)


def check_val_fraction(val_fraction: float) -> float:
    """``val_fraction`` as a float when it lies strictly between 0 and 1; a :class:`ConfigError` naming
    ``data.val_fraction`` otherwise."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, Real) or not 0 < val_fraction < 1:
        raise ConfigError(
            f"data.val_fraction: {val_fraction!r} is not between 0 and 1 (the share of each class's videos "
            "held out for validation, e.g. 0.1)"
        )
    return float(val_fraction)


def split_folder(
    root: str | os.PathLike | None,
    *,
    videos: str | os.PathLike | None = None,
    out_dir: str | os.PathLike,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> str | None:
    """Split the folder of class sub-folders ``videos`` (else ``root``) into ``train.txt`` and ``val.txt``
    in ``out_dir`` (see the module's docstring), and return ``out_dir``; None, writing nothing, when the
    folder has split folders of its own (``train/``, ``val/``...), which it keeps.

    Everything is checked before anything is written: ``val_fraction``, every class's count, and the
    names the lists must hold."""
    check_val_fraction(val_fraction)
    base = videos if videos is not None else root
    if base is None:
        raise ConfigError("folder: pass the dataset folder with --data-root DIR")
    base = require_folder(base, "--videos" if videos is not None else "--data-root")
    if any(split_of_folder(name) for name in subfolders(base)):
        return None
    catalog = open_folder(root=base, videos=None, split="train")
    for name in catalog.classes:
        if name != name.strip() or _BREAKS.intersection(name) or not _is_utf8(name):
            raise ConfigError(
                f"folder: {base}: class folder {name!r} begins or ends with a space, holds a line break or is "
                "not UTF-8, which a label map cannot hold — rename it, or give the folder train/ and val/ "
                "sub-folders"
            )
    samples = [(e.key.replace(os.sep, "/"), e.label) for e in catalog.entries]
    for key, _ in samples:
        if _BREAKS.intersection(key):
            raise ConfigError(
                f"folder: {os.path.join(base, key)!r}: a line break in the file name, which a list file cannot "
                "hold — rename it"
            )
    train, val = stratified_split(samples, catalog.classes, val_fraction=val_fraction, seed=seed, where=base)

    out = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out, exist_ok=True)
    _write_lines(os.path.join(out, LIST_CLASSES), list(catalog.classes))
    for split, rows in (("train", train), ("val", val)):
        _write_lines(os.path.join(out, list_file_name(split)), [f"{path} {label}" for path, label in rows])
    counts = {name: {"train": 0, "val": 0} for name in catalog.classes}
    for split, rows in (("train", train), ("val", val)):
        for _, label in rows:
            counts[catalog.classes[label]][split] += 1
    summary = {
        "folder": base,
        "val_fraction": float(val_fraction),
        "seed": seed,
        "train": len(train),
        "val": len(val),
        "classes": counts,
    }
    atomic_write_text(os.path.join(out, SPLIT_SUMMARY), json.dumps(summary, indent=2) + "\n")
    return out


def _class_seed(seed: int, name: str) -> int:
    """A generator seed from ``(seed, class name)`` alone: the same on every machine and Python run
    (unlike ``hash()``), and untouched by the other classes."""
    data = f"{seed}\0{name}".encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a name on disk that is not UTF-8 holds lone surrogates here
        return False
    return True


def _write_lines(path: str, lines: list[str]) -> None:
    """``lines`` to ``path`` atomically, UTF-8, a non-UTF-8 file name as its bytes."""
    with atomic_write(path, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as f:
        f.writelines(line + "\n" for line in lines)


__all__ = ["SPLIT_SUMMARY", "check_val_fraction", "split_folder", "stratified_split"]
