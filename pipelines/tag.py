"""``vidkit tag``: label every video of folders or lists, robustly, resumably.

The composition: the videos (:func:`vidkit.io.find_videos`, this shard's share, minus
those the results file already holds) → crash-isolated decoding workers
(:func:`vidkit.utils.isolated_map` over :func:`~vidkit.engine.tagger.decode_for_tagging`) → the
model, batched across videos (:class:`~vidkit.engine.tagger.Tagger`) → one record per video,
appended and flushed to the results file as it is made (:class:`ResultsFile`).

Killed at any moment (even SIGKILL) and started again with the same command, it finishes the rest:
no record lost, none twice, no half-written line.
"""

from __future__ import annotations

import argparse
import collections
import csv
import io
import json
import os
import re
import sys
import time
from functools import partial
from pathlib import Path

from vidkit.errors import ConfigError

_FSYNC_EVERY_S = 2.0
CSV_FIELDS = ("path", "label", "score", "labels", "duration_s", "error", "segments", "video")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="videos, folders (searched recursively) or .txt lists of paths"
    )
    parser.add_argument(
        "--checkpoint", metavar="CKPT", help="a vidkit checkpoint (it names its model, classes and clip settings)"
    )
    parser.add_argument("--model", help="with --weights: the model the weights are for")
    parser.add_argument(
        "--weights", metavar="FILE", help="peer weights (pytorchvideo, PySlowFast, mmaction2, torchvision) for --model"
    )
    parser.add_argument("--classes", metavar="FILE", help="with --weights: class names, one per line, in index order")
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="results file (appended to; an existing one is resumed)"
    )
    parser.add_argument(
        "--format", choices=("jsonl", "csv"), help="jsonl (default; from the extension: .csv means csv)"
    )
    parser.add_argument(
        "--glob",
        metavar="PATTERN",
        help="in folders, take files matching this (e.g. '*.MOV') instead of known video extensions",
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
        "--shard", metavar="K/N", help="take the K-th of N equal shares (K from 0; e.g. $RANK/$WORLD_SIZE)"
    )
    parser.add_argument("--backend", default="pyav", choices=("pyav", "decord"))
    parser.add_argument("--device", default="auto", help="auto (default: cuda when there is one), cpu, cuda, cuda:1")


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from vidkit.engine.loop import resolve_precision
    from vidkit.engine.tagger import Tagger
    from vidkit.io import find_videos
    from vidkit.models import model_card
    from vidkit.pipelines.evaluate import load_model, view_spec
    from vidkit.utils import default_workers, isolated_map

    started = time.monotonic()
    model, name, classes, config = _model(args, load_model)
    args.views = args.views or ("1x1" if args.segments else "3x1")
    spec, _ = view_spec(args, name, config, "tag")
    adaptive = model_card(name).sampling == "segments"  # AdaFrame: the workers run the policy, on the CPU
    if adaptive and args.segments:
        raise ConfigError(f"{name} chooses its frames over the whole video; --segments does not apply to it")
    fmt = args.format or ("csv" if str(args.out).lower().endswith(".csv") else "jsonl")
    videos = _shard(find_videos(args.paths, glob=args.glob), args.shard)
    results = ResultsFile(Path(args.out), fmt)
    todo = [p for p in videos if p not in results.done]
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if adaptive:
        device = torch.device("cpu")
    precision = resolve_precision("auto", "auto", device)
    model = precision.place(model, device)
    print(
        f"vidkit tag: {len(videos)} videos{f' (shard {args.shard})' if args.shard else ''}, {len(videos) - len(todo)} "
        f"already in {args.out}, {len(todo)} to tag with {name} ({len(classes)} classes) on {device}; "
        + (
            f"up to {model.steps} of {spec.num_frames} candidate frames per video, chosen and decoded in the workers"
            if adaptive
            else f"{spec.num_clips}x{spec.num_crops} views of {spec.num_frames} frames"
        )
        + (f" per {args.segments:g} s segment" if args.segments else ""),
        file=sys.stderr,
    )
    # one CPU left to the main process, which runs the model
    workers = args.workers if args.workers is not None else default_workers(reserve=1)
    if args.stride is not None and (not args.segments or args.stride <= 0):
        raise ConfigError("--stride goes with --segments, and is a positive number of seconds")
    if adaptive:  # each worker looks at its video with its own copy of the model, decoding only what it looks at
        work = partial(_look, model=model, spec=spec, backend=args.backend, timeout_s=args.timeout)
    else:
        work = partial(
            _decode,
            spec=spec,
            segment_s=args.segments,
            stride_s=args.stride,
            backend=args.backend,
            timeout_s=args.timeout,
        )
    tagger = Tagger(model, spec=spec, device=device, precision=precision, batch_size=args.batch_size)
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
    try:
        for result in tagger.run(events):
            results.write(_record(result, classes, args.top_k))
            if result.error:
                failures[_reason_kind(result.error)] += 1
            else:
                tagged += 1
            bar.update()
            bar.set_postfix_str(
                f"{tagger.clips_done / max(time.monotonic() - started, 1e-9):.1f} clips/s", refresh=False
            )
    finally:
        events.close()
        bar.close()
        results.close()
    _summary(
        tagged,
        failures,
        skipped=len(videos) - len(todo),
        out=args.out,
        seconds=time.monotonic() - started,
        clips=tagger.clips_done,
    )
    return 0


def _decode(path, beat, **kwargs):
    from vidkit.engine.tagger import decode_for_tagging

    return (yield from decode_for_tagging(path, **kwargs))


def _look(path, beat, **kwargs):
    from vidkit.engine.tagger import look_for_tagging

    return (yield from look_for_tagging(path, **kwargs))


