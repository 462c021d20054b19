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
import sys
import time
from pathlib import Path

from vidkit.engine.skipped import skipped_line
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser, classes=True)
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
    parser.add_argument("--top-k", type=int, default=5, help="labels per video (default 5)")
    add_clip_arguments(parser, per="also label", out_example="tags.$RANK.jsonl")


def run(args: argparse.Namespace) -> int:
    from vidkit.pipelines.config import check_options

    check_options(  # before any work: none of these can give a record worth having
        args,
        at_least={"top_k": 1, **AT_LEAST},
        above=ABOVE,
    )
    from tqdm import tqdm

    from vidkit.engine.inference import load_for_inference
    from vidkit.engine.loop import resolve_precision
    from vidkit.engine.results import ResultsFile, check_output, tag_record

    started = time.monotonic()
    fmt = args.format or ("csv" if str(args.out).lower().endswith(".csv") else "jsonl")
    if args.out != "-":  # an output vidkit must not write is refused before any work
        check_output(Path(args.out), fmt)
    loaded, model, classes = load_for_inference(
        checkpoint=args.checkpoint, model=args.model, weights=args.weights, classes=args.classes
    )
    task = loaded.task
    spec = view_spec(task, loaded, args)
    # with --out -: the skipped files in the summary only
    videos, skipped, listed, workers = find_inputs(args, out=None if args.out == "-" else args.out, job="tag")
    results = ResultsFile(Path(args.out), fmt, stream=sys.stdout if args.out == "-" else None, inputs=set(videos))
    events = bar = None
    try:  # from here on, the output is closed (and its lock released) whatever happens
        todo = [p for p in videos if p not in results.done]
        device = run_device(args, task)
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
        check_stride(args)
        tagger, events = start_tagging(
            args, loaded, model, spec, todo, device=device, precision=precision, workers=workers
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
        for result in tagger.run(events):
            results.write(tag_record(result, classes, args.top_k))
            if result.error:
                failures[reason_kind(result.error)] += 1
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
