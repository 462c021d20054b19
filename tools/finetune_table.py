#!/usr/bin/env python
"""Does fine-tuning pay? Train SlowFast R50 on the built-in synthetic-motion set (the default run), then
learn six motions it has never seen (the synthetic set's ``novel`` variant: four diagonal moves and two
orbits) from 15 videos a class — fine-tuned from it, against the same model from scratch with the same
budget — and write the held-out top-1 table (docs/finetune.md).

    python tools/finetune_table.py                         # pre-train, every row, two seeds, the table
    python tools/finetune_table.py --pretrained run/best.pt  # start from an existing default run instead
    python tools/finetune_table.py --table-only            # rewrite the table from the saved results

Each run is ``vidkit train`` itself, as a user runs it; each result is saved to ``docs/finetune.json``
as soon as it is measured, so an interrupted run picks up where it stopped (``--retrain`` runs again).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from vidkit.utils import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
MODEL = "slowfast_r50"
TRAIN_PER_CLASS = 15
VAL_PER_CLASS = 25  # 150 held-out clips: one clip is 0.7 points
EPOCHS = 10  # 90 training clips, 5 steps of 16 an epoch: 50 optimiser steps
# The new task: the novel motions, as few videos a class as a user might label. The rest of the recipe is
# the default run's (configs/synthetic/slowfast_r50.yaml: AdamW, lr 0.002, 16 frames 0.12 s apart, 32x32).
DATA = (
    "data.synthetic.variant=novel",
    f"data.synthetic.train_per_class={TRAIN_PER_CLASS}",
    f"data.synthetic.val_per_class={VAL_PER_CLASS}",
)
# (row name, what it is, whether it starts from the pre-trained model, its extra settings)
ROWS = (
    ("scratch", "from scratch", False, ()),
    ("full", "fine-tuned, every layer", True, ()),
    ("full_head10", "fine-tuned, every layer, classifier lr x10", True, ("optim.head_lr_mult=10",)),
    ("frozen", "frozen backbone (a linear probe)", True, ("model.freeze=backbone",)),
    ("frozen_head10", "frozen backbone, classifier lr x10", True, ("model.freeze=backbone", "optim.head_lr_mult=10")),
    (
        "decay_head10",
        "fine-tuned, layer-wise lr decay 0.7, classifier lr x10",
        True,
        ("optim.layer_decay=0.7", "optim.head_lr_mult=10"),
    ),
)
SEEDS = (0, 1)


def vidkit_train(args: list[str], out: Path) -> float:
    """Run ``vidkit train ARGS --out OUT`` from a clean run directory; returns its wall time in seconds."""
    for name in ("log.jsonl", "last.pt", "best.pt"):
        (out / name).unlink(missing_ok=True)
    command = [sys.executable, "-m", "vidkit", "train", *args, "--out", str(out)]
    print("$", " ".join(command[1:]), file=sys.stderr, flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    return time.perf_counter() - start


def epochs_of(out: Path) -> list[dict]:
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [r for r in records if r.get("event") == "epoch"]


def pretrain(runs: Path) -> tuple[Path, dict]:
    """The default run (``vidkit train --model slowfast``, seed 0): the model the rows start from."""
    out = runs / "pretrain"
    if not (out / "best.pt").exists():
        vidkit_train(["--model", MODEL, "--seed", "0"], out)
    return out / "best.pt", summary_of(out)


def summary_of(run: Path) -> dict:
    """The pre-training run's held-out top-1 (its best epoch's, as best.pt holds) from its log."""
    log = epochs_of(run)
    return {"top1": max(r["val_top1"] for r in log), "epochs": len(log), "run": str(run)}


def run_row(row: tuple, seed: int, *, pretrained: Path, runs: Path, epochs: int) -> dict:
    name, _, from_pretrained, settings = row
    args = ["--model", MODEL, "--epochs", str(epochs), "--seed", str(seed)]
    if from_pretrained:
        args += ["--weights", str(pretrained)]
    for s in (*DATA, *settings):
        args += ["--set", s]
    out = runs / f"{name}-seed{seed}"
    seconds = vidkit_train(args, out)
    log = epochs_of(out)
    return {
        "row": name,
        "seed": seed,
        "epochs": epochs,
        "settings": list(settings),
        "top1": log[-1]["val_top1"],
        "best_top1": max(r["val_top1"] for r in log),
        "top1_by_epoch": [r["val_top1"] for r in log],
        "seconds": round(seconds, 1),
        "date": time.strftime("%Y-%m-%d"),
    }


def write_table(results: dict, path: Path) -> None:
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    by_row = {name: [r for r in results.get("runs", []) if r["row"] == name] for name, *_ in ROWS}
    if not any(by_row.values()):
        raise SystemExit("no results to tabulate yet")
    pre = results.get("pretrain", {})
    epochs = next(r["epochs"] for rows in by_row.values() for r in rows)
    lines = [
        "# Fine-tuning on a few videos of new motions",
        "",
        "SlowFast R50 learns six motions it has never seen (the synthetic set's `novel` variant: four diagonal",
        f"moves, orbiting clockwise and counter-clockwise) from {TRAIN_PER_CLASS} videos a class, held-out top-1 "
        f"on {VAL_PER_CLASS} a class.",
        "Fine-tuned rows start from the default run (`vidkit train --model slowfast`: the eight motions of",
        f"synthetic-motion, seed 0, {pct(pre['top1']) if pre else '?'} held-out top-1 there); their classifier is "
        "replaced (from 8 to 6 classes).",
        "Every row has the same budget: "
        f"`vidkit train --model slowfast --epochs {epochs}" + "".join(f" --set {d}" for d in DATA) + "`, "
        "plus the row's settings (and `--weights <pre-trained best.pt>` for the fine-tuned rows). "
        "Regenerate with `python tools/finetune_table.py`.",
        "",
        "| start | settings | top-1, last epoch (per seed) | mean | best epoch (mean) | wall per run |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    means = {}
    for name, label, _, settings in ROWS:
        rows = sorted(by_row[name], key=lambda r: r["seed"])
        if not rows:
            continue
        mean = statistics.mean(r["top1"] for r in rows)
        means[name] = mean
        seconds = statistics.mean(r["seconds"] for r in rows)
        lines.append(
            f"| {label} | {', '.join(f'`{s}`' for s in settings) or '-'} | "
            f"{' / '.join(pct(r['top1']) for r in rows)} | {pct(mean)} | "
            f"{pct(statistics.mean(r['best_top1'] for r in rows))} | {round(seconds)} s |"
        )
    lines += ["", *findings(means)]
    machine = results.get("_machine", {})
    dates = sorted({r["date"] for rows in by_row.values() for r in rows})
    seeds = sorted({r["seed"] for rows in by_row.values() for r in rows})
    lines += [
        "",
        f"Measured on: {machine.get('description', 'unknown')} ({', '.join(dates)}); seed(s) "
        f"{', '.join(str(s) for s in seeds)} (the seed sets the initialisation, the data order and the augmentation; "
        "the videos are the same). Wall per run includes decoding and validating every epoch"
        + (f"; {machine['note']}" if machine.get("note") else "")
        + ".",
    ]
    atomic_write_text(path, "\n".join(lines) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def findings(means: dict) -> list[str]:
    """Where fine-tuning wins, and by how much, from the rows' means."""
    if "scratch" not in means:
        return []
    scratch = means["scratch"]
    tuned = {k: v for k, v in means.items() if k != "scratch"}
    if not tuned:
        return []
    best = max(tuned, key=tuned.get)
    label = {name: text for name, text, *_ in ROWS}
    lines = [
        f"**Findings.** From scratch, the budget gives {100 * scratch:.1f}%. The best start is "
        f"*{label[best]}*: {100 * tuned[best]:.1f}%, {100 * (tuned[best] - scratch):+.1f} points over scratch.",
    ]
    for name, value in tuned.items():
        if name != best:
            lines.append(f"- {label[name]}: {100 * value:.1f}% ({100 * (value - scratch):+.1f} points over scratch)")
    if "full" in tuned and "full_head10" in tuned:
        gain = tuned["full_head10"] - tuned["full"]
        lines.append(f"- the classifier's x10 learning rate, every layer trained: {100 * gain:+.1f} points")
    if "frozen" in tuned and "frozen_head10" in tuned:
        lines.append(
            f"- the classifier's x10 learning rate, backbone frozen: "
            f"{100 * (tuned['frozen_head10'] - tuned['frozen']):+.1f} points"
        )
    return lines


