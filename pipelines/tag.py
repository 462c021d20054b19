"""``vidkit tag``: label every video of folders or lists, robustly, resumably.

The composition: the model and its classes (:func:`vidkit.engine.inference.load_for_inference`) →
the videos (:func:`vidkit.io.find_videos`, this shard's share, minus those the results file already
holds) → crash-isolated workers (:func:`vidkit.utils.isolated_map` over the worker the model's task
gives: decoding, or an adaptive model looking at its frames) → the model, batched across videos
(:class:`~vidkit.engine.tagger.Tagger`) → one record per video, appended and flushed to the results
file as it is made (:class:`vidkit.engine.results.ResultsFile`).

Killed at any moment (even SIGKILL) and started again with the same command, it finishes the rest:
no record lost, none twice, no half-written line.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import time
from pathlib import Path

from vidkit.engine.skipped import list_skipped, skipped_line
from vidkit.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="videos, folders (searched recursively) or .txt lists of paths"
    )
    parser.add_argument(
        "--checkpoint", metavar="CKPT", help="a vidkit checkpoint (it names its model, classes and clip settings)"
    )
    parser.add_argument("--model", help="with --weights: the model the weights are for")
    parser.add_argument(
        "--weights",
        metavar="NAME|FILE",
        help="for --model: published weights by name (e.g. kinetics400: labels and recipe come with them; "
        "`vidkit models --weights`), or a file (pytorchvideo, PySlowFast, mmaction2, torchvision)",
    )
    parser.add_argument("--classes", metavar="FILE", help="with --weights: class names, one per line, in index order")
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="results file (appended to; an existing one is resumed, and refused if it is not a vidkit tag "
        "output; locked while a run writes it); - streams the records to standard output, with no lock, "
        "repair or resume",
    )
    parser.add_argument(
        "--format", choices=("jsonl", "csv"), help="jsonl (default; from the extension: .csv means csv)"
    )
    parser.add_argument(
        "--glob",
        metavar="PATTERN",
        help="in folders, take files matching this (e.g. '*.MOV') instead of known video extensions",
    )
    parser.add_argument(
        "--sniff",
        action="store_true",
        help="in folders, take every file FFmpeg finds a video stream in, whatever its name (probed in workers)",
    )
    parser.add_argument("--top-k", type=int, default=5, help="labels per video (default 5)")
    parser.add_argument(
        "--segments", type=float, metavar="SECONDS", help="also label each window of this length (long videos stream)"
    )
    parser.add_argument(
        "--stride",
        type=float,
        metavar="SECONDS",
        help="with --segments: a window starts every STRIDE s (default: "
        "the window length; shorter slides overlapping windows)",
    )
    parser.add_argument(
        "--views", metavar="NxM", help="clips x crops per video (or per segment): default 3x1 (1x1 with --segments)"
    )
    parser.add_argument("--num-frames", type=int)
    parser.add_argument("--interval-s", type=float)
    parser.add_argument("--sampling-rate", type=int)
    parser.add_argument("--target-fps", type=float, default=30.0)
    parser.add_argument("--crop-size", type=int)
    parser.add_argument("--test-scale", type=int)
    parser.add_argument("--batch-size", type=int, default=32, help="clips per forward pass")
    parser.add_argument("--workers", type=int, help="decoding processes (default: CPU cores - 1, at most 8)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="abandon a file whose decoding makes no progress this long",
    )
    parser.add_argument(
        "--shard",
        metavar="K/N",
        help="take the K-th of N equal shares (K from 0; e.g. $RANK/$WORLD_SIZE); shards running at the same "
        "time need an --out each (e.g. tags.$RANK.jsonl): a run locks its output",
    )
    parser.add_argument("--backend", default="pyav", choices=("pyav", "decord"))
    parser.add_argument("--device", default="auto", help="auto (default: cuda when there is one), cpu, cuda, cuda:1")


def run(args: argparse.Namespace) -> int:
    from vidkit.pipelines.config import check_options

    check_options(  # before any work: none of these can give a record worth having
        args,
        at_least={
            "top_k": 1,
            "batch_size": 1,
            "workers": 1,
            "num_frames": 1,
            "sampling_rate": 1,
            "crop_size": 1,
            "test_scale": 1,
        },
        above={"timeout": 0, "target_fps": 0, "segments": 0, "interval_s": 0},
    )
    import torch
    from tqdm import tqdm

    from vidkit.engine.inference import load_for_inference
    from vidkit.engine.loop import resolve_precision
    from vidkit.engine.results import ResultsFile, check_output, tag_record
    from vidkit.engine.tagger import Tagger
    from vidkit.io import find_videos
    from vidkit.utils import default_workers, isolated_map

    started = time.monotonic()
    fmt = args.format or ("csv" if str(args.out).lower().endswith(".csv") else "jsonl")
    if args.out != "-":  # an output vidkit must not write is refused before any work
        check_output(Path(args.out), fmt)
    loaded, model, classes = load_for_inference(
        checkpoint=args.checkpoint, model=args.model, weights=args.weights, classes=args.classes
    )
    task = loaded.task
    spec, _ = task.view_spec(
        loaded,
        views=args.views or ("1x1" if args.segments else "3x1"),
        num_frames=args.num_frames,
        interval_s=args.interval_s,
        sampling_rate=args.sampling_rate,
        target_fps=args.target_fps,
        crop_size=args.crop_size,
        test_scale=args.test_scale,
    )
    task.check_segments(loaded, args.segments)
    skipped: list[tuple[str, str]] = []  # (path, reason) of the files the folders hold that are not videos
    # one CPU left to the main process, which runs the model
    workers = args.workers if args.workers is not None else default_workers(reserve=1)
    found = find_videos(args.paths, glob=args.glob or ("*" if args.sniff else None), skipped=skipped)
    videos = _shard(found, args.shard)
    if args.sniff:  # every file is a candidate: FFmpeg says which hold video
        from vidkit.io.sniff import sniff_videos

        videos, not_videos = sniff_videos(videos, workers=workers, timeout_s=args.timeout)
        skipped = sorted(skipped + not_videos)
    listed = None if args.out == "-" else list_skipped(args.out, skipped, job="tag")  # with --out -: summary only
    results = ResultsFile(Path(args.out), fmt, stream=sys.stdout if args.out == "-" else None, inputs=set(videos))
    events = bar = None
    try:  # from here on, the output is closed (and its lock released) whatever happens
        todo = [p for p in videos if p not in results.done]
        device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        )
        device = task.tagging_device(device)
        precision = resolve_precision("auto", "auto", device)
        model = precision.place(model, device)
        print(
            f"vidkit tag: {len(videos)} videos{f' (shard {args.shard})' if args.shard else ''}"
            + (f" ({len(skipped)} other files skipped)" if skipped else "")
            + ", "
            f"{len(videos) - len(todo)} already in {args.out}, {len(todo)} to tag with {loaded.name} "
            f"({len(classes)} classes) on {device}; "
            + task.describe_tagging(model, spec)
            + (f" per {args.segments:g} s segment" if args.segments else ""),
            file=sys.stderr,
        )
        if args.stride is not None and (not args.segments or args.stride <= 0):
            raise ConfigError("--stride goes with --segments, and is a positive number of seconds")
        work = task.tagging_worker(
            model, spec, segment_s=args.segments, stride_s=args.stride, backend=args.backend, timeout_s=args.timeout
        )
        tagger = Tagger(
            model,
            spec=spec,
            device=device,
            precision=precision,
            batch_size=args.batch_size,
            transform=task.test_transform(loaded),
        )
        failures: collections.Counter = collections.Counter()
        tagged = 0
        bar = tqdm(
            total=len(todo),
            unit="video",
            desc="vidkit tag",
            file=sys.stderr,
            dynamic_ncols=True,
            disable=not sys.stderr.isatty(),
        )
        events = isolated_map(
            work, todo, workers=min(workers, max(1, len(todo))), silence_s=args.timeout + 5, what="decoder"
        )
        for result in tagger.run(events):
            results.write(tag_record(result, classes, args.top_k))
            if result.error:
                failures[_reason_kind(result.error)] += 1
            else:
                tagged += 1
            bar.update()
            bar.set_postfix_str(
                f"{tagger.clips_done / max(time.monotonic() - started, 1e-9):.1f} clips/s", refresh=False
            )
    finally:
        if events is not None:
            events.close()
        if bar is not None:
            bar.close()
        results.close()
    _summary(
        tagged,
        failures,
        done_before=len(videos) - len(todo),
        out=args.out,
        seconds=time.monotonic() - started,
        clips=tagger.clips_done,
        skipped=skipped,
        listed=listed,
    )
    return 0


def _shard(videos: list[str], shard: str | None) -> list[str]:
    if not shard:
        return videos
    match = re.fullmatch(r"(\d+)/(\d+)", shard)
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise ConfigError(f"--shard {shard}: expected K/N with 0 <= K < N, e.g. 0/4")
    k, n = int(match[1]), int(match[2])
    return videos[k::n]


def _reason_kind(reason: str) -> str:
    """The kind of a failure, for counting: its text before any detail in brackets or after a colon."""
    return re.split(r" \(|: ", reason, maxsplit=1)[0].strip()


def _summary(
    tagged: int,
    failures: collections.Counter,
    *,
    done_before: int,
    out: str,
    seconds: float,
    clips: int,
    skipped: list[tuple[str, str]],
    listed: str | None,
) -> None:
    failed = sum(failures.values())
    rate = (tagged + failed) / seconds if seconds else 0.0
    lines = [
        f"\nvidkit tag: {tagged} tagged, {failed} failed"
        + (f", {done_before} already done" if done_before else "")
        + f" in {seconds:.1f} s ({rate:.2f} videos/s, {clips / seconds if seconds else 0:.1f} clips/s)",
        f"  results      {out}",
    ]
    for reason, count in failures.most_common():
        lines.append(f"  failed       {count} x {reason}")
    if skipped:
        lines.append(skipped_line(skipped, listed))
    print("\n".join(lines), file=sys.stderr)


__all__ = ["add_arguments", "run"]
