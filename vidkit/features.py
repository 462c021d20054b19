"""Reading back what ``vidkit extract`` wrote: features with their inputs and window times.

    features = vidkit.features.load("feats/")
    features.paths[0], features.windows[0]     # the input; its windows' [start_s, end_s], [W, 2]
    features.arrays[0]                         # its features, [W, D] (or [W, views, D], [W, T', D]...)
    X, video, times = features.stack()        # every window: [N, D], [N], [N, 2], for a linear probe
    loader = DataLoader(features.as_dataset(), batch_size=256, shuffle=True)
    features.sequences()[0]                    # its local features as one sequence [T, D]

    # attention clusters on frozen local features, the paper's recipe (docs/attention_clusters.md)
    fit = vidkit.features.fit_attention_clusters(load("feats/train"), load("feats/val"))
    fit.history[-1]["val_top1"], fit.predict(load("feats/test"))   # logits [N, K], classes fit.classes

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from vidkit.data.split import stratified_split
from vidkit.engine.feature_parquet import read_shard
from vidkit.errors import ConfigError, VidkitError

if TYPE_CHECKING:
    from vidkit.models.attention_clusters import AttentionClusters

__all__ = [
    "AttentionClustersFit",
    "FeatureFileError",
    "Features",
    "WindowDataset",
    "class_folder",
    "fit_attention_clusters",
    "load",
]

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

    def file(self, index: int) -> Path:
        """The file that holds input ``index``'s features (its ``.npy``, or the Parquet shard of its rows)."""
        return self.directory / self.records[index]["features"]

    def sequences(self) -> list[np.ndarray]:
        """Each input's local features as one sequence ``[T, D]`` (``D`` the stored arrays' last axis; its
        windows, views and time steps flattened in the order stored, in the stored dtype): the set of
        local features attention clusters integrate (:func:`fit_attention_clusters`). ``vidkit extract
        --layer temporal`` of a frame-level model (``tsn_r50``: a 2D network on every frame) gives one per
        frame; ``--segments`` one per window. A :class:`FeatureFileError` naming the file when the inputs'
        widths differ, or naming the index when every input has a single vector (pooled features of one
        window: nothing to attend over)."""
        if not self.arrays:
            raise FeatureFileError(self.directory / INDEX, "holds no features (no input was extracted)")
        width = self.arrays[0].shape[-1]
        for index, array in enumerate(self.arrays):
            if array.ndim < 2 or array.shape[-1] != width:
                raise FeatureFileError(
                    self.file(index), f"features {array.shape[-1]} wide, {self.file(0)}'s {width} (another model?)"
                )
        sequences = [a.reshape(-1, width) for a in self.arrays]
        if all(len(s) == 1 for s in sequences):
            raise FeatureFileError(
                self.directory / INDEX,
                f"one feature vector per video ({self.records[0].get('layer', 'pooled')} features of one window): "
                "no sequence to attend over; extract with --layer temporal (one per frame with a 2D model such "
                "as tsn_r50) or with --segments SECONDS (one per window)",
            )
        return sequences


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


def class_folder(path: str) -> str:
    """The class of a video in a folder of class sub-folders (``train/<class>/<file>``): its folder's name."""
    return Path(path).parent.name


@dataclass
class AttentionClustersFit:
    """What :func:`fit_attention_clusters` gives back: the trained head (in eval mode), its classes (label
    order), the validation inputs, and one record per epoch (``epoch``, ``train_loss``, ``train_top1``,
    ``val_loss``, ``val_top1``)."""

    model: AttentionClusters
    classes: list[str]
    val_paths: list[str]
    history: list[dict]

    def predict(self, features: Features, *, batch_size: int = 64) -> torch.Tensor:
        """Logits ``[N, K]`` of every input of ``features`` (in :attr:`Features.paths` order)."""
        sequences = _sequences_like(features, self.model.in_features, "the head takes")
        device = next(self.model.parameters()).device
        self.model.eval()
        with torch.no_grad():
            return torch.cat(
                [
                    self.model(x.to(device), mask=mask.to(device)).float().cpu()
                    for x, mask in _batches(sequences, range(len(sequences)), batch_size)
                ]
            )


