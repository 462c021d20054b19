"""Datasets as they are distributed: one entry per annotated video, found (or not) on disk.

A :class:`Catalog` is what a downloaded dataset holds for one split, read from its own annotation
files (Kinetics CSVs, Something-Something-v2 JSON, ``path label`` lists) or from a folder per class::

    catalog = open_catalog("kinetics400", root="~/data/kinetics400", split="val")
    catalog.classes[:2]          # ('abseiling', 'air drumming'): sorted, as the usual checkpoints expect
    len(catalog.missing)         # videos the CSV lists that are not on disk
    dataset = ClipDataset(catalog.samples(), sampler)

``vidkit scan`` (:mod:`vidkit.data.scan`) probes every found video and writes a manifest.
"""

from __future__ import annotations

import os

from vidkit.data._catalog import (
    SPLIT_SYNONYMS,
    Catalog,
    VideoEntry,
    annotation_places,
    canonical_split,
    index_by_stem,
    mirror_map,
    name_words,
    pick_for_split,
    require_folder,
    split_of_folder,
)
from vidkit.data.registry import dataset_info, dataset_names
from vidkit.errors import ConfigError

# The formats open_catalog reads: datasets as their makers distribute them.
DOWNLOADED = dataset_names("downloaded")
# Every name a job's ``--data`` accepts: the built-in synthetic set, the downloaded formats, AVA-format
# person data, and ``synthetic-actors`` (the synthetic set's variant with person boxes). Both are the
# registry's names (:mod:`vidkit.data.registry`) as they stand once the built-in formats are registered.
DATASETS = dataset_names()


def open_catalog(
    data: str,
    *,
    root: str | os.PathLike | None = None,
    annotations: str | os.PathLike | None = None,
    videos: str | os.PathLike | None = None,
    split: str = "val",
) -> Catalog:
    """Read one split of a dataset laid out as it is distributed.

    ``data`` is one of :data:`DOWNLOADED`; ``root`` the dataset folder as downloaded; ``annotations``
    (a file or a folder) and ``videos`` (a folder) override what is found in ``root``. ``split``
    accepts synonyms (``"validation"``, ``"training"``...). Raises :class:`ConfigError` naming the
    file and line of anything it cannot read.

    The arguments are checked here, once for every format; the reading is done by the opener the
    format registered (:func:`vidkit.data.registry.register_dataset`).
    """
    downloaded = dataset_names("downloaded")
    if data not in downloaded:
        raise ConfigError(f"dataset {data!r}: choose one of {', '.join(downloaded)}")
    split = canonical_split(split)
    root = require_folder(root, "--data-root") if root is not None else None
    videos = require_folder(videos, "--videos") if videos is not None else None
    if annotations is not None:
        annotations = os.path.abspath(os.path.expanduser(os.fspath(annotations)))
        if not os.path.exists(annotations):
            raise ConfigError(f"--annotations {annotations}: no such file or folder")
    return dataset_info(data).open_catalog(data, root=root, annotations=annotations, videos=videos, split=split)


__all__ = [
    "DATASETS",
    "DOWNLOADED",
    "SPLIT_SYNONYMS",
    "Catalog",
    "VideoEntry",
    "annotation_places",
    "canonical_split",
    "index_by_stem",
    "mirror_map",
    "name_words",
    "open_catalog",
    "pick_for_split",
    "require_folder",
    "split_of_folder",
]
