"""The multi-view evaluation behind ``vidkit eval`` for models that label whole clips, and the
report it leaves.

The run directory holds:

* ``results.json`` — top-1, top-5, mean class accuracy, videos evaluated out of listed, the views and
  clip settings, the checkpoint's SHA-256, the manifest's hash, the top confusions, timing;
* ``per_class.csv`` — videos, top-1 and top-5 of every class;
* ``confusion.png`` — the confusion matrix (row-normalised, log colour scale);
* ``scores.npz`` — per-view logits ``[N, V, C]`` (float32; float16 past 50M numbers) of every evaluated
  video with its key and label, so views and ensembles can be re-aggregated
  (:func:`vidkit.engine.metrics.aggregate`) without running the model again;
* ``manifest.jsonl`` — one line per listed video: path, size, duration, fps, and whether it was
  evaluated, missing or undecodable (and why).
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vidkit.errors import ConfigError
from vidkit.utils import atomic_path, atomic_write, atomic_write_text


def evaluate(
    loaded,
    catalog,
    spec,
    *,
    preset: str,
    aggregate_how: str = "softmax",
    batch_size: int = 32,
    workers: int = 1,
    backend: str = "pyav",
    timeout_s: float = 60.0,
    limit: int | None = None,
    device: str = "auto",
    out: Path,
    transform=None,
) -> dict | None:
    """Evaluate, write the report to ``out`` (rank 0) and return the results (None on other ranks).
    ``transform`` turns the decoded views into the model's input (default: RGB normalisation)."""
    from tqdm import tqdm

    from vidkit.data.transforms import ClipTransform
    from vidkit.data.views import VideoViews
    from vidkit.engine import distributed
    from vidkit.engine.evaluator import decoded_views, predict_views
    from vidkit.engine.loop import resolve_precision

    started = time.monotonic()
    ctx = distributed.setup(device)
    try:
        model, classes, label_of = _model_and_labels(loaded, catalog)
        # the labels as the checkpoint's class indices, in the scores, the report and the manifest alike
        listed = catalog.entries[:limit] if limit else catalog.entries
        entries = [dataclasses.replace(e, label=label_of(e.label)) for e in listed]
        samples = [(e.path, e.label) for e in entries]
        precision = resolve_precision("auto", "auto", ctx.device)
        model = precision.place(model, ctx.device)
        dataset = VideoViews(samples, spec, backend=backend, timeout_s=timeout_s)
        mine = range(ctx.rank, len(entries), ctx.world_size)
        items = decoded_views(dataset, mine, workers=workers, silence_s=timeout_s + 30)
        if transform is None:  # normalisation only: the views arrive scaled and cropped
            transform = ClipTransform()
        if ctx.is_main:
            print(
                f"vidkit eval: {loaded.name} on {catalog.name} {catalog.split} ({len(entries)} videos listed, "
                f"{len(catalog.missing)} of them missing), {spec.num_clips}x{spec.num_crops} views ({preset}) of "
                f"{spec.num_frames} frames {spec.interval_s:.4g} s apart, {spec.crop_size}px crops; on {ctx.device} "
                f"x{ctx.world_size}, {precision.describe()}",
                file=sys.stderr,
            )
            for w in catalog.warnings:
                print(f"vidkit eval: warning: {w}", file=sys.stderr)
        part = {"index": [], "logits": [], "records": {}}
        bar = tqdm(
            total=len(mine),
            unit="video",
            desc="vidkit eval",
            file=sys.stderr,
            dynamic_ncols=True,
            disable=not (ctx.is_main and sys.stderr.isatty()),
        )
        for result in predict_views(
            model,
            items,
            transform=transform,
            crop_size=spec.crop_size,
            device=ctx.device,
            precision=precision,
            batch_size=batch_size,
        ):
            part["records"][result.index] = _record(entries[result.index], result)
            if result.error is None:
                part["index"].append(result.index)
                part["logits"].append(result.logits)
            bar.update()
        bar.close()
        seconds = time.monotonic() - started
        merged = _gather(part, ctx, out)
        if not ctx.is_main:
            return None
        return write_report(
            out,
            loaded=loaded,
            catalog=catalog,
            entries=entries,
            spec=spec,
            preset=preset,
            classes=classes,
            merged=merged,
            aggregate_how=aggregate_how,
            seconds=seconds,
            device=str(ctx.device),
            world_size=ctx.world_size,
        )
    finally:
        distributed.teardown(ctx)


