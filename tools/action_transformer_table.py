#!/usr/bin/env python
"""Train the Action Transformer and its I3D-head baseline on the built-in actors set with the same
budget and write the held-out frame-mAP table (docs/action_transformer.md).

    python tools/action_transformer_table.py               # every row, then the table
    python tools/action_transformer_table.py --epochs 20   # a longer budget (every row again)
    python tools/action_transformer_table.py --models i3d_roi_head_light   # one row
    python tools/action_transformer_table.py --table-only  # rewrite the table from the saved results

The rows: ``action_transformer``; ``i3d_roi_head``, the paper's I3D head (res5 on each person's RoI
tube, the model's default); ``i3d_roi_head_light``, the same model with ``--set model.options.head=light``
(vidkit's former baseline: the RoI features averaged straight into the classifier).

The actors set (``vidkit train --data synthetic-actors``): 4 s clips with 2-3 objects, each doing one
of the eight motions of synthetic-motion, boxed on the keyframes at 1, 2 and 3 s in AVA's format.
Every object's class is its own motion, so a model has to read the motion *inside each box*; the
reversal pairs (left/right, up/down, grow/shrink, cw/ccw) make a frame-order-blind reading fail.

Each row is trained by ``vidkit train`` itself with its model's preset (configs/synthetic/<model>.yaml),
the row's own overrides and the same extra ``--set`` overrides; the table reports frame mAP at IoU 0.5 on
the validation keyframes (annotated boxes; 64 videos, 192 keyframes) after the last epoch, the best
epoch's too, and the AP per class. Results go to ``docs/action_transformer.json`` as each row finishes,
so an interrupted run picks up where it stopped; a row whose saved result used other settings (epochs,
overrides, or the builder options its preset and overrides resolve to) is trained again.
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
# row: (model, the row's own overrides)
ROWS = {
    "action_transformer": ("action_transformer", ()),
    "i3d_roi_head": ("i3d_roi_head", ()),  # the paper's I3D head: res5 on the tubes (the default)
    "i3d_roi_head_light": ("i3d_roi_head", ("model.options.head=light",)),  # vidkit's former baseline
}
LABELS = {"i3d_roi_head_light": "i3d_roi_head, head=light"}  # the table's name for a row, where not its key
MODELS = tuple(ROWS)
GOAL = 0.8  # the frame mAP the transformer must reach


def run_model(model: str, *, epochs: int, overrides: list[str], out: Path) -> dict:
    """``vidkit train`` for ``model`` from scratch into ``out``; its row, from the run's log."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("log.jsonl", "last.pt", "best.pt"):
        (out / name).unlink(missing_ok=True)  # a fresh run, not a resumed one
    command = [
        sys.executable,
        "-m",
        "vidkit",
        "train",
        "--model",
        model,
        "--data",
        "synthetic-actors",
        "--epochs",
        str(epochs),
        "--out",
        str(out),
        *(a for o in overrides for a in ("--set", o)),
    ]
    print("$", " ".join(command[1:]), file=sys.stderr, flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    epochs_log = [r for r in records if r.get("event") == "epoch"]
    last = epochs_log[-1]
    return {
        "model": model,
        "epochs": epochs,
        "overrides": overrides,
        "seconds": round(seconds, 1),
        "map": last["val_map"],
        "best_map": max(r["val_map"] for r in epochs_log),
        "best_epoch": max(epochs_log, key=lambda r: r["val_map"])["epoch"],
        "ap": last["val_ap"],
        "val_keyframes": last["val_clips"],
        "val_persons": last["val_persons"],
        "clips_per_s": last["train_clips_per_s"],
        # robust to other jobs on shared cores, which the wall total and the last epoch's clips/s are not
        "median_epoch_s": _median([r.get("epoch_s") for r in epochs_log]),
        "curve": [round(r["val_map"], 4) for r in epochs_log],
    }


def write_table(results: dict, path: Path) -> None:
    keys = [k for k in MODELS if k in results]
    if not keys:
        raise SystemExit("no results to tabulate yet")
    from vidkit.models import build, count_params

    rows = [results[k] for k in keys]
    classes = list(rows[0]["ap"])
    ap = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    extra = _extra_overrides(keys[0], rows[0])
    lines = [
        "# Action Transformer on synthetic-actors",
        "",
        "Held-out frame mAP at IoU 0.5 (the AVA protocol, on the annotated boxes) of the Video Action Transformer",
        "Network (Girdhar et al., CVPR 2019) and its I3D-head baseline, in the paper's form (res5 run on each",
        "person's RoI tube) and in vidkit's former light form (the RoI features averaged straight into the",
        "classifier), all trained from scratch on the built-in actors set (2-3 objects per 4 s clip, each doing its",
        "own motion, boxed in AVA's format; 768 training and 192 validation keyframes). Regenerate with",
        "`python tools/action_transformer_table.py`.",
        "",
        f"Budget: `vidkit train --model NAME --data synthetic-actors --epochs {rows[0]['epochs']}"
        + "".join(f" --set {o}" for o in extra)
        + "` with each model's preset",
        "(configs/synthetic/action_transformer.yaml, i3d_roi_head.yaml: the I3D ResNet-50 trunk to res4 at a",
        "quarter width, 8 frames of 64², AdamW); the light head's row adds `--set model.options.head=light`.",
        "",
        "The trunk is not the paper's. The paper's Inception I3D to Mixed_4f gives RoI features at time stride 4",
        "with 832 channels, and its I3D head runs Mixed_5b/5c on the tubes (16.2M parameters; the transformer",
        "19.3M). Here the RoI features come from res4 of an I3D ResNet-50, at time stride 2 with 1024 channels,",
        "and the I3D head runs that network's res5 (three 2048-channel bottlenecks, 17.1M parameters alone): at",
        "full width with AVA's 80 classes i3d_roi_head has 27.4M parameters, its light head 10.2M and",
        "action_transformer 10.7M (the paper's models also hold a region proposal network, where vidkit takes",
        "the boxes as input, so the counts compare only roughly).",
        "",
        "| model | params (8 classes) | frame mAP (last epoch) | best epoch | mAP per epoch | train wall | "
        "train epoch (median) | clips/s |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for key, r in zip(keys, rows):
        params = count_params(build(r["model"], num_classes=len(classes), **_options(r)))
        minutes, secs = divmod(round(r["seconds"]), 60)
        curve = " ".join(f"{v:.2f}" for v in r["curve"])
        median = "-" if r.get("median_epoch_s") is None else f"{r['median_epoch_s']:.1f}s"
        lines.append(
            f"| {LABELS.get(key, key)} | {params:,} | {r['map']:.3f} | {r['best_map']:.3f} (epoch {r['best_epoch']}) | "
            f"{curve} | {minutes}m{secs:02d}s | {median} | {r['clips_per_s']:.1f} |"
        )
    lines += [
        "",
        "AP per class (last epoch):",
        "",
        "| model | " + " | ".join(classes) + " |",
        "| --- |" + " ---: |" * len(classes),
    ]
    for key, r in zip(keys, rows):
        lines.append(f"| {LABELS.get(key, key)} | " + " | ".join(ap(r["ap"][c]) for c in classes) + " |")
    lines += _findings(results)
    machine = results.get("_machine", {})
    lines += [
        "",
        f"Measured on: {machine.get('description', 'unknown')} ({machine.get('date', '')}); one seed (0).",
        "Train wall includes decoding and the validation pass after every epoch, and grows with other jobs",
        "sharing the cores; the median epoch's training time (decoding included) much less so; clips/s is the",
        "last epoch's training rate.",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def _findings(results: dict) -> list[str]:
    """The prose under the tables: the transformer against its goal, then the heads against each other."""
    lines = []
    transformer = results.get("action_transformer")
    if transformer:
        verdict = "reaches" if transformer["map"] >= GOAL else "misses"
        lines += [
            "",
            f"The transformer {verdict} the goal of frame mAP >= {GOAL} ({transformer['map']:.3f}): it reads each",
            "actor's own motion through its box query.",
        ]
    res5, light = results.get("i3d_roi_head"), results.get("i3d_roi_head_light")
    if transformer and res5 and light:
        lines += [
            "",
            f"The paper's I3D head (res5 on each person's tube) ends at {res5['map']:.3f}, the transformer at",
            f"{transformer['map']:.3f} and vidkit's former light head at {light['map']:.3f}.",
        ]
        if res5["map"] > max(transformer["map"], light["map"]):
            lines += [
                "On this set every label is the motion inside its own box, so there is no context for the",
                "transformer's attention over the whole clip to add (the paper's gains on AVA come from people",
                "interacting with others and with objects); what tells the rows apart is how much network reads",
                "the box itself. The res5 head runs three more 3D residual blocks on each person's tube, over all",
                "its time slices; the light head averages the tube's res4 features; the transformer's query is",
                "pooled from res4's keyframe slice only, and the rest of the clip reaches it through attention.",
                "The light head understated the baseline: against the paper's I3D head the transformer does not",
                "win here.",
            ]
    return lines


def _median(values: list) -> float | None:
    """The median of the values logged, None when a log lacks them."""
    return None if any(v is None for v in values) or not values else round(statistics.median(values), 1)


def _extra_overrides(key: str, row: dict) -> list[str]:
    """The ``--set`` overrides every row got: a row's overrides less its own (:data:`ROWS`)."""
    own = ROWS[key][1] if key in ROWS else ()
    return list(row["overrides"][len(own) :])


def _options(row: dict) -> dict:
    """The builder options the run used: its preset under the row's overrides, as `vidkit train` resolved them."""
    from vidkit.pipelines.config import load_train_config

    options = dict(load_train_config(model=row["model"], overrides=row["overrides"]).model.options)
    return json.loads(json.dumps(options))  # as the results file holds them


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help=f"comma-separated rows (default: {','.join(MODELS)})")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="extra overrides, for every row"
    )
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "action_transformer_table")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "action_transformer.md")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "action_transformer.json")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)

    keys = args.models.split(",") if args.models else list(MODELS)
    unknown = [k for k in keys if k not in ROWS]
    if unknown:
        raise SystemExit(f"--models: no row {', '.join(unknown)} (rows: {', '.join(MODELS)})")
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    if not args.table_only:
        for key in keys:
            model, own = ROWS[key]
            overrides = [*own, *args.set]
            options = _options({"model": model, "overrides": overrides})
            saved = results.get(key)
            if (
                saved
                and saved["overrides"] == overrides
                and saved["epochs"] == args.epochs
                and saved.get("options") == options
            ):
                print(f"{key}: saved result, skipped", file=sys.stderr)
                continue
            row = run_model(model, epochs=args.epochs, overrides=overrides, out=args.runs / key)
            results[key] = {**row, "options": options}
            results["_machine"] = {"description": _device(), "date": time.strftime("%Y-%m-%d")}
            atomic_write_text(args.results, json.dumps(results, indent=1))
            print(json.dumps({k: v for k, v in results[key].items() if k != "ap"}), file=sys.stderr)
    write_table(results, args.out)
    return 0


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU"


if __name__ == "__main__":
    sys.exit(main())
