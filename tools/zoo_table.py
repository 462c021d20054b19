#!/usr/bin/env python
"""Train every model of the zoo on the built-in synthetic-motion set with the same budget and write the
held-out top-1 table (docs/model_zoo.md).

    python tools/zoo_table.py                          # every model below, then the table
    python tools/zoo_table.py --models tsm_r50,gst_r50 # only these (the others keep their saved rows)
    python tools/zoo_table.py --table-only             # rewrite the table from the saved results
    python tools/zoo_table.py --models cost_a_r50 --retrain  # again, after a change to the model

Each model is trained by ``vidkit train --model NAME`` itself, as a user would run it, with the same
overrides for all (``BUDGET`` below, plus ``--set``); each model's result is saved to
``docs/model_zoo.json`` as soon as it is measured, so an interrupted run picks up where it stopped; a
model whose saved result used other settings is trained again.

Besides top-1, the table gives the accuracy *within each direction pair* (move_left/right, move_up/down,
rotate_cw/ccw, grow/shrink): of the clips of a pair that the model put in that pair, the fraction it put
in the right direction. 50% is chance: a model that ignores frame order (C2D, TSN, attention clusters)
can tell a horizontal move from growth, but not left from right, since the frames of a leftward move
played backwards are a rightward move.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from vidkit.utils import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
MODELS = (
    "c2d_r50",
    "i3d_r50",
    "tsm_r50",
    "gst_r50",
    "cost_r50",
    "attention_clusters",
    "tsn_r50",
    "cost_a_r50",
    "fast3d_r50",
    "slowfast_r50",
)  # the order they are trained in: the C2D baseline first
ORDERLESS = {"c2d_r50", "tsn_r50", "attention_clusters"}  # the baselines that cannot see order
# The same for every model: 8 frames 0.24 s apart (the whole 1.9 s video), 32x32 crops, 12 epochs of the
# 800 training videos with AdamW — the default run's recipe (configs/synthetic/slowfast_r50.yaml) at
# half the frames. 12 epochs because after 4 most curves are still rising (docs/model_zoo.md).
BUDGET = (
    "data.num_frames=8",
    "data.interval_s=0.24",
    "optim.name=adamw",
    "optim.lr=0.002",
    "optim.weight_decay=0.0001",
)
EPOCHS = 12
TEMPORAL_GOAL = 0.90  # the goal: held-out top-1 every order-aware model must reach
CHANCE_BAND = 0.10  # an order-blind model is "near chance" within pairs when within 50% +- this
# What we found out about a model that misses its goal (shown under the table only while it misses).
WHY = {
    "cost_a_r50": "it gets every clip right except the rotations, and tells rotate_cw from rotate_ccw at chance "
    "(25 of 50 right, 15:10 towards ccw whichever the truth); train top-1 90.2% in the last epoch, so "
    "it under-fits them rather than over-fits. CoST(b) has the same blind spot: a re-run of its row "
    "with the same budget gave 89.0%, all 22 errors rotations (28 of 50 right). A rotation's "
    "direction is motion along one axis whose sign flips along the other (the top moves right "
    "while the bottom moves left); CoST's temporal views are 2D convolutions on the T-W plane of "
    "one row and the T-H plane of one column, so no CoST layer sees motion against position across "
    "rows, and one shared kernel answers both rightward motion (T-W) and downward motion (T-H): "
    "pairing them across positions is left to the layers after, which have not learnt it in this "
    "budget. The models that convolve T, H and W together (I3D, SlowFast, GST, FAST 3D's stacked "
    "convs, TSM's shift before a 3x3 conv) reach 92-100%. It is not where the view coefficients "
    "start: from the authors' H-W lead (0.67/0.17/0.17) and from equal views, 87.5% both "
    "(2026-11-24).",
}
PAIRS = (("move_left", "move_right"), ("move_up", "move_down"), ("rotate_cw", "rotate_ccw"), ("grow", "shrink"))


def train(model: str, *, epochs: int, overrides: list[str], out: Path) -> dict:
    """Run ``vidkit train`` for one model; return its result row (from the run's log.jsonl)."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / "log.jsonl"
    if log.exists():
        log.unlink()  # a fresh run: an old log would mix into this one's records
    for name in ("last.pt", "best.pt"):
        (out / name).unlink(missing_ok=True)
    command = [sys.executable, "-m", "vidkit", "train", "--model", model, "--epochs", str(epochs), "--out", str(out)]
    for o in overrides:
        command += ["--set", o]
    print("$", " ".join(command[1:]), file=sys.stderr, flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    records = [json.loads(line) for line in log.read_text().splitlines()]
    epochs_log = [r for r in records if r.get("event") == "epoch"]
    if not epochs_log:
        raise RuntimeError(f"{log}: no epoch records")
    last = epochs_log[-1]
    classes = next(r["classes"] for r in records if r.get("event") in ("start", "resume"))
    return {
        "model": model,
        "epochs": epochs,
        "overrides": overrides,
        "seconds": round(seconds, 1),
        "top1": last["val_top1"],
        "best_top1": max(r["val_top1"] for r in epochs_log),
        "clips_per_s": last["train_clips_per_s"],
        "val_clips": last["val_clips"],
        **pair_accuracy(last.get("val_confusion"), classes),
    }


def pair_accuracy(confusion: list[list[int]] | None, classes: list[str]) -> dict:
    """``within_pair``: of the clips of each direction pair predicted inside their pair, the fraction in the
    right direction (pooled over the pairs; 0.5 = chance). ``pair``: the fraction predicted inside the
    right pair at all."""
    if not confusion:
        return {"within_pair": None, "pair": None}
    index = {c: i for i, c in enumerate(classes)}
    right = inside = total = 0
    for a, b in PAIRS:
        ia, ib = index[a], index[b]
        for true, other in ((ia, ib), (ib, ia)):
            row = confusion[true]
            right += row[true]
            inside += row[true] + row[other]
            total += sum(row)
    return {"within_pair": right / inside if inside else None, "pair": inside / total if total else None}


def goal_check(rows: list[dict]) -> list[str]:
    """The goal, checked on the rows of one budget: every order-aware model at least 90% top-1,
    every order-blind one near chance (50%) within the direction pairs; with what we know of each miss."""
    temporal = [r for r in rows if r["model"] not in ORDERLESS]
    blind = [r for r in rows if r["model"] in ORDERLESS]
    met = [r for r in temporal if r["top1"] >= TEMPORAL_GOAL]
    missed = [r for r in temporal if r["top1"] < TEMPORAL_GOAL]
    near = [r for r in blind if r["within_pair"] is not None and abs(r["within_pair"] - 0.5) <= CHANCE_BAND]
    far = [r for r in blind if r not in near]
    name = lambda r, key: f"{r['model']} ({100 * r[key]:.1f}%)" if r[key] is not None else r["model"]  # noqa: E731
    lines = [
        f"**Goal** (every order-aware model at least {TEMPORAL_GOAL:.0%} top-1; the order-blind ones within "
        f"{100 * CHANCE_BAND:.0f} points of 50% within pairs), on the {len(rows)} rows of the budget above:",
        "",
    ]
    lines.append(f"- at least {TEMPORAL_GOAL:.0%}: " + (", ".join(name(r, "top1") for r in met) or "none"))
    if missed:
        lines.append("- **missed**: " + ", ".join(name(r, "top1") for r in missed))
        lines += [f"  - {r['model']}: {WHY[r['model']]}" for r in missed if r["model"] in WHY]
    lines.append(
        "- order-blind near chance within pairs: " + (", ".join(name(r, "within_pair") for r in near) or "none")
    )
    if far:
        lines.append("- **order-blind, not near chance**: " + ", ".join(name(r, "within_pair") for r in far))
    return lines


def write_table(results: dict, path: Path) -> None:
    rows = [results[m] for m in MODELS if m in results]
    rows += [r for m, r in sorted(results.items()) if m not in MODELS and not m.startswith("_")]
    if not rows:
        raise SystemExit("no results to tabulate yet")
    from vidkit.models import build, count_params

    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    budgets = Counter((r["epochs"], tuple(r["overrides"])) for r in rows)
    (epochs, overrides), _ = budgets.most_common(1)[0]
    lines = [
        "# Model zoo on synthetic-motion",
        "",
        "Held-out top-1 of every model trained from scratch on the built-in synthetic-motion set (8 classes:",
        "four moves, grow/shrink, two rotations; 800 training and 200 validation videos, 64x64), the same",
        "budget for each. Regenerate with `python tools/zoo_table.py` (see its docstring).",
        "",
        f"Budget: `vidkit train --model NAME --epochs {epochs}" + "".join(f" --set {o}" for o in overrides) + "`.",
    ]
    if epochs == 12:
        lines += [
            "12 epochs because at 4 (an hour for all ten models on 2 CPU cores) most curves were still rising:",
            "GST was at 39.5% after 4 epochs and 97.5% after 12 (2026-11, with its recipe of then; 97.5% again",
            "with the authors' dropout, per-frame scores and classifier init, 2026-12-06).",
        ]
    if len(budgets) > 1:
        lines += [
            "",
            "**Not one budget yet**: the rows marked † were trained with another (their epochs column says "
            "how many), and are to be re-run with the one above before the rows can be compared.",
        ]
    lines += [
        "",
        "*within pair*: of the clips of a direction pair (left/right, up/down, cw/ccw, grow/shrink) that the",
        "model put in that pair, the share in the right direction — 50% is chance, what a model blind to",
        "frame order gets. *pair*: the share put in the right pair at all.",
        "",
        "| model | params (8 classes) | epochs | top-1 (last epoch) | best epoch | within pair | pair | sees order "
        "| train wall | clips/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in rows:
        params = count_params(build(r["model"], num_classes=8))
        minutes, secs = divmod(round(r["seconds"]), 60)
        other = (r["epochs"], tuple(r["overrides"])) != (epochs, overrides)
        lines.append(
            f"| {r['model']}{' †' if other else ''} | {params:,} | {r['epochs']} | {pct(r['top1'])} | "
            f"{pct(r['best_top1'])} | {pct(r['within_pair'])} | {pct(r['pair'])} | "
            f"{'no' if r['model'] in ORDERLESS else 'yes'} | {minutes}m{secs:02d}s | {r['clips_per_s']:.1f} |"
        )
    lines += ["", *goal_check([r for r in rows if (r["epochs"], tuple(r["overrides"])) == (epochs, overrides)])]
    machine = results.get("_machine", {})
    # each row keeps the date it was measured (rows from before dates were kept: the machine's first date)
    dates = sorted({r.get("date") or machine.get("first_date") or machine.get("date", "") for r in rows})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}; each row's date in docs/model_zoo.json"
    lines += [
        "",
        f"Measured on: {machine.get('description', 'unknown')} ({when}); "
        "one seed per model (seed 0). Train wall includes decoding and validation each epoch.",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help=f"comma-separated (default: {','.join(MODELS)})")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="extra overrides, for every model"
    )
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "zoo")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "model_zoo.md")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "model_zoo.json")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train even where a saved result has the same settings (after a change to a model)",
    )
    args = parser.parse_args(argv)

    results_path = args.results
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    overrides = [*BUDGET, *args.set]
    if not args.table_only:
        for model in args.models.split(",") if args.models else MODELS:
            saved = results.get(model)
            if saved and saved["overrides"] == overrides and saved["epochs"] == args.epochs and not args.retrain:
                print(f"{model}: saved result, skipped", file=sys.stderr)
                continue
            results[model] = train(model, epochs=args.epochs, overrides=overrides, out=args.runs / model)
            results[model]["date"] = time.strftime("%Y-%m-%d")
            earlier = results.get("_machine", {})
            results["_machine"] = {
                "description": _cuda() or f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
                "date": time.strftime("%Y-%m-%d"),
                "first_date": earlier.get("first_date") or earlier.get("date") or time.strftime("%Y-%m-%d"),
            }
            atomic_write_text(results_path, json.dumps(results, indent=1))
            print(json.dumps(results[model]), file=sys.stderr)
    write_table(results, args.out)
    return 0


def _cuda() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


if __name__ == "__main__":
    sys.exit(main())
