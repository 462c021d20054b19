"""Tagging and feature extraction on Ray Data, past one machine, with vidkit's guarantees intact.

``pip install -e '.[ray]'``; nothing else in vidkit imports Ray. Two stages stream into each other with Ray
Data's backpressure:

1. **decoding** (a pool of CPU actors, ``decode_cpus`` each): every file is decoded by vidkit's own
   crash-isolated worker (:func:`vidkit.utils.isolated_map`, the worker the model's task gives, as ``vidkit
   tag`` runs it), so a decoder that crashes or stalls becomes that file's error row instead of killing a
   Ray worker. One row per file carries all its clips (bounded by :mod:`vidkit.io.limits`) — no groupby,
   which would stop the streaming;
2. **the model** (a pool of actors, ``gpus_per_model`` GPUs or one CPU each): the model is shipped once
   through the object store (the weights need not be on every node), loaded once per actor, and the clips
   of the files in a batch go through :class:`vidkit.engine.tagger.Tagger` together — the same batching,
   transform and readout as local tagging, hence the same scores.

The driver (``vidkit tag --engine ray``, ``vidkit extract --engine ray``) consumes the stream and writes
every record with the same results writer as local runs (the output lock, resume, repair and odd names come
with it). Ray's docs advise against the Ray Client for Ray Data: run the driver on the cluster (``ray job
submit``, or on the head node) with ``address="auto"``. For one's own pipeline: :func:`tag` and
:func:`extract` return a :class:`ray.data.Dataset`.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vidkit.errors import ConfigError

__all__ = ["require", "DecodeStage", "ModelStage", "RayTagging", "extract", "results_dataset", "start", "tag"]


def require():
    """Ray's module, or a one-line :class:`~vidkit.errors.ConfigError` saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install -e '.[ray]' (or pip install 'ray[data]')") from None
    return ray


def start(address: str | None = None, *, num_cpus: int | None = None) -> float:
    """Connect to the cluster at ``address`` (``auto``: the one this machine belongs to; ``HOST:PORT``), or
    start a local one when none is given and none is running; the seconds it took."""
    import time

    ray = require()
    started = time.monotonic()
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing reaches for the internet
        kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=num_cpus, **kwargs)
        ray.data.DataContext.get_current().enable_progress_bars = False
    return time.monotonic() - started


class DecodeStage:
    """The decoding stage: one row per file in, one row per file out, with the file's pickled events
    (``[(kind, value), …]`` as :func:`vidkit.utils.isolated_map` gives them: its clips, then ``done`` with
    its info, or ``error``/``failed`` with the reason)."""

    def __init__(self, work, timeout_s: float):
        self.work, self.timeout_s = work, timeout_s

    def __call__(self, row: dict) -> dict:
        from vidkit.utils import isolated_map

        path = row["path"]
        pool = isolated_map(self.work, [path], workers=1, silence_s=self.timeout_s + 5, what="decoder")
        try:
            events = [(kind, value) for _, kind, value in pool]
        finally:
            pool.close()
        return {"path": path, "events": pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL)}


class ModelStage:
    """The model stage: the files of a batch through one :class:`~vidkit.engine.tagger.Tagger`; one row per
    file out, its :class:`~vidkit.engine.tagger.TagResult` pickled (tensors on the CPU)."""

    def __init__(self, model, spec, transform, readout, device: str, batch_size: int):
        import torch

        from vidkit.engine.loop import resolve_precision
        from vidkit.engine.tagger import Tagger

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        device = torch.device(device)
        precision = resolve_precision("auto", "auto", device)
        model = precision.place(model, device)
        self.tagger = Tagger(
            model,
            spec=spec,
            device=device,
            precision=precision,
            batch_size=batch_size,
            transform=transform,
            readout=readout,
        )

    def __call__(self, batch: dict) -> dict:
        events = [
            (path, kind, value)
            for path, payload in zip(batch["path"], batch["events"])
            for kind, value in pickle.loads(payload)
        ]
        results = {r.path: r for r in self.tagger.run(iter(events))}
        paths = list(batch["path"])
        return {
            "path": paths,
            "clips": [results[p].clips for p in paths],
            "result": [pickle.dumps(_on_cpu(results[p]), protocol=pickle.HIGHEST_PROTOCOL) for p in paths],
        }


def _on_cpu(result):
    import dataclasses

    return dataclasses.replace(
        result,
        scores=None if result.scores is None else result.scores.cpu(),
        segments=[(a, b, s.cpu()) for a, b, s in result.segments],
        windows=[(a, b, w.cpu()) for a, b, w in result.windows],
    )


@dataclass
class RayTagging:
    """A tagging run on Ray, as the jobs drive it: :meth:`run` yields a
    :class:`~vidkit.engine.tagger.TagResult` per file as the dataset streams (the local
    :class:`~vidkit.engine.tagger.Tagger`'s interface); :attr:`clips_done` counts the clips scored."""

    dataset: object
    clips_done: int = 0

    def run(self, _events=None) -> Iterator:
        for row in self.dataset.iter_rows():
            self.clips_done += int(row["clips"])
            yield pickle.loads(row["result"])

    def close(self) -> None:
        """Nothing to release: the cluster outlives the run (the driver's process ends its local one)."""


