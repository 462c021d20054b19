#!/usr/bin/env python
"""Re-aggregate saved `vidkit eval` scores without running a model: fewer views, another way of
combining them, or an ensemble of several runs on the same videos.

    python tools/rescore.py runs/eval-a/scores.npz                       # as evaluated
    python tools/rescore.py runs/eval-a/scores.npz --clips 4,5 --crops 1  # 2 middle clips, centre crop only
    python tools/rescore.py a/scores.npz b/scores.npz --aggregate logits  # ensemble: mean of the two runs
    python tools/rescore.py a/scores.npz --json

Each file holds per-view logits ``[N, V, C]`` with the videos' keys and labels; an ensemble uses the
videos every run evaluated and averages the runs' per-video scores.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from vidkit.engine.metrics import AGGREGATIONS, aggregate, classification_report


def load(path: str) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", nargs="+", help="scores.npz files written by vidkit eval")
    parser.add_argument("--clips", help="temporal clip indices to keep, e.g. 0,5 (default: all)")
    parser.add_argument("--crops", help="crop indices to keep, e.g. 1 for the centre of 3 (default: all)")
    parser.add_argument("--aggregate", default="softmax", choices=AGGREGATIONS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    runs = [load(p) for p in args.scores]
    classes = [str(c) for c in runs[0]["classes"]]
    for path, run in zip(args.scores[1:], runs[1:]):
        if [str(c) for c in run["classes"]] != classes:
            print(f"rescore: {path}: other classes than {args.scores[0]}", file=sys.stderr)
            return 1
    common = set.intersection(*({str(k) for k in run["keys"]} for run in runs))
    keys = [str(k) for k in runs[0]["keys"] if str(k) in common]
    total, labels = None, None
    for run in runs:
        row = {str(k): i for i, k in enumerate(run["keys"])}
        order = [row[k] for k in keys]
        keep = np.ones(run["logits"].shape[1], dtype=bool)
        if args.clips:
            keep &= np.isin(run["view_clip"], [int(c) for c in args.clips.split(",")])
        if args.crops:
            keep &= np.isin(run["view_crop"], [int(c) for c in args.crops.split(",")])
        if not keep.any():
            print(f"rescore: no view left with --clips {args.clips} --crops {args.crops}", file=sys.stderr)
            return 1
        scores = aggregate(
            torch.from_numpy(run["logits"][order].astype(np.float32)),
            args.aggregate,
            views=np.flatnonzero(keep).tolist(),
        )
        total = scores if total is None else total + scores
        labels = run["labels"][order]
    report = classification_report(total / len(runs), labels, classes)
    summary = {
        "runs": len(runs),
        "videos": len(keys),
        "views": int(keep.sum()),
        "aggregate": args.aggregate,
        "top1": report["top1"],
        "top5": report["top5"],
        "mean_class_accuracy": report["mean_class_accuracy"],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['runs']} run(s), {summary['videos']} videos, {summary['views']} views each ({args.aggregate}): "
            f"top-1 {report['top1']:.2%}  top-5 {report['top5']:.2%}  "
            f"mean class accuracy {report['mean_class_accuracy']:.2%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