def fit_attention_clusters(
    train: Features,
    val: Features | None = None,
    *,
    val_fraction: float = 0.1,
    label_of: Callable[[str], str] = class_folder,
    num_units: int = 16,
    dropout: float = 0.5,
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: str | torch.device | None = None,
    log: Callable[[dict], None] | None = None,
) -> AttentionClustersFit:
    """Train :class:`~vidkit.models.attention_clusters.AttentionClusters` on frozen local features, the
    paper's recipe (Long et al., CVPR 2018, Sec. 4: local features extracted once, the attention clusters
    and classifier trained on them), and give the fitted head with its per-epoch history.

    ``train``, ``val``: ``vidkit extract`` outputs (:func:`load`) of sequences (:meth:`Features.sequences`);
    without ``val``, a stratified ``val_fraction`` of ``train`` per class (:func:`vidkit.data.split.
    stratified_split`, seeded). ``label_of`` maps an input's path to its class name (by default the class
    folder). Videos of different lengths batch together, padded and masked. Adam at ``lr`` without weight
    decay, as PaddlePaddle's attention_cluster trains (batch 32 here, for small sets); cross-entropy over the
    training classes; ``epochs`` passes, the last kept. Deterministic for a ``seed`` on the CPU; the
    caller's random state is left as it was. ``log`` receives each epoch's record."""
    from vidkit.models.attention_clusters import AttentionClusters  # the model registry: only when training

    sequences = train.sequences()
    width = sequences[0].shape[1]
    names = [label_of(p) for p in train.paths]
    if val is None:
        if isinstance(val_fraction, bool) or not 0 < val_fraction < 1:
            raise ConfigError(f"val_fraction={val_fraction!r}: give the share of each class held out, e.g. 0.1")
        classes = sorted(set(names))
        row = {p: i for i, p in enumerate(train.paths)}
        kept, held = stratified_split(
            [(p, classes.index(n)) for p, n in zip(train.paths, names)],
            classes,
            val_fraction=val_fraction,
            seed=seed,
            where=str(train.directory),
        )
        train_rows, val_rows = [row[p] for p, _ in kept], [row[p] for p, _ in held]
        val_sequences, val_names, val_paths = sequences, names, train.paths
    else:
        classes = sorted(set(names))
        train_rows = list(range(len(sequences)))
        val_sequences = _sequences_like(val, width, f"the training features' ({train.file(0)})")
        val_names, val_paths = [label_of(p) for p in val.paths], val.paths
        val_rows = list(range(len(val_sequences)))
        unknown = next((i for i, n in enumerate(val_names) if n not in classes), None)
        if unknown is not None:
            raise ConfigError(
                f"{val_paths[unknown]}: class {val_names[unknown]!r} is not among the {len(classes)} classes of "
                f"{train.directory} ({', '.join(classes)})"
            )
    if len(classes) < 2:
        raise ConfigError(f"{train.directory}: one class ({classes[0]!r}); a classifier needs at least 2")
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[n] for n in names])
    val_labels = torch.tensor([index[n] for n in val_names])
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    history: list[dict] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AttentionClusters(width, len(classes), num_units=num_units, dropout=dropout).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        order = torch.Generator().manual_seed(seed)
        for epoch in range(1, epochs + 1):
            model.train()
            shuffled = [train_rows[i] for i in torch.randperm(len(train_rows), generator=order)]
            loss_sum = right = 0.0
            for x, mask, y in _batches(sequences, shuffled, batch_size, labels):
                logits = model(x.to(device), mask=mask.to(device))
                loss = F.cross_entropy(logits, y.to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * len(y)
                right += float((logits.argmax(1).cpu() == y).sum())
            val_loss, val_top1 = _evaluate(model, val_sequences, val_rows, val_labels, batch_size, device)
            record = {
                "epoch": epoch,
                "train_loss": loss_sum / len(shuffled),
                "train_top1": right / len(shuffled),
                "val_loss": val_loss,
                "val_top1": val_top1,
            }
            history.append(record)
            if log is not None:
                log(record)
    model.eval()
    return AttentionClustersFit(model, classes, [val_paths[i] for i in val_rows], history)


def _sequences_like(features: Features, width: int, other: str) -> list[np.ndarray]:
    """``features.sequences()``, checked to be ``width`` wide: a :class:`FeatureFileError` naming the file."""
    sequences = features.sequences()
    if sequences[0].shape[1] != width:
        raise FeatureFileError(
            features.file(0), f"features {sequences[0].shape[1]} wide, {other} {width} (another model?)"
        )
    return sequences


def _batches(sequences: list[np.ndarray], rows: list[int] | range, batch_size: int, labels=None):
    """``(x [B, T, D] float32 zero-padded, mask [B, T], labels [B])`` (without ``labels``: ``(x, mask)``)
    of ``sequences[rows]``, ``batch_size`` at a time, ``T`` the longest of each batch."""
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        items = [torch.from_numpy(np.array(sequences[i], dtype=np.float32)) for i in chunk]  # a copy
        x = torch.nn.utils.rnn.pad_sequence(items, batch_first=True)
        lengths = torch.tensor([len(t) for t in items])
        mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
        yield (x, mask) if labels is None else (x, mask, labels[list(chunk)])


def _evaluate(model, sequences, rows, labels, batch_size, device) -> tuple[float, float]:
    """``(mean cross-entropy, top-1)`` of ``model`` on ``sequences[rows]``."""
    model.eval()
    loss_sum = right = 0.0
    with torch.no_grad():
        for x, mask, y in _batches(sequences, rows, batch_size, labels):
            logits = model(x.to(device), mask=mask.to(device)).float().cpu()
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            right += float((logits.argmax(1) == y).sum())
    return loss_sum / len(rows), right / len(rows)


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