def trained_on(loaded) -> str:
    """The dataset a vidkit checkpoint was trained on (``--data``'s default)."""
    if loaded.config is None:
        raise ConfigError("--data is needed: the checkpoint does not say what it was trained on")
    return loaded.trained.get("name") or "synthetic"


def open_eval_catalog(data: str, request, loaded):
    """The :class:`~vidkit.data.catalog.Catalog` of ``request.split`` of ``data`` to evaluate on: the
    built-in set the checkpoint was trained on, or a dataset as downloaded (found where ``request``
    says, or where the checkpoint was trained from)."""
    from vidkit.data.synthetic import synthetic_catalog

    if data == "synthetic":
        return synthetic_catalog(
            loaded.config or {}, split=request.split, root=request.data_root, progress=sys.stderr.isatty()
        )
    from vidkit.data.catalog import open_catalog

    where = {"root": request.data_root, "annotations": request.annotations, "videos": request.videos}
    trained = loaded.trained
    if not any(where.values()) and trained.get("name") == data:  # where the checkpoint was trained from
        where = {k: trained.get(k) for k in where}
    folder_split = trained.get("name") == "folder" and trained.get("annotations")  # vidkit train split it
    if data == "folder" and folder_split and request.annotations is None:
        where = _run_split(where, request, loaded)
    if not any(where.values()):
        raise ConfigError(
            f"--data {data} needs --data-root DIR (the dataset folder as downloaded), or --annotations and --videos"
        )
    return open_catalog(data, **where, split=request.split)


def _run_split(where: dict, request, loaded) -> dict:
    """Where to evaluate a run trained on a folder that ``vidkit train`` split (:func:`vidkit.data.split.split_folder`):
    the run's own lists, recorded as the config's ``data.annotations`` (or, when that is gone, the
    ``splits/`` folder beside the checkpoint: a run directory moved), so that its training videos are
    not evaluated. Only when the user names no other folder: ``--data-root``/``--videos`` unset or the
    folder the run trained on. Says in one stderr line which list it uses."""
    from vidkit.data.catalog import canonical_split
    from vidkit.data.lists import has_split_lists, list_file_name

    trained = loaded.trained
    split = canonical_split(request.split)
    folder = trained.get("videos") or trained.get("root")
    given = request.videos or request.data_root
    if given is not None and not (folder and _same_folder(given, folder)):
        return where  # another folder: evaluated whole, as any folder is
    recorded = os.fspath(trained["annotations"])
    beside = os.path.join(os.path.dirname(os.path.abspath(loaded.path)), "splits")
    where = dict(where, annotations=None)
    if given is None:
        where.update(root=trained.get("root"), videos=trained.get("videos"))
    if has_split_lists(recorded):
        lists, note = recorded, ""
    elif has_split_lists(beside):
        lists, note = beside, f"; found beside the checkpoint, as {recorded} is gone"
    else:
        print(
            f"vidkit eval: warning: the run's split lists ({recorded}, or {beside}) are gone: evaluating on every "
            f"video of {folder}, its training videos included",
            file=sys.stderr,
        )
        return where
    print(
        f"vidkit eval: the run's {split} list {os.path.join(lists, list_file_name(split))} "
        f"(the split it trained with{note}), not every video of {folder}",
        file=sys.stderr,
    )
    return dict(where, annotations=lists)


