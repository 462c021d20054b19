"""Reading back what ``vidkit extract`` wrote: features with their inputs and window times.

    features = vidkit.features.load("feats/")
    features.paths[0], features.windows[0]     # the input; its windows' [start_s, end_s], [W, 2]
    features.arrays[0]                         # its features, [W, D] (or [W, views, D], [W, T', D]...)
    X, video, times = features.stack()        # every window: [N, D], [N], [N, 2], for a linear probe
    loader = DataLoader(features.as_dataset(), batch_size=256, shuffle=True)

``DIR/index.jsonl`` says where each input's features are: a ``.npy`` file (``--format npy``, read
memory-mapped) or rows of a Parquet shard (``--format parquet``, needs pyarrow). Only a record's own
rows are read, so rows a killed run wrote before their record reached the index are never seen.
Inputs that failed are in :attr:`Features.errors` with their reason. A record whose file is missing,
unreadable or not what the record says is a :class:`FeatureFileError` naming the file.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vidkit.engine.feature_parquet import read_shard
from vidkit.errors import VidkitError

__all__ = ["FeatureFileError", "Features", "WindowDataset", "load"]

INDEX = "index.jsonl"


class FeatureFileError(VidkitError):
    """An extract output that cannot be read as its index says: ``FeatureFileError:
    feats/features/a.npy: no such file (the index's record for clips/a.mp4 names it)``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(os.fspath(path), reason)  # args as given: it pickles as it is
        self.path, self.reason = self.args

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Features:
    """The features of an extract output, one entry per input that succeeded, in the index's order.

    ``paths``: the inputs, exactly as the folder walk gave them (a name that is not UTF-8 decoded from
    its record's ``path_b64``); ``windows``: per input ``[W, 2]`` float64 ``[start_s, end_s]``;
    ``arrays``: per input ``[W, ...]`` in the stored dtype (npy: memory-mapped, read-only);
    ``records``: the index records; ``errors``: ``{path: reason}`` of the inputs that failed.
    """

    directory: Path
    paths: list[str] = field(default_factory=list)
    windows: list[np.ndarray] = field(default_factory=list)
    arrays: list[np.ndarray] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.paths)

    def stack(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every window of every input: ``(X [N, ...], video [N] int64, times [N, 2])``, where
        ``X[i]`` is window ``i``'s features (``[N, D]`` for pooled features), ``video[i]`` the index
        into :attr:`paths` of its input and ``times[i]`` its ``[start_s, end_s]``."""
        if not self.arrays:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros((0, 2))
        shapes = {a.shape[1:] for a in self.arrays}
        if len(shapes) > 1:
            raise ValueError(f"{self.directory}: the inputs' windows have different shapes {sorted(shapes)}")
        X = np.concatenate(self.arrays)
        video = np.repeat(np.arange(len(self.arrays), dtype=np.int64), [len(a) for a in self.arrays])
        return X, video, np.concatenate(self.windows)

    def as_dataset(self) -> WindowDataset:
        """A torch ``Dataset`` of one item per window (what a probe or retrieval index trains on; one
        input's windows are ``arrays[i]``): ``(features, video, window)``, a float tensor ``[...]``,
        the input's index into :attr:`paths` and a ``[start_s, end_s]`` float64 tensor."""
        return WindowDataset(self)


class WindowDataset(torch.utils.data.Dataset):
    """:meth:`Features.as_dataset`: the windows of every input, in order."""

    def __init__(self, features: Features):
        self.arrays, self.windows = features.arrays, features.windows
        self.starts = np.cumsum([0] + [len(a) for a in features.arrays])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"window {index} of {len(self)}")
        index %= len(self)
        video = int(np.searchsorted(self.starts, index, side="right") - 1)
        row = index - self.starts[video]
        return torch.from_numpy(np.array(self.arrays[video][row])), video, torch.tensor(self.windows[video][row])


def load(directory: str | os.PathLike, *, mmap: bool = True) -> Features:
    """Read the extract output in ``directory`` (its ``index.jsonl`` and the files it names).
    ``mmap``: map ``.npy`` files instead of reading them into memory. A last index line a killed
    run left half-written is ignored (the run's resume makes it again); when an input has several
    records the last one counts."""
    directory = Path(directory)
    index = directory / INDEX
    try:
        lines = index.read_bytes().split(b"\n")
    except FileNotFoundError:
        raise FeatureFileError(index, "no such file (is this a vidkit extract --out folder?)") from None
    except OSError as e:
        raise FeatureFileError(index, f"cannot read it ({e.strerror or e})") from None
    records: dict[str, dict] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
            key = _key(record)
        except (ValueError, KeyError, TypeError, AttributeError):
            if number == len(lines):  # no newline after it: cut by a kill
                continue
            raise FeatureFileError(f"{index}:{number}", "not a vidkit extract record") from None
        records.pop(key, None)
        records[key] = record
    features, shards = Features(directory), {}
    for key, record in records.items():
        if record.get("error"):
            features.errors[key] = record["error"]
            continue
        array, times = _read(directory, record, shards, mmap=mmap)
        features.paths.append(key)
        features.windows.append(times)
        features.arrays.append(array)
        features.records.append(record)
    return features


def _key(record: dict) -> str:
    """The input's path: exact from ``path_b64`` for a name that is not UTF-8 (``path`` shows U+FFFD)."""
    if record.get("path_b64"):
        return os.fsdecode(base64.b64decode(record["path_b64"], validate=True))
    if not isinstance(record["path"], str):
        raise TypeError("path")
    return record["path"]


def _read(directory: Path, record: dict, shards: dict, *, mmap: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(features, times [W, 2])`` of one record, checked against what the record says."""
    name = record.get("features")
    about = f"(the index's record for {record.get('path')} names it)"
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise FeatureFileError(directory / INDEX, f"the record for {record.get('path')} names no features file")
    path = directory / name
    times = np.asarray(record.get("windows") or [], dtype=np.float64).reshape(-1, 2)
    if not path.is_file():
        raise FeatureFileError(path, f"no such file {about}")
    rows = record.get("rows")
    if rows is None:
        try:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise FeatureFileError(path, f"not a readable .npy file ({e}) {about}") from None
    else:
        if path not in shards:
            try:
                shards[path] = read_shard(path)
            except VidkitError:  # pyarrow missing: its own message
                raise
            except Exception as e:  # pyarrow's errors have no common base below Exception
                raise FeatureFileError(path, f"not a readable features shard ({e}) {about}") from None
        paths, shard_times, shard_features = shards[path]
        start, stop = rows
        if not 0 <= start <= stop <= len(shard_features):
            raise FeatureFileError(path, f"rows [{start}, {stop}) are past its {len(shard_features)} rows {about}")
        if any(p != paths[start] for p in paths[start:stop]) or (stop > start and paths[start] != record["path"]):
            raise FeatureFileError(path, f"rows [{start}, {stop}) hold another input's features {about}")
        array = shard_features[start:stop]
        times = shard_times[start:stop] if stop > start else times
    shape = record.get("shape")
    if shape is not None and list(array.shape) != list(shape):
        raise FeatureFileError(path, f"holds features of shape {list(array.shape)}, the index says {shape} {about}")
    if record.get("dtype") and array.dtype != np.dtype(record["dtype"]):
        raise FeatureFileError(path, f"holds {array.dtype}, the index says {record['dtype']} {about}")
    if len(times) != len(array):
        raise FeatureFileError(path, f"{len(array)} windows of features, the index gives {len(times)} times {about}")
    return array, times
