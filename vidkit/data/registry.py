"""Every dataset a job's ``--data`` accepts, by name, with its kind::

    dataset_names()                        # ('synthetic', 'kinetics400', ..., 'ava', 'synthetic-actors')
    dataset_names("downloaded")            # the formats vidkit.data.catalog.open_catalog reads
    dataset_info("ssv2").default_views     # 'ssv2': the multi-view test preset vidkit eval starts from
    dataset_info("kinetcs400")             # ConfigError: unknown dataset 'kinetcs400' — did you mean 'kinetics400'? ...

Each format reader (:mod:`vidkit.data.kinetics`, :mod:`vidkit.data.ssv2`, :mod:`vidkit.data.lists`)
registers its names and its opener with :func:`register_dataset` when it is imported; this module
imports them all, so once it is imported the names are complete. The names no reader owns — the
built-in synthetic set, its variant with person boxes, and AVA-format person data — are registered here.
"""

from __future__ import annotations

from vidkit.data import kinetics, lists, ssv2  # noqa: F401  (each registers its names as it is imported)
from vidkit.data._registry import KINDS, DatasetInfo, dataset_info, dataset_names, register_dataset

register_dataset("synthetic", kind="synthetic")
register_dataset("ava", kind="persons")
register_dataset("synthetic-actors", kind="synthetic")

__all__ = ["KINDS", "DatasetInfo", "dataset_info", "dataset_names", "register_dataset"]
