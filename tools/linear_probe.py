#!/usr/bin/env python
"""How much of a task do a model's features already hold? Extract pooled features (``vidkit extract``)
from the training and validation videos of the built-in synthetic-motion set, fit a logistic regression
on the training ones, and give its held-out top-1 (docs/linear_probe.md).

    python tools/linear_probe.py --checkpoint default=runs/slowfast_r50-.../best.pt \
        --checkpoint novel=runs/finetune/scratch-seed0/best.pt
    python tools/linear_probe.py --table-only

Each ``--checkpoint NAME=PATH`` is one row: a model trained on the synthetic-motion set itself (the default
run), and one trained briefly on another task (e.g. the ``novel`` motions of tools/finetune_table.py) whose
features were never fitted to these classes. The probe is multinomial logistic regression on standardised
features, full-batch L-BFGS with an L2 penalty (scikit-learn's default C=1 scaled to the sample count),
in torch: no dependency beyond vidkit's. Results are saved to ``docs/linear_probe.json`` as measured.
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

import torch

from vidkit.utils import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def synthetic_root() -> Path:
    """The default run's synthetic-motion set (generated on first use), as ``vidkit train`` opens it."""
    from vidkit.pipelines.train import build_dataset, load_train_config

    return Path(build_dataset(load_train_config()).root)


def extract(checkpoint: Path, videos: Path, out: Path) -> float:
    """``vidkit extract VIDEOS --checkpoint CK --out OUT`` (resumes a finished one at no cost); its seconds."""
    command = [sys.executable, "-m", "vidkit", "extract", str(videos), "--checkpoint", str(checkpoint)]
    command += ["--out", str(out)]
    print("$", " ".join(command[1:]), file=sys.stderr, flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    return time.perf_counter() - start


def features_and_labels(out: Path, classes: list[str] | None = None):
    """``(X [N, D], y [N], classes)``: one row per video (its windows averaged), labelled by its class folder."""
    from vidkit.features import load

    loaded = load(out)
    rows = [torch.as_tensor(a, dtype=torch.float32).reshape(a.shape[0], -1).mean(0) for a in loaded.arrays]
    names = [Path(p).parent.name for p in loaded.paths]
    classes = classes or sorted(set(names))
    index = {c: i for i, c in enumerate(classes)}
    return torch.stack(rows), torch.tensor([index[n] for n in names]), classes


def fit_probe(x: torch.Tensor, y: torch.Tensor, num_classes: int, *, l2: float = 1.0, steps: int = 200):
    """Multinomial logistic regression (weights and bias) on standardised ``x``: returns a function
    mapping features to predicted classes. ``l2`` is scikit-learn's 1/C, applied as ``l2 / (2 N) ||W||^2``."""
    mean, std = x.mean(0), x.std(0).clamp(min=1e-6)
    z = (x - mean) / std
    linear = torch.nn.Linear(z.shape[1], num_classes)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(z), y) + l2 / (2 * len(z)) * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return lambda features: linear((features - mean) / std).argmax(1)


def probe(name: str, checkpoint: Path, *, root: Path, runs: Path) -> dict:
    seconds = 0.0
    for split in ("train", "val"):
        seconds += extract(checkpoint, root / split, runs / name / split)
    x_train, y_train, classes = features_and_labels(runs / name / "train")
    x_val, y_val, _ = features_and_labels(runs / name / "val", classes)
    predict = fit_probe(x_train, y_train, len(classes))
    with torch.no_grad():
        train_top1 = float((predict(x_train) == y_train).float().mean())
        val_top1 = float((predict(x_val) == y_val).float().mean())
    return {
        "name": name,
        "checkpoint": str(checkpoint),
        "train_videos": len(y_train),
        "val_videos": len(y_val),
        "dim": x_train.shape[1],
        "train_top1": train_top1,
        "val_top1": val_top1,
        "extract_s": round(seconds, 1),
        "date": time.strftime("%Y-%m-%d"),
    }


def write_table(results: dict, path: Path) -> None:
    rows = [r for k, r in results.items() if not k.startswith("_")]
    if not rows:
        raise SystemExit("no results to tabulate yet")
    lines = [
        "# Linear probes on extracted features",
        "",
        "`vidkit extract` (pooled features: what the classifier sees, before dropout; 3 clips a video averaged) of the",
        "built-in synthetic-motion set's 800 training and 200 validation videos; a logistic regression fitted on the",
        "training features, held-out top-1 on the validation ones. Regenerate with `python tools/linear_probe.py`.",
        "",
        "| features of | dim | probe train top-1 | probe val top-1 | extraction (both splits) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['dim']} | {100 * r['train_top1']:.1f}% | "
            f"{100 * r['val_top1']:.1f}% | {r['extract_s']:.0f} s |"
        )
    machine = results.get("_machine", {})
    dates = sorted({r["date"] for r in rows})
    lines += ["", f"Measured on: {machine.get('description', 'unknown')} ({', '.join(dates)})."]
    atomic_write_text(path, "\n".join(lines) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "probe")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "linear_probe.md")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "linear_probe.json")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    if not args.table_only:
        root = synthetic_root()
        results["_machine"] = {
            "description": f"{os.cpu_count()} CPU cores ({platform.machine()}), no GPU, "
            f"Python {platform.python_version()}, torch {torch.__version__}"
        }
        for item in args.checkpoint:
            name, sep, path = item.partition("=")
            if not sep:
                raise SystemExit(f"--checkpoint {item}: write it as NAME=PATH")
            results[name] = probe(name, Path(path), root=root, runs=args.runs)
            atomic_write_text(args.results, json.dumps(results, indent=1) + "\n")
    write_table(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
