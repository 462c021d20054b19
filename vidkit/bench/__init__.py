"""``vidkit bench``: decode, data-loading and model throughput, measured in one run on the same inputs
and printed as tables with ratios (or as JSON, and against an earlier run's JSON).

    results = run_bench(sections=("decode", "models"), device="cpu")
    print(format_results(results))
    print(format_comparison(results, json.load(open("old.json"))))

- decode (:mod:`vidkit.bench.decode`): vidkit's readers vs raw PyAV, decord and torchcodec, frames/s;
- data (:mod:`vidkit.bench.data`): clips/s from disk to device-ready batches with 0..N workers;
- models (:mod:`vidkit.bench.models`): forward and forward+backward clips/s and peak memory of
  slowfast_r50, i3d_r50 and tsm_r50 in fp32 eager, channels-last, AMP, AMP + channels-last (AMP on
  CUDA by default) and ``torch.compile`` (when asked), next to pytorchvideo's SlowFast and I3D with
  the same weights;
- e2e (:mod:`vidkit.bench.end_to_end`): one training epoch and one tagging run on synthetic-motion,
  each a ``vidkit`` process as a user runs it.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from vidkit.bench.decode import decode_rates, decode_skipped, decode_table, default_bench_video

__all__ = [
    "SECTIONS",
    "decode_rates",
    "decode_table",
    "default_bench_video",
    "format_comparison",
    "format_results",
    "run_bench",
]

SECTIONS = ("decode", "data", "models", "e2e")


def machine() -> dict:
    cuda = torch.cuda.is_available()
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def run_bench(
    *,
    sections: Sequence[str] = SECTIONS,
    paths: Sequence[str] = (),
    device: str = "cpu",
    models: Sequence[str] | None = None,
    batch: int = 2,
    frames: int = 8,
    size: int = 64,
    repeats: int = 3,
    model_paths: Sequence[str] | None = None,
    workers: Sequence[int] = (0, 1, 2),
    compile_backend: str = "inductor",
) -> dict:
    """Every asked section, measured now; JSON-ready."""
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown bench section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    results: dict = {
        "machine": machine(),
        "device": device,
        "settings": {"batch": batch, "frames": frames, "size": size, "repeats": repeats},
    }
    if "decode" in sections:
        files = [str(p) for p in paths] or [str(default_bench_video())]
        results["decode"] = [
            {"file": Path(f).name, "reader": name, "frames_per_s": round(rate, 1), "ratio": round(ratio, 3)}
            for f in files
            for name, rate, ratio in decode_rates(f, repeats=repeats)
        ]
        results["decode_skipped"] = decode_skipped()
    if "data" in sections:
        from vidkit.bench.data import data_rows

        results["data"] = [r.as_dict() for r in data_rows(workers, device=device)]
    if "models" in sections:
        from vidkit.bench.models import MODELS, model_rows

        results["models"] = [
            r.as_dict()
            for r in model_rows(
                models or MODELS,
                batch=batch,
                frames=frames,
                size=size,
                repeats=repeats,
                device=device,
                paths=model_paths,
                compile_backend=compile_backend,
            )
        ]
    if "e2e" in sections:
        from vidkit.bench.end_to_end import end_to_end_rows

        results["e2e"] = [r.as_dict() for r in end_to_end_rows(device=device)]
    return results


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_results(results: dict) -> str:
    """The tables, one per section measured."""
    m = results["machine"]
    s = results["settings"]
    lines = [
        f"vidkit bench on {results['device']}: {m['cpu']}, {m['cores']} cores ({m['threads']} torch threads)"
        + (f", {m['gpu']}" if m.get("gpu") else "")
        + f", torch {m['torch']}, {m['date']}"
    ]
    if "decode" in results:
        lines += [
            "",
            "decode (frames/s; ratio to the group's first row)",
            f"  {'file':<28} {'reader':<42} {'frames/s':>9} {'ratio':>7}",
        ]
        lines += [
            f"  {r['file']:<28} {r['reader']:<42} {r['frames_per_s']:>9.1f} {r['ratio']:>7.3f}"
            for r in results["decode"]
        ]
        lines += [f"  skipped {line}" for line in results.get("decode_skipped", [])]
    if "data" in results:
        lines += [
            "",
            "data loading (clips/s to device-ready batches of 16 clips x 16 frames, 32x32; first batch not timed)",
            f"  {'workers':>7} {'clips':>6} {'clips/s':>9}",
        ]
        lines += [f"  {r['workers']:>7} {r['clips']:>6} {r['clips_per_s']:>9.1f}" for r in results["data"]]
    if "models" in results:
        lines += [
            "",
            f"models (clips/s at batch {s['batch']}, {s['frames']} frames of {s['size']}x{s['size']}; ratio: to "
            "pytorchvideo's fp32 eager, forward / train)",
            f"  {'model':<14} {'impl':<13} {'path':<18} {'forward':>8} {'train':>8} {'peak MB':>8} {'act. MB':>8} "
            f"{'ratio fwd':>9} {'ratio train':>11} {'max|diff|':>9}",
        ]
        for r in results["models"]:
            if r["error"]:
                lines.append(f"  {r['model']:<14} {r['impl']:<13} {r['path']:<18} failed: {r['error']}")
                continue
            ratio = r["ratio_vs_pytorchvideo"] or {}
            lines.append(
                f"  {r['model']:<14} {r['impl']:<13} {r['path']:<18} {r['forward_clips_per_s']:>8.2f} "
                f"{r['train_clips_per_s']:>8.2f} {_num(r['peak_memory_mb'], '.0f'):>8} "
                f"{_num(r.get('activations_mb'), '.0f'):>8} "
                f"{_num(ratio.get('forward'), '.2f'):>9} {_num(ratio.get('train'), '.2f'):>11} "
                f"{_num(r['max_abs_diff'], '.1e'):>9}"
            )
    if "e2e" in results:
        lines += [
            "",
            "end to end on synthetic-motion (whole vidkit processes)",
            f"  {'job':<14} {'model':<14} {'videos':>6} {'seconds':>8} {'clips/s':>8} {'busy':>6}",
        ]
        for r in results["e2e"]:
            if r["error"]:
                lines.append(f"  {r['job']:<14} {r['model']:<14} failed: {r['error']}")
                continue
            lines.append(
                f"  {r['job']:<14} {r['model']:<14} {r['videos']:>6} {r['seconds']:>8.1f} "
                f"{_num(r['clips_per_s'], '.1f'):>8} {_num(r['busy'], '.0%'):>6}"
            )
    return "\n".join(lines)


def format_comparison(new: dict, old: dict) -> str:
    """Each figure measured in both runs, new / old (> 1: faster now)."""
    lines = [f"against {old.get('machine', {}).get('date', 'an earlier run')} (new / old; > 1 is faster now)"]
    pairs = []
    for section, key, fields in (
        ("decode", ("file", "reader"), ("frames_per_s",)),
        ("data", ("workers",), ("clips_per_s",)),
        ("models", ("model", "impl", "path"), ("forward_clips_per_s", "train_clips_per_s")),
        ("e2e", ("job", "model"), ("clips_per_s",)),
    ):
        before = {tuple(r[k] for k in key): r for r in old.get(section, [])}
        for row in new.get(section, []):
            was = before.get(tuple(row[k] for k in key))
            for field in fields:
                if was and row.get(field) and was.get(field):
                    name = " ".join(str(row[k]) for k in key)
                    pairs.append(f"  {section:<7} {name:<60} {field:<20} {row[field] / was[field]:>6.2f}")
    return "\n".join(lines + (pairs or ["  nothing measured in both runs"]))