def describe_machine() -> str:
    import torch

    return (
        f"{os.cpu_count()} CPU cores ({platform.machine()}), no GPU, Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrained", type=Path, help="a default run's best.pt, instead of training one")
    parser.add_argument("--rows", help=f"comma-separated (default: {','.join(r[0] for r in ROWS)})")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "finetune")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "finetune.md")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "finetune.json")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--retrain", action="store_true", help="run again where a saved result exists")
    args = parser.parse_args(argv)

    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    if args.pretrained and (args.pretrained.parent / "log.jsonl").exists():
        results["pretrain"] = summary_of(args.pretrained.parent)
    if not args.table_only:
        args.runs.mkdir(parents=True, exist_ok=True)
        if args.pretrained:
            pretrained = args.pretrained
        else:
            pretrained, results["pretrain"] = pretrain(args.runs)
        results["_machine"] = {"description": describe_machine()}
        wanted = [r for r in ROWS if not args.rows or r[0] in args.rows.split(",")]
        for row in wanted:
            for seed in (int(s) for s in args.seeds.split(",")):
                runs = results.setdefault("runs", [])
                saved = [r for r in runs if r["row"] == row[0] and r["seed"] == seed and r["epochs"] == args.epochs]
                if saved and not args.retrain:
                    print(f"{row[0]} seed {seed}: saved result, skipped", file=sys.stderr)
                    continue
                result = run_row(row, seed, pretrained=pretrained, runs=args.runs, epochs=args.epochs)
                results["runs"] = [r for r in runs if r not in saved] + [result]
                atomic_write_text(args.results, json.dumps(results, indent=1) + "\n")
    write_table(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