def results_dataset(
    paths_or_dataset,
    *,
    task,
    model,
    spec,
    transform,
    readout=None,
    segment_s: float | None = None,
    stride_s: float | None = None,
    backend: str = "pyav",
    timeout_s: float = 60.0,
    batch_size: int = 32,
    files_per_batch: int = 4,
    decoders: int | None = None,
    decode_cpus: float = 1.0,
    models: int = 1,
    gpus_per_model: float = 0.0,
    device: str = "auto",
):
    """The two stages over ``paths_or_dataset`` (paths, or a :class:`ray.data.Dataset` with a ``path``
    column): a dataset of rows ``{path, clips, result}`` (``result``: a pickled TagResult)."""
    ray = require()
    if task.workers_run_the_model:
        raise ConfigError(
            "--engine ray decodes in CPU tasks apart from the model; this model looks at its frames while "
            "decoding (AdaFrame): run it without --engine ray"
        )
    work = task.tagging_worker(None, spec, segment_s=segment_s, stride_s=stride_s, backend=backend, timeout_s=timeout_s)
    if isinstance(paths_or_dataset, ray.data.Dataset):
        dataset = paths_or_dataset.select_columns(["path"])
    else:
        dataset = ray.data.from_items([{"path": os.fspath(p)} for p in paths_or_dataset])
    cpus = int(ray.cluster_resources().get("CPU", 1))
    decoders = decoders or max(1, cpus - models)
    dataset = dataset.map(
        DecodeStage,
        fn_constructor_kwargs={"work": work, "timeout_s": timeout_s},
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=decoders),
        num_cpus=decode_cpus,
    )
    model = model.to("cpu").eval()
    return dataset.map_batches(
        ModelStage,
        fn_constructor_kwargs={
            "model": model,
            "spec": spec,
            "transform": transform,
            "readout": readout,
            "device": device if gpus_per_model or device != "auto" else "cpu",
            "batch_size": batch_size,
        },
        compute=ray.data.ActorPoolStrategy(size=models),
        num_gpus=gpus_per_model,
        num_cpus=0 if gpus_per_model else 1,
        batch_size=files_per_batch,
    )


def _results(paths_or_dataset, loaded, model, spec, readout, options: dict):
    return results_dataset(
        paths_or_dataset,
        task=loaded.task,
        model=model,
        spec=spec,
        transform=loaded.task.test_transform(loaded),
        readout=readout,
        **options,
    )


def tag(
    paths_or_dataset: Iterable | object,
    *,
    checkpoint: str | None = None,
    model: str | None = None,
    weights: str | None = None,
    classes: str | None = None,
    top_k: int = 5,
    views: str | None = None,
    segments: float | None = None,
    stride: float | None = None,
    clip: dict | None = None,
    **options,
):
    """Tag files on the cluster: a :class:`ray.data.Dataset` of ``{path, record}`` rows, ``record`` the JSON
    line ``vidkit tag`` writes for the file (labels, segments, the decoder's view, or the error). ``clip``:
    how clips are cut where the weights do not say (``num_frames``, ``interval_s``, ``crop_size``,
    ``test_scale``). ``options``: those of :func:`results_dataset` (``decode_cpus``, ``gpus_per_model``,
    ``models`` …)."""
    from vidkit.engine.inference import load_for_inference
    from vidkit.engine.results import tag_record

    loaded, net, names = load_for_inference(checkpoint=checkpoint, model=model, weights=weights, classes=classes)
    spec, _ = loaded.task.view_spec(loaded, views=views or ("1x1" if segments else "3x1"), **(clip or {}))
    dataset = _results(
        paths_or_dataset, loaded, net, spec, None, {"segment_s": segments, "stride_s": stride, **options}
    )

    def record(row: dict) -> dict:
        result = pickle.loads(row["result"])
        return {"path": row["path"], "record": json.dumps(tag_record(result, names, top_k), ensure_ascii=False)}

    return dataset.map(record)


def extract(
    paths_or_dataset: Iterable | object,
    *,
    checkpoint: str | None = None,
    model: str | None = None,
    weights: str | None = None,
    layer: str = "pooled",
    keep_views: bool = False,
    views: str | None = None,
    segments: float | None = None,
    stride: float | None = None,
    clip: dict | None = None,
    **options,
):
    """Extract features on the cluster: a :class:`ray.data.Dataset` of ``{path, windows, features, error}``
    rows (``windows``: ``[[start_s, end_s], …]``; ``features``: float32 ``[W, …]``, the windows' features as
    ``vidkit extract`` writes them; None with an ``error``)."""
    import numpy as np

    from vidkit.engine.inference import load_for_inference
    from vidkit.engine.readouts import Features

    loaded, net, _ = load_for_inference(checkpoint=checkpoint, model=model, weights=weights)
    loaded.task.check_extracting(loaded)
    spec, _ = loaded.task.view_spec(loaded, views=views or ("1x1" if segments else "3x1"), **(clip or {}))
    readout = Features(layer, keep_views=keep_views)
    dataset = _results(
        paths_or_dataset, loaded, net, spec, readout, {"segment_s": segments, "stride_s": stride, **options}
    )

    def features(row: dict) -> dict:
        result = pickle.loads(row["result"])
        stacked = None if result.error else np.stack([w.numpy() for _, _, w in result.windows]).astype(np.float32)
        return {
            "path": row["path"],
            "windows": [[a, b] for a, b, _ in result.windows],
            "features": stacked,
            "error": result.error,
        }

    return dataset.map(features)
