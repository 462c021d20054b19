#!/usr/bin/env python
"""CoViAR on synthetic-motion: held-out top-1 of the fused model and of each stream alone, with the
accuracy within direction pairs (docs/coviar.md).

    python tools/coviar_table.py --train                       # vidkit train --model coviar, then the table
    python tools/coviar_table.py --checkpoint RUN/best.pt      # the table for a run already trained

The motion-vector stream sees motion directly, so it must beat chance (50%) within the direction
pairs (move_left/right, move_up/down, rotate_cw/ccw, grow/shrink: the same frames played backwards),
which the I-frame stream, one still picture per segment, cannot. The validation clips are read as
training read them (the run's own config: its segments, crop and CoViAR-format copy of the set).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PAIRS = (("move_left", "move_right"), ("move_up", "move_down"), ("rotate_cw", "rotate_ccw"), ("grow", "shrink"))


def evaluate(checkpoint: Path, *, batch_size: int = 32) -> dict:
    """Top-1 and within-pair accuracy of the fused scores and of every stream alone, on the run's val split."""
    import torch
    from torch.utils.data import DataLoader

    from vidkit.data.datasets import collate_clips
    from vidkit.engine.checkpoint import load_checkpoint
    from vidkit.engine.config import load_config
    from vidkit.engine.inference import load_model
    from vidkit.pipelines.config import TrainConfig
    from vidkit.pipelines.train import build_data

    loaded = load_model(str(checkpoint))
    config = load_config(TrainConfig, base=load_checkpoint(checkpoint)["config"], values={})
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
        "fusion_weights": [float(w) for w in model.fusion],
        "config": {
            "num_segments": config.data.num_frames,
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


def write_table(result: dict, path: Path) -> None:
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    c = result["config"]
    lines = [
        "# CoViAR on synthetic-motion",
        "",
        "Held-out top-1 of `coviar` (Wu et al., CVPR 2018) trained from scratch by `vidkit train --model coviar`",
        "(configs/synthetic/coviar.yaml) on the built-in synthetic-motion set, re-encoded to CoViAR's format",
        f"(MPEG-4 Part 2, GOP 12, no B-frames); {c['num_segments']} TSN segments, {c['crop']}x{c['crop']} crops, "
        f"{c['epochs']} epochs, stream options {c['options'] or 'default'}.",
        "Regenerate with `python tools/coviar_table.py --train`.",
        "",
        "*within pair*: of the clips of a direction pair (left/right, up/down, cw/ccw, grow/shrink), the share",
        "whose true class scores above its mirror — 50% is chance, what a stream blind to motion gets.",
        "",
        "| scores | top-1 | within pair |",
        "| --- | ---: | ---: |",
    ]
    names = {
        "fused": f"fused (weights {', '.join(f'{w:g}' for w in result['fusion_weights'])})",
        "iframe": "I-frame stream alone",
        "mv": "motion-vector stream alone",
        "residual": "residual stream alone",
    }
    for name, row in result["rows"].items():
        lines.append(f"| {names.get(name, name)} | {pct(row['top1'])} | {pct(row['within_pair'])} |")
    lines += ["", f"{result['clips']} validation clips; measured on {result['machine']} ({result['date']})."]
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="a coviar run's best.pt (default: RUNS/best.pt)")
    parser.add_argument("--train", action="store_true", help="train first: vidkit train --model coviar --out RUNS")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "coviar")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="training overrides")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "coviar.md")
    args = parser.parse_args(argv)
    if args.train:
        command = [sys.executable, "-m", "vidkit", "train", "--model", "coviar", "--out", str(args.runs)]
        for o in args.set:
            command += ["--set", o]
        subprocess.run(command, check=True, cwd=ROOT)
    checkpoint = args.checkpoint or args.runs / "best.pt"
    result = evaluate(checkpoint)
    result["machine"] = f"{platform.machine()} CPU, {__import__('os').cpu_count()} cores"
    result["date"] = time.strftime("%Y-%m-%d")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    write_table(result, args.out)
    for name, row in result["rows"].items():
        print(f"{name:10s} top-1 {row['top1']:.1%}  within pair {row['within_pair']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
