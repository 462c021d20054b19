"""``vidkit extract``: the features of every video of folders or lists, with ``vidkit tag``'s guarantees.

The same composition as ``vidkit tag`` (:mod:`vidkit.pipelines.tag`): the model, this shard's videos
minus those the index already holds, crash-isolated decoding workers, the model batched across videos
(:class:`~vidkit.engine.tagger.Tagger`, reading out features instead of class probabilities:
:class:`~vidkit.engine.readouts.Features`), then one record per video in ``DIR/index.jsonl``
(:class:`~vidkit.engine.results.ResultsFile`: locked, resumed, repaired) and its features in
``DIR/features/`` (npy) or ``DIR/shards/`` (parquet). A record is appended only once the writer says its
features are complete on disk, so a run killed at any moment and started again redoes exactly the
videos without a record.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

from vidkit.engine.skipped import skipped_line
from vidkit.errors import ConfigError
from vidkit.pipelines._videos import (
    ABOVE,
    AT_LEAST,
    add_clip_arguments,
    add_model_arguments,
    check_stride,
    find_inputs,
    reason_kind,
    run_device,
    start_tagging,
    view_spec,
)

INDEX = "index.jsonl"
# what an extract output folder holds: the index, its lock, the npy files, the parquet shards
_OURS = {INDEX, f".{INDEX}.lock", "features", "shards"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help=f"output folder: {INDEX} (a record per video; resumed, locked while a run writes it) and the "
        "features (features/*.npy, or shards/*.parquet); refused if it holds anything else",
    )
    parser.add_argument(
        "--layer",
        choices=("pooled", "temporal"),
        default="pooled",
        help="pooled (default): the features the classifier sees, [D] per window; temporal: the last feature "
        "map pooled over space only, [T', D] per window",
    )
    parser.add_argument("--keep-views", action="store_true", help="store each view's features instead of their mean")
    parser.add_argument(
        "--format", choices=("npy", "parquet"), default="npy", help="npy (default): a file per video; parquet"
    )
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float32")
    add_clip_arguments(parser, per="extract", out_example="features.$RANK")


def run(args: argparse.Namespace) -> int:
    from vidkit.pipelines.config import check_options

    check_options(args, at_least=AT_LEAST, above=ABOVE)  # before any work
    out = Path(args.out)
    check_folder(out)
    writer_class = _writer_class(args.format)
    import torch
    from tqdm import tqdm

    from vidkit.engine.inference import load_for_inference
    from vidkit.engine.loop import resolve_precision
    from vidkit.engine.readouts import Features
    from vidkit.engine.results import ResultsFile, check_output

    started = time.monotonic()
    check_output(out / INDEX, "jsonl")
    loaded, model, _ = load_for_inference(checkpoint=args.checkpoint, model=args.model, weights=args.weights)
    task = loaded.task
    task.check_extracting(loaded)
    spec = view_spec(task, loaded, args)
    check_stride(args)
    videos, skipped, listed, workers = find_inputs(args, out=str(out), job="extract")
    common = {
        "layer": args.layer,
        "dtype": args.dtype,
        "model": loaded.name,
        "weights_sha256": loaded.sha256,  # load_model hashed the file it read
        "recipe": {
            "num_frames": spec.num_frames,
            "interval_s": spec.interval_s,
            "crop_size": spec.crop_size,
            "test_scale": spec.test_scale,
            "views": f"{spec.num_clips}x{spec.num_crops}",
            "segments_s": args.segments,
            "stride_s": args.stride if args.segments else None,
            "keep_views": args.keep_views,
        },
    }
    results = ResultsFile(out / INDEX, "jsonl", inputs=set(videos), job="extract")
    events = bar = None
    extracted, failures = 0, collections.Counter()
    try:  # from here on, the index is closed (and its lock released) whatever happens
        writer = writer_class(out, dtype=args.dtype)
        todo = [p for p in videos if p not in results.done]
        device = run_device(args, task)
        precision = resolve_precision("auto", "auto", device)
        model = precision.place(model, device)
        print(
            f"vidkit extract: {len(videos)} videos{f' (shard {args.shard})' if args.shard else ''}"
            + (f" ({len(skipped)} other files skipped)" if skipped else "")
            + f", {len(videos) - len(todo)} already in {out / INDEX}, {len(todo)} to extract with {loaded.name} "
            f"on {device}: {args.layer} features of {task.describe_tagging(model, spec)}"
            + (f" per {args.segments:g} s window" if args.segments else ""),
            file=sys.stderr,
        )
        readout = Features(args.layer, keep_views=args.keep_views)
        tagger, events = start_tagging(
            args, loaded, model, spec, todo, device=device, precision=precision, workers=workers, readout=readout
        )
        bar = tqdm(
            total=len(todo), unit="video", desc="vidkit extract", file=sys.stderr, disable=not sys.stderr.isatty()
        )
        for result in tagger.run(events):
            if result.error:
                failures[reason_kind(result.error)] += 1
                results.write(extract_record(result, common))
            else:
                extracted += 1
                features = torch.stack([w for _, _, w in result.windows]).numpy()
                for done in writer.add(extract_record(result, common, shape=features.shape), features):
                    results.write(done)
            bar.update()
        for done in writer.close():
            results.write(done)
    finally:
        if events is not None:
            events.close()
        if bar is not None:
            bar.close()
        results.close()
    failed = sum(failures.values())
    seconds = time.monotonic() - started
    lines = [
        f"\nvidkit extract: {extracted} extracted, {failed} failed"
        + (f", {len(videos) - len(todo)} already done" if len(videos) != len(todo) else "")
        + f" in {seconds:.1f} s ({tagger.clips_done / seconds if seconds else 0:.1f} clips/s)",
        f"  index        {out / INDEX}",
    ]
    lines += [f"  failed       {count} x {reason}" for reason, count in failures.most_common()]
    if skipped:
        lines.append(skipped_line(skipped, listed))
    print("\n".join(lines), file=sys.stderr)
    return 0


def extract_record(result, common: dict, *, shape=None) -> dict:
    """The index record of one video (a :class:`~vidkit.engine.tagger.TagResult` read out with
    :class:`~vidkit.engine.readouts.Features`; ``shape``: its features'), before its writer fills
    ``features`` and ``rows``."""
    from vidkit.engine.results import text_record

    return text_record(
        {
            "path": result.path,
            "features": None,
            "rows": None,
            "shape": None if shape is None else list(shape),
            "windows": [[round(a, 3), round(b, 3)] for a, b, _ in result.windows],
            **common,
            "error": result.error,
            "info": result.info,
        }
    )


def check_folder(out: Path) -> None:
    """Refuse, in one line and before any work, an ``--out`` that is not a folder or holds anything an
    extract run does not write."""
    try:
        entries = os.listdir(out)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise ConfigError(f"{out}: not a folder; --out takes a folder for vidkit extract's output") from None
    except OSError as e:
        raise ConfigError(f"{out}: cannot be the output ({e.strerror})") from None
    other = sorted(name for name in entries if name not in _OURS)
    if other:
        raise ConfigError(
            f"{out}: holds other things than a vidkit extract output ({other[0]!r}"
            + (f" and {len(other) - 1} more" if len(other) > 1 else "")
            + "); left unchanged, use another --out"
        )


def _writer_class(fmt: str):
    if fmt == "npy":
        from vidkit.engine.feature_files import NpyWriter

        return NpyWriter
    try:  # said before the model is loaded or a video decoded
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ConfigError("--format parquet needs pyarrow: pip install 'vidkit[parquet]'") from None
    from vidkit.engine.feature_parquet import ParquetWriter

    return ParquetWriter


__all__ = ["add_arguments", "check_folder", "extract_record", "run"]
