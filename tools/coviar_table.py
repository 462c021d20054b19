#!/usr/bin/env python
"""CoViAR on synthetic-motion: held-out top-1 of the fused model and of each stream alone, with the
accuracy within direction pairs (docs/coviar.md).

    python tools/coviar_table.py --train         # vidkit train --model coviar for each recipe, then the table
    python tools/coviar_table.py                 # the table for the runs already in runs/coviar/<recipe>

The motion-vector stream sees motion directly, so it must beat chance (50%) within the direction
pairs (move_left/right, move_up/down, rotate_cw/ccw, grow/shrink: the same frames played backwards),
which the I-frame stream, one still picture per segment, cannot. The validation clips are read as
training read them (the run's own config: its segments, crop and CoViAR-format copy of the set).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PAIRS = (("move_left", "move_right"), ("move_up", "move_down"), ("rotate_cw", "rotate_ccw"), ("grow", "shrink"))


def evaluate(checkpoint: Path, *, test_frames: int | None = None, batch_size: int = 32) -> dict:
    """Top-1 and within-pair accuracy of the fused scores and of every stream alone, on the run's val split,
    each clip ``test_frames`` segments (None: the run's own, CoViAR's 25 unless it set data.test_frames)."""
    import torch
    from torch.utils.data import DataLoader

    from vidkit.data.datasets import collate_clips
    from vidkit.engine.checkpoint import load_checkpoint
    from vidkit.engine.config import load_config
    from vidkit.engine.inference import load_model
    from vidkit.pipelines.config import TrainConfig
    from vidkit.pipelines.train import build_data

    loaded = load_model(str(checkpoint))
    values = {"data": {"test_frames": test_frames}} if test_frames else {}
    config = load_config(TrainConfig, base=load_checkpoint(checkpoint)["config"], values=values)
    dataset, _, val_set, transform = build_data(config)
    model = loaded.model.eval()
    scores: dict[str, list] = {}
    labels, skipped = [], []
    with torch.inference_mode():
        for batch in DataLoader(val_set, batch_size=batch_size, collate_fn=collate_clips, num_workers=1):
            skipped += batch["errors"]
            if "frames" not in batch:
                continue
            x = transform(batch["frames"], train=False)
            streams = model.stream_scores(x)
            for name, s in {"fused": model.fuse(streams), **streams}.items():
                scores.setdefault(name, []).append(s)
            labels.append(batch["label"])
    y = torch.cat(labels)
    classes = list(loaded.classes or dataset.classes)
    rows = {
        name: {"top1": float((torch.cat(s).argmax(1) == y).float().mean()), **within_pair(torch.cat(s), y, classes)}
        for name, s in scores.items()
    }
    return {
        "checkpoint": str(checkpoint),
        "clips": len(y),
        "skipped": skipped,
        "rows": rows,
        "streams": list(model.stream_names),
        "fusion_weights": list(model.fusion_weights),
        "inputs": model.inputs,
        "config": {
            "num_segments": config.data.num_frames,
            "test_segments": val_set.sampler.num_segments,
            "crop": config.data.crop_size,
            "epochs": config.epochs,
            "options": dict(config.model.options),
        },
    }


def within_pair(scores, y, classes: list[str]) -> dict:
    """Of the clips of each direction pair, the share whose true class scores above its mirror (0.5 = chance)."""
    index = {c: i for i, c in enumerate(classes)}
    right = total = 0
    for a, b in PAIRS:
        for true, other in ((index[a], index[b]), (index[b], index[a])):
            mine = y == true
            right += int((scores[mine, true] > scores[mine, other]).sum())
            total += int(mine.sum())
    return {"within_pair": right / total if total else None}


# The paper's recipe (the model's defaults) and vidkit's former one, trained on the same budget.
RECIPES = {
    "paper": ("the paper's recipe: inputs as the authors', fusion 2:1:1, no dropout", []),
    "former": (
        "vidkit's former recipe: vectors / 8, residuals / 64, no input BN, fusion 1:1:1, dropout 0.5",
        ["model.options.inputs=scaled", "model.options.fusion_weights=[1,1,1]", "model.options.dropout=0.5"],
    ),
}
NAMES = {"iframe": "I-frame alone", "mv": "motion vectors alone", "residual": "residual alone"}


def write_table(results: dict, path: Path) -> None:
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    first = next(iter(results.values()))
    c = first["tested"][0]["config"]
    segments = [t["config"]["test_segments"] for t in first["tested"]]
    lines = [
        "# CoViAR on synthetic-motion",
        "",
        "Held-out top-1 of `coviar` (Wu et al., CVPR 2018) trained from scratch by `vidkit train --model coviar`",
        "(configs/synthetic/coviar.yaml) on the built-in synthetic-motion set, re-encoded to CoViAR's format",
        f"(MPEG-4 Part 2, GOP 12, no B-frames); {c['num_segments']} TSN segments in training, {c['crop']}x{c['crop']} "
        f"crops, {c['epochs']} epochs, stream options {c['options'] or 'default'}; each run tested with "
        f"{' and '.join(map(str, segments))} segments (the paper tests with 25). Regenerate with "
        "`python tools/coviar_table.py --train`.",
        "",
        "Recipes (the same budget):",
        "",
        *[f"- **{name}**: {RECIPES[name][0]}." for name in results],
        "",
        "Both read the motion vectors and residual of a segment from the frame before it when it falls on an",
        "I-frame (whose are zero), as the authors sample.",
        "*within pair*: of the clips of a direction pair (left/right, up/down, cw/ccw, grow/shrink), the share",
        "whose true class scores above its mirror — 50% is chance, what a stream blind to motion gets.",
        "",
        "| recipe | scores | " + " | ".join(f"top-1 ({n} seg.) | within pair ({n} seg.)" for n in segments) + " |",
        "| --- | --- |" + " ---: | ---: |" * len(segments),
    ]
    for recipe, result in results.items():
        for name in result["tested"][0]["rows"]:
            weights = ":".join(f"{w:g}" for w in result["tested"][0]["fusion_weights"])
            label = f"fused ({weights})" if name == "fused" else NAMES.get(name, name)
            cells = [
                f"{pct(t['rows'][name]['top1'])} | {pct(t['rows'][name]['within_pair'])}" for t in result["tested"]
            ]
            lines.append(f"| {recipe} | {label} | " + " | ".join(cells) + " |")
    walls = [f"{r} {res['train_wall_s'] / 60:.1f} min" for r, res in results.items() if res.get("train_wall_s")]
    lines += [
        "",
        f"{first['tested'][0]['clips']} validation clips"
        + (f"; train wall per run: {', '.join(walls)}" if walls else "")
        + f"; measured on {first['machine']} ({first['date']}).",
    ]
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", action="store_true", help="train each recipe first into RUNS/<recipe>")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "coviar")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="training overrides")
    parser.add_argument("--test-segments", type=int, nargs="+", default=[25, 3])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "coviar.md")
    args = parser.parse_args(argv)
    results = {}
    for recipe in args.recipes:
        run = args.runs / recipe
        wall = None
        if args.train:
            command = [sys.executable, "-m", "vidkit", "train", "--model", "coviar", "--out", str(run)]
            for o in [*RECIPES[recipe][1], *args.set]:
                command += ["--set", o]
            start = time.perf_counter()
            subprocess.run(command, check=True, cwd=ROOT)
            wall = time.perf_counter() - start
        tested = [evaluate(run / "best.pt", test_frames=n) for n in args.test_segments]
        results[recipe] = {
            "tested": tested,
            "train_wall_s": wall,
            "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"),
        }
        for t in tested:
            for name, row in t["rows"].items():
                print(
                    f"{recipe:7s} {t['config']['test_segments']:2d} seg. {name:10s} top-1 {row['top1']:.1%}  "
                    f"within pair {row['within_pair']:.1%}"
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    write_table(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