def _same_folder(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    a, b = (os.path.abspath(os.path.expanduser(os.fspath(p))) for p in (a, b))
    try:
        return os.path.samefile(a, b)
    except OSError:  # either is gone: compare the names
        return os.path.normpath(a) == os.path.normpath(b)


def out_dir(out: str | None, model: str, data: str) -> Path:
    """The report's folder: ``out``, or ``runs/eval-<model>-<data>-<date>-<time>``."""
    return Path(out) if out else Path(f"runs/eval-{model}-{data}-{time.strftime('%Y%m%d-%H%M%S')}")


def _model_and_labels(loaded, catalog):
    """The model, its class names, and the map from the dataset's label indices to the model's: by
    class name (a folder holding some of the classes, in its own order), or as they are for a list
    file's bare indices. A dataset class the checkpoint does not know is refused, naming those it knows."""
    if loaded.model is None:  # peer weights: the dataset says how many classes
        model = loaded.build(len(catalog.classes))
        return model, tuple(catalog.classes), lambda label: label
    model, classes = loaded.model, loaded.classes
    if classes is None or tuple(classes) == tuple(catalog.classes):
        return model, tuple(classes or catalog.classes), lambda label: label
    index = {name: i for i, name in enumerate(classes)}
    unknown = [c for c in catalog.classes if c not in index]
    bare = tuple(catalog.classes) == tuple(str(i) for i in range(len(catalog.classes)))  # a list without a label map
    if all(c.isdigit() for c in catalog.classes) and len(catalog.classes) <= len(classes) and (bare or unknown):
        return model, tuple(classes), lambda label: label  # a list file's bare indices: the checkpoint names them
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(classes), n=1)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        more = f" (and {len(unknown) - 1} more of the dataset's classes)" if len(unknown) > 1 else ""
        shown = ", ".join(classes[:30]) + (f", ... ({len(classes)} in all)" if len(classes) > 30 else "")
        raise ConfigError(
            f"{loaded.path}: the dataset's class {unknown[0]!r}{more} is not one the checkpoint knows{hint} "
            f"(it knows {shown})"
        )
    mapping = [index[c] for c in catalog.classes]
    return model, tuple(classes), lambda label: mapping[label] if label >= 0 else label


def _record(entry, result) -> dict:
    from vidkit.data.scan import record_for

    record = record_for(entry, info=result.info, error=result.error)
    if result.error is not None and result.error.startswith("missing"):
        record["status"] = "missing"
    if result.warnings:
        record["warnings"] = list(result.warnings)
    if result.frames is not None:
        record["frames"] = round(result.frames, 3)  # how many of the candidates the model looked at (AdaFrame)
    record["evaluated"] = result.error is None
    return record


def _gather(part: dict, ctx, out: Path) -> dict:
    """Every rank's results, in video order, on rank 0 (through files in ``out``: scores can be large)."""
    from vidkit.engine import distributed

    if not ctx.distributed:
        return part
    out.mkdir(parents=True, exist_ok=True)
    torch.save(part, out / f".rank{ctx.rank}.pt")
    distributed.barrier(ctx)
    merged = {"index": [], "logits": [], "records": {}}
    if ctx.is_main:
        for rank in range(ctx.world_size):
            path = out / f".rank{rank}.pt"
            shard = torch.load(path, weights_only=True)
            merged["index"] += shard["index"]
            merged["logits"] += shard["logits"]
            merged["records"].update(shard["records"])
            path.unlink()
    distributed.barrier(ctx)
    return merged


def write_report(
    out: Path, *, loaded, catalog, entries, spec, preset, classes, merged, aggregate_how, seconds, device, world_size
) -> dict:
    from vidkit.data.scan import write_manifest
    from vidkit.engine.metrics import aggregate, classification_report
    from vidkit.engine.plots import plot_confusion

    out.mkdir(parents=True, exist_ok=True)
    order = np.argsort(merged["index"], kind="stable")
    index = [merged["index"][i] for i in order]
    logits = (
        torch.stack([merged["logits"][i] for i in order]) if index else torch.zeros(0, spec.num_views, len(classes))
    )
    labels = [merged["records"][i]["label"] for i in index]
    records = [merged["records"][i] for i in range(len(entries))]
    report = classification_report(aggregate(logits, aggregate_how), labels, classes) if index else None

    manifest_sha = write_manifest(records, out / "manifest.jsonl")
    _save_scores(
        out / "scores.npz",
        keys=[entries[i].key for i in index],
        labels=labels,
        logits=logits,
        classes=classes,
        spec=spec,
    )
    _write_per_class(out / "per_class.csv", report["per_class"] if report else [])
    if report:
        plot_confusion(
            report["confusion"],
            list(classes),
            out / "confusion.png",
            title=f"{loaded.name} on {catalog.name} {catalog.split}: confusion ({len(classes)} classes, log scale)",
        )
    status = {s: sum(r["status"] == s for r in records) for s in ("ok", "missing", "undecodable")}
    failed = [f"{r['path'] or r['key']}: {r['reason']}" for r in records if r["status"] != "ok"]
    views = len(index) * spec.num_views
    looked = [merged["records"][i]["frames"] for i in index if "frames" in merged["records"][i]]
    results = {
        "top1": report["top1"] if report else None,
        "top5": report["top5"] if report else None,
        "mean_class_accuracy": report["mean_class_accuracy"] if report else None,
        "videos": {
            "listed": len(entries),
            "evaluated": len(index),
            "labelled": report["videos"] if report else 0,
            "missing": status["missing"],
            "undecodable": status["undecodable"],
        },
        "data": {
            "name": catalog.name,
            "split": catalog.split,
            "annotations": catalog.annotations,
            "videos_root": catalog.videos_root,
            "classes": len(classes),
            "warnings": list(catalog.warnings),
        },
        "checkpoint": {"path": os.path.abspath(loaded.path), "sha256": loaded.sha256, "model": loaded.name},
        "views": {
            "preset": preset,
            "clips": spec.num_clips,
            "crops": spec.num_crops,
            "num_frames": spec.num_frames,
            "interval_s": spec.interval_s,
            "crop_size": spec.crop_size,
            "test_scale": spec.test_scale,
            "aggregate": aggregate_how,
        },
        "manifest": {"path": str(out / "manifest.jsonl"), "sha256": manifest_sha},
        "top_confusions": report["top_confusions"] if report else [],
        # a model that picks its frames (AdaFrame): of the num_frames candidates, how many it looked at
        "frames_per_video": round(sum(looked) / len(looked), 3) if looked else None,
        "failed": failed[:100],
        "config": loaded.config,
        "device": device,
        "world_size": world_size,
        "seconds": round(seconds, 2),
        "videos_per_s": round(len(index) / seconds, 3) if seconds else None,
        "views_per_s": round(views / seconds, 2) if seconds else None,
    }
    _write_json(out / "results.json", results)
    _print_summary(results, out)
    return results


