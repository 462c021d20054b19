"""``vidkit extract --format parquet``: features as Parquet shards of one row per window.

A shard, ``DIR/shards/part-<NNNNN>.parquet``, has the columns ``path`` (the input, as its index
record shows it), ``start_s``, ``end_s`` (the window, in seconds) and ``feature``, a fixed-size list
of float16 or float32: a window's features flattened, their shape (``[D]``, ``[views, D]``,
``[T', D]``...) in the schema's metadata (``vidkit.shape``, JSON). A video's windows are consecutive
rows of one shard; its index record names the shard (``features``) and the rows (``rows``:
``[start, stop]``).

Each shard is written under a temporary name and renamed when complete
(:func:`vidkit.utils.atomic_path`), and only then are its videos' records handed back to be appended
to the index: a record always points at a complete shard. A killed run leaves at most a hidden
temporary file (removed by the next run's writer) or a complete shard whose records never reached
the index (its videos are redone into a new shard; readers take only a record's own rows, so these
rows are never read).

pyarrow is an optional dependency (``pip install 'vidkit[parquet]'``), imported only here and only
when a writer is made or a shard read.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from vidkit.errors import ConfigError
from vidkit.utils import atomic_path

NEEDS_PYARROW = "--format parquet needs pyarrow: pip install 'vidkit[parquet]'"
SHAPE_KEY = b"vidkit.shape"  # the schema metadata holding a window's feature shape, as JSON
SHARDS = "shards"  # DIR's folder of shards
DTYPES = ("float16", "float32")

_SHARD_NAME = re.compile(r"part-(\d+)\.parquet")
_TEMPORARY = ".part-*.parquet"  # atomic_path's hidden name beside part-NNNNN.parquet


def import_pyarrow():
    """``(pyarrow, pyarrow.parquet)``, or a :class:`ConfigError` saying how to install them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ConfigError(NEEDS_PYARROW) from None
    return pyarrow, pyarrow.parquet


class ParquetWriter:
    """The Parquet :class:`~vidkit.engine.feature_files.FeatureWriter`: windows gathered into shards of
    about ``rows_per_shard`` rows (a video is never split, so a shard may hold more).

        writer = ParquetWriter(out, dtype="float16")
        for record, features in extracted:          # features: [windows, ...]
            index.extend(writer.add(record, features))   # [] until a shard is on disk
        index.extend(writer.close())                 # the last, partial shard

    The caller holds ``out``'s lock: making a writer removes the temporary files a killed run left in
    ``out/shards/``, and its shards are numbered on from the highest one there (none is overwritten).
    """

    def __init__(self, out_dir: str | os.PathLike, *, dtype: str = "float32", rows_per_shard: int = 8192):
        if dtype not in DTYPES:
            raise ConfigError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
        if rows_per_shard < 1:
            raise ConfigError(f"rows_per_shard {rows_per_shard}: expected at least 1")
        self._pa, self._pq = import_pyarrow()
        self.out_dir, self.dtype, self.rows_per_shard = Path(out_dir), dtype, rows_per_shard
        self.folder = self.out_dir / SHARDS
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.glob(_TEMPORARY):
            leftover.unlink(missing_ok=True)
        numbers = [int(m.group(1)) for p in self.folder.iterdir() if (m := _SHARD_NAME.fullmatch(p.name))]
        self.next_number = max(numbers, default=-1) + 1
        self._records: list[dict] = []
        self._features: list[np.ndarray] = []
        self._rows = 0
        self._window_shape: tuple[int, ...] | None = None

    def add(self, record: dict, features: np.ndarray) -> list[dict]:
        """Take one video's ``features`` ``[windows, ...]`` (its ``record["windows"]`` the windows'
        ``[start_s, end_s]``); return the records of the shard this completes, if any, each with
        ``features``, ``rows``, ``shape`` and ``dtype`` filled (``record`` itself is not changed)."""
        features = np.asarray(features)
        windows = record.get("windows") or []
        if features.ndim < 2 or features.shape[0] != len(windows):
            raise ValueError(
                f"{record.get('path')}: features of shape {list(features.shape)} for {len(windows)} windows; "
                "expected [windows, ...] with one row per window"
            )
        done = []
        if self._records and features.shape[1:] != self._window_shape:  # a shard holds one shape
            done = self._write()
        self._window_shape = features.shape[1:]
        self._records.append(record)
        self._features.append(features.astype(self.dtype, copy=False))
        self._rows += len(features)
        if self._rows >= self.rows_per_shard:
            done += self._write()
        return done

    def close(self) -> list[dict]:
        """Write the pending rows as a last, partial shard; return its records ([] if none)."""
        return self._write() if self._records else []

    def _write(self) -> list[dict]:
        pa = self._pa
        while (path := self.folder / f"part-{self.next_number:05d}.parquet").exists():
            self.next_number += 1
        relative = path.relative_to(self.out_dir).as_posix()
        size = int(np.prod(self._window_shape, dtype=np.int64))
        flat = np.concatenate([f.reshape(-1) for f in self._features])
        paths, starts, ends, records, row = [], [], [], [], 0
        for record, features in zip(self._records, self._features):
            text = _text(record.get("path", ""))
            paths += [text] * len(features)
            starts += [float(w[0]) for w in record["windows"]]
            ends += [float(w[1]) for w in record["windows"]]
            records.append(
                {
                    **record,
                    "features": relative,
                    "rows": [row, row + len(features)],
                    "shape": list(features.shape),
                    "dtype": self.dtype,
                }
            )
            row += len(features)
        table = pa.table(
            {
                "path": pa.array(paths, pa.string()),
                "start_s": pa.array(starts, pa.float64()),
                "end_s": pa.array(ends, pa.float64()),
                "feature": pa.FixedSizeListArray.from_arrays(pa.array(flat), size),
            }
        ).replace_schema_metadata({SHAPE_KEY: json.dumps(list(self._window_shape)).encode("ascii")})
        with atomic_path(path) as tmp:
            self._pq.write_table(table, tmp)
        self.next_number += 1
        self._records, self._features, self._rows = [], [], 0
        return records


def read_shard(path: str | os.PathLike):
    """``(paths, times [rows, 2], features [rows, *window shape])`` of the shard at ``path``. Raises
    what pyarrow raises on a file that is not a readable shard, a :class:`ValueError` on a Parquet file
    that is not one of ours, and :class:`ConfigError` without pyarrow."""
    _, pq = import_pyarrow()
    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    if SHAPE_KEY not in metadata or not {"path", "start_s", "end_s", "feature"} <= set(table.column_names):
        raise ValueError("not a vidkit features shard (no path, start_s, end_s, feature columns and shape)")
    shape = tuple(json.loads(metadata[SHAPE_KEY]))
    column = table.column("feature").combine_chunks()
    features = column.flatten().to_numpy(zero_copy_only=False).reshape(len(table), *shape)
    times = np.stack([table.column("start_s").to_numpy(), table.column("end_s").to_numpy()], axis=1)
    return table.column("path").to_pylist(), times.reshape(len(table), 2), features


def _text(path: str) -> str:
    """``path`` as UTF-8 text: bytes a file name held that were not UTF-8 shown as U+FFFD (the index
    record's ``path_b64`` keeps the exact name)."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        pass
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate of another kind
        return path.encode("utf-8", "replace").decode("utf-8")
