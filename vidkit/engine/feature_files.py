"""Where ``vidkit extract`` puts features: a :class:`FeatureWriter` stores each video's features and
says which index records are now durable, so ``index.jsonl`` only ever points at features complete on
disk. :class:`NpyWriter` writes one ``.npy`` per video (video_features' convention) to
``DIR/features/``; the parquet writer (:mod:`vidkit.engine.feature_parquet`) shards of rows.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from vidkit.errors import VidkitError

FEATURES_DIR = "features"
_TEMPORARY = re.compile(r"^\..+\.tmp$")  # what a write in progress is named: a killed run's are removed


class FeatureWriter(Protocol):
    """Stores the features of each video, then gives back its index records once durable."""

    def add(self, record: dict, features: np.ndarray) -> list[dict]:
        """Store ``features`` (``[windows, ...]``) of the video ``record`` is for; return the index records
        now durable on disk (their ``features``, ``rows`` and ``shape`` filled), possibly none yet."""
        ...

    def close(self) -> list[dict]:
        """Flush what is pending; return the records it made durable."""
        ...


def feature_name(path: str) -> str:
    """The file name of ``path``'s features: its stem, reduced to letters, digits, ``.``, ``_`` and ``-``
    (at most 60 characters), then 12 hex digits of the SHA-256 of the whole path's bytes, so that two
    videos of one name in different folders, or names that are not UTF-8, never collide.
    ``feature_name("/a/clip 1.mp4")`` → ``"clip_1-<12 hex>.npy"``."""
    raw = os.fsencode(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60] or "video"
    return f"{readable}-{hashlib.sha256(raw).hexdigest()[:12]}.npy"


class NpyWriter:
    """One ``.npy`` per video in ``out_dir/features/`` (:func:`feature_name`), in ``dtype``: written to a
    hidden temporary name, flushed to disk and renamed, so no half-written file ever has a final name.
    Temporaries a killed run left are removed when the writer is made (the output lock is held then, so
    no other run is writing them)."""

    def __init__(self, out_dir: str | os.PathLike, dtype: str = "float32"):
        self.out_dir, self.dtype = Path(out_dir), np.dtype(dtype)
        self.folder = self.out_dir / FEATURES_DIR
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for name in os.listdir(self.folder):
                if _TEMPORARY.match(name):
                    os.unlink(self.folder / name)
        except OSError as e:
            raise VidkitError(f"{self.folder}: cannot write ({e.strerror or e})") from None

    def add(self, record: dict, features: np.ndarray) -> list[dict]:
        array = np.ascontiguousarray(features, dtype=self.dtype)
        name = feature_name(record["path"])
        final, temporary = self.folder / name, self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            with open(temporary, "wb") as f:
                np.save(f, array)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, final)
        except OSError as e:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise VidkitError(f"{final}: cannot write ({e.strerror or e})") from None
        return [{**record, "features": f"{FEATURES_DIR}/{name}", "rows": None, "shape": list(array.shape)}]

    def close(self) -> list[dict]:
        return []


__all__ = ["FEATURES_DIR", "FeatureWriter", "NpyWriter", "feature_name"]