def _save_scores(path: Path, *, keys, labels, logits, classes, spec) -> None:
    views = np.arange(spec.num_views)
    # float32 up to 50M numbers (any test set of a few thousand videos), float16 beyond: Kinetics-400's
    # 20k videos x 30 views x 400 classes are 240M numbers, 0.5 GB in float16
    values = logits.numpy() if logits.numel() <= 50_000_000 else logits.half().numpy()
    with atomic_path(path) as tmp:  # keeps the .npz suffix, so numpy adds none
        np.savez_compressed(
            tmp,
            logits=values,
            keys=np.array(keys, dtype=str),
            labels=np.array(labels, dtype=np.int64),
            classes=np.array(classes, dtype=str),
            view_clip=views // spec.num_crops,
            view_crop=views % spec.num_crops,
        )


def _write_per_class(path: Path, rows: list[dict]) -> None:
    with atomic_write(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "class", "videos", "top1", "top5"])
        for r in rows:
            w.writerow(
                [
                    r["index"],
                    r["class"],
                    r["videos"],
                    "" if r["top1"] is None else f"{r['top1']:.4f}",
                    "" if r["top5"] is None else f"{r['top5']:.4f}",
                ]
            )


def _write_json(path: Path, value: dict) -> None:
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def _print_summary(r: dict, out: Path) -> None:
    v = r["videos"]
    if r["top1"] is None:
        line = "no video could be evaluated"
    else:
        line = f"top-1 {r['top1']:.2%}  top-5 {r['top5']:.2%}  mean class accuracy {r['mean_class_accuracy']:.2%}"
    print(
        f"\nvidkit eval: {line}\n"
        f"  videos       {v['evaluated']} evaluated of {v['listed']} listed "
        f"({v['missing']} missing, {v['undecodable']} undecodable)\n"
        f"  views        {r['views']['clips']}x{r['views']['crops']} ({r['views']['preset']}), "
        f"{r['views_per_s']} views/s\n"
        + (
            f"  frames       {r['frames_per_video']:.2f} of {r['views']['num_frames']} candidates looked at per video "
            "(the policy's early exit)\n"
            if r.get("frames_per_video") is not None
            else ""
        )
        + f"  report       {out / 'results.json'}  {out / 'per_class.csv'}  {out / 'confusion.png'}\n"
        f"  scores       {out / 'scores.npz'} (per view; re-aggregate without the model)\n"
        f"  manifest     {out / 'manifest.jsonl'}",
        file=sys.stderr,
    )
    for c in r["top_confusions"][:5]:
        print(f"  confused     {c['true']} -> {c['predicted']}: {c['count']} ({c['share']:.0%})", file=sys.stderr)