def _model(args, load_model):
    """(model, registered name, class names, training config)."""
    from vidkit.pipelines.evaluate import build_peer, require_rgb

    if args.checkpoint and args.weights:
        raise ConfigError("give --checkpoint (a vidkit checkpoint) or --model with --weights, not both")
    if not (args.checkpoint or (args.model and args.weights)):
        raise ConfigError("name the model: --checkpoint run/best.pt, or --model NAME --weights FILE [--classes FILE]")
    from vidkit.models import model_card

    loaded = require_rgb(
        load_model(args.checkpoint or args.weights, model=args.model)
    )  # peer weights are read once, here
    if model_card(loaded.name).task == "persons":
        raise ConfigError(
            f"{loaded.name} labels people by their boxes on keyframes, not whole videos; score it with "
            "vidkit eval (--boxes for a person-box file)"
        )
    if loaded.model is not None:
        classes = list(loaded.classes or [str(i) for i in range(_classifier_size(loaded.model))])
        return loaded.model, loaded.name, classes, loaded.config
    if args.classes:
        try:
            classes = [line.strip() for line in Path(args.classes).read_text().splitlines() if line.strip()]
        except OSError as e:
            raise ConfigError(f"--classes {args.classes}: {e.strerror}") from None
    else:
        from vidkit.models.weights import classifier_classes

        count = classifier_classes(loaded.weights)
        if count is None:
            raise ConfigError(f"{loaded.path}: cannot tell the number of classes; list them with --classes FILE")
        classes = [str(i) for i in range(count)]
    return build_peer(loaded, len(classes)), loaded.name, classes, None


def _classifier_size(model) -> int:
    import torch.nn as nn

    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features


def _shard(videos: list[str], shard: str | None) -> list[str]:
    if not shard:
        return videos
    match = re.fullmatch(r"(\d+)/(\d+)", shard)
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise ConfigError(f"--shard {shard}: expected K/N with 0 <= K < N, e.g. 0/4")
    k, n = int(match[1]), int(match[2])
    return videos[k::n]


def _record(result, classes: list[str], top_k: int) -> dict:
    def top(scores):
        values, index = scores.topk(min(top_k, len(classes)))
        return [{"label": classes[i], "score": round(float(v), 6)} for v, i in zip(values, index.tolist())]

    record = {
        "path": result.path,
        "labels": top(result.scores) if result.scores is not None else [],
        "duration_s": (result.info or {}).get("duration_s"),
        "video": result.info,
        "error": result.error,
        "clips": result.clips,
    }
    if result.segments:
        record["segments"] = [
            {"start_s": round(a, 3), "end_s": round(b, 3), "labels": top(s)} for a, b, s in result.segments
        ]
    return record


def _reason_kind(reason: str) -> str:
    """The kind of a failure, for counting: its text before any detail in brackets or after a colon."""
    return re.split(r" \(|: ", reason, maxsplit=1)[0].strip()


class ResultsFile:
    """The results, one record per video, appended and flushed as they are made (fsynced every few
    seconds). Opening an existing file reads the paths it holds (:attr:`done`) and cuts off a last
    line a killed run left half-written."""

    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt = path, fmt
        self.done: set[str] = set()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._repair()
            self.done = set(self._paths())
        new = not path.exists() or path.stat().st_size == 0
        self.file = open(path, "a", encoding="utf-8", newline="")
        self.synced = time.monotonic()
        if new and fmt == "csv":
            self._append(_csv_line(CSV_FIELDS))

    def _repair(self) -> None:
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)  # a line cut by a kill: it is made again

    def _paths(self):
        with open(self.path, encoding="utf-8", newline="") as f:
            if self.fmt == "csv":
                for row in csv.DictReader(f):
                    if row.get("path"):
                        yield row["path"]
                return
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)["path"]
                    except (ValueError, KeyError, TypeError):
                        raise ConfigError(f"{self.path}:{number}: not a vidkit tag record; use another --out") from None

    def write(self, record: dict) -> None:
        if self.fmt == "csv":
            best = record["labels"][0] if record["labels"] else {"label": "", "score": ""}
            line = _csv_line(
                [
                    record["path"],
                    best["label"],
                    best["score"],
                    json.dumps(record["labels"]),
                    "" if record["duration_s"] is None else record["duration_s"],
                    record["error"] or "",
                    json.dumps(record.get("segments", [])),
                    json.dumps(record["video"]),
                ]
            )
        else:
            line = json.dumps(record, ensure_ascii=False) + "\n"
        self._append(line)
        self.done.add(record["path"])

    def _append(self, line: str) -> None:
        self.file.write(line)
        self.file.flush()  # in the OS's hands: survives the process being killed
        if time.monotonic() - self.synced > _FSYNC_EVERY_S:
            os.fsync(self.file.fileno())
            self.synced = time.monotonic()

    def close(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()


def _csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _summary(tagged: int, failures: collections.Counter, *, skipped: int, out: str, seconds: float, clips: int) -> None:
    failed = sum(failures.values())
    rate = (tagged + failed) / seconds if seconds else 0.0
    lines = [
        f"\nvidkit tag: {tagged} tagged, {failed} failed"
        + (f", {skipped} already done" if skipped else "")
        + f" in {seconds:.1f} s ({rate:.2f} videos/s, {clips / seconds if seconds else 0:.1f} clips/s)",
        f"  results      {out}",
    ]
    for reason, count in failures.most_common():
        lines.append(f"  failed       {count} x {reason}")
    print("\n".join(lines), file=sys.stderr)


__all__ = ["ResultsFile", "add_arguments", "run"]
