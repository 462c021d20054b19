#!/usr/bin/env python
"""Tagging throughput against its two parts, in one run on the same files: decode only (the worker
pool with no model), model only (clips/s on clips decoded beforehand), and tagging (both, overlapped).

    python tools/bench_tag.py                                   # generated clips, c2d_r50, CPU or GPU
    python tools/bench_tag.py --model slowfast_r50 --frames 32 --crop 224 --count 64 --device cuda
    python tools/bench_tag.py FILE_OR_FOLDER ... --workers 8
    python tools/bench_tag.py --threads 1 --workers 1            # CPU: a core for the model, one for decoding
    python tools/bench_tag.py --extract pooled                   # vidkit extract's path: features, not labels
    python tools/bench_tag.py --threads 1 --workers 1 --engine ray   # and tagging on Ray Data (pip install -e '.[ray]')

Decoding and inference overlap when tagging reaches the slower of the two (the goal: >= 80%, for the
GPU path, where the model does not share the decoders' CPU cores). On a CPU-only machine the table
also gives tagging against doing both in turn with all cores, the best that sharing allows; and
``--threads 1 --workers 1`` on two cores gives the model and the decoder a core each, the GPU path's
situation in small. Tagging's scores are checked against the model-only pass's. ``--extract LAYER``
measures ``vidkit extract``'s path instead (the same workers and batching, reading out features:
:class:`vidkit.engine.readouts.Features`), its features checked against the model-only pass's. The model has random
weights (throughput does not depend on them). Generated inputs: ``--count`` clips of ``--seconds``
(default 10) at 30 fps, ``--size`` (default 320x240), H.264 x264 defaults, in the vidkit cache.
``--engine ray`` adds a fourth pass: the same files tagged by :mod:`vidkit.ray`'s two Ray Data stages on a
local cluster of ``--workers`` + 1 CPUs (the model actor gets one, as ``--threads 1`` gives the local model),
its throughput against local tagging's (goal >= 0.80) and the cluster's start-up time beside it; its scores
are checked against local tagging's.
"""

import argparse
import json
import time
from functools import partial

import torch

from vidkit.bench import default_bench_video
from vidkit.data.views import ViewSpec
from vidkit.engine.loop import resolve_precision
from vidkit.engine.readouts import LAYERS, Features
from vidkit.engine.tagger import Tagger, decode_worker
from vidkit.io import find_videos
from vidkit.models import build
from vidkit.utils import default_workers, failure_reason, isolated_map


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--model", default="c2d_r50")
    parser.add_argument("--views", default="3x1")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--interval", type=float, default=8 / 30)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--workers", type=int, default=default_workers(reserve=1))
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each generated clip")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="the model's CPU threads (torch.set_num_threads)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--extract", choices=LAYERS, help="read out features of this layer (vidkit extract's path)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="ray: also tag on Ray Data")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.paths:
        videos = find_videos(args.paths)
    else:
        width, height = (int(v) for v in args.size.split("x"))
        frames = round(args.seconds * 30)
        videos = [
            str(default_bench_video(width=width, height=height, num_frames=frames + k, fps=30.0))
            for k in range(args.count)
        ]
    results = measure(videos, args)
    print(json.dumps(results, indent=1) if args.json else format_results(results))
    return 0


def measure(videos: list[str], args: argparse.Namespace) -> dict:
    """Decode only, model only and tagging on ``videos``, in that order; raises SystemExit when a
    video fails, or when tagging's scores differ from the model's on the same clips decoded first."""
    clips, crops = (int(v) for v in args.views.split("x"))
    spec = ViewSpec(
        num_clips=clips,
        num_crops=crops,
        num_frames=args.frames,
        interval_s=args.interval,
        crop_size=args.crop,
        test_scale=args.crop,
    )
    device = torch.device(args.device)
    precision = resolve_precision("auto", "auto", device)
    model = precision.place(build(args.model, num_classes=400), device).eval()
    work = partial(decode_worker, spec=spec)
    workers = min(args.workers, len(videos))

    # 1. decode only: the pool, every clip received in the parent, no model
    start = time.perf_counter()
    items = []  # (path, item)
    for path, kind, value in isolated_map(work, videos, workers=workers, silence_s=120):
        if kind == "item":
            items.append((path, value))
        elif kind != "done" or value["error"]:
            raise SystemExit(f"{path}: {value['error'] if kind == 'done' else failure_reason(kind, value)}")
    decode_s = time.perf_counter() - start
    n_clips = sum(len(item["clip_of_view"]) for _, item in items)

    # 2. model only: the same clips, already decoded, through the tagger's device path
    def tagger():
        readout = Features(args.extract) if args.extract else None
        return Tagger(model, spec=spec, device=device, precision=precision, batch_size=args.batch_size, readout=readout)

    fake = [(path, "item", item) for path, item in items]
    fake += [(path, "done", {"info": {}, "error": None}) for path in dict.fromkeys(path for path, _ in items)]
    list(tagger().run([fake[0], (fake[0][0], "done", {"info": {}, "error": None})]))  # warm-up (allocations, kernels)
    _sync(device)
    start = time.perf_counter()
    alone = list(tagger().run(fake))
    _sync(device)
    model_s = time.perf_counter() - start

    # 3. tagging: both, overlapped
    start = time.perf_counter()
    tagged = list(tagger().run(isolated_map(work, videos, workers=workers, silence_s=120)))
    _sync(device)
    tag_s = time.perf_counter() - start
    failed = [r for r in tagged if r.error]
    if failed:
        raise SystemExit(f"{failed[0].path}: {failed[0].error}")

    def output(r):  # what the run reads out: the scores, or every window's features
        return torch.stack([w[2] for w in r.windows]) if args.extract else r.scores

    scores = {r.path: output(r) for r in alone}
    differ = [
        r.path for r in tagged if r.path not in scores or not torch.allclose(output(r), scores[r.path], atol=1e-4)
    ]
    if differ:
        raise SystemExit(f"{differ[0]}: the run's output differs from the model's on the same clips decoded beforehand")

    decode, model_rate, tagging = n_clips / decode_s, n_clips / model_s, n_clips / tag_s
    on_ray = _on_ray(videos, args, model, spec, tagged, output) if args.engine == "ray" else {}
    return on_ray | {
        "videos": len(videos),
        "clips": n_clips,
        "views": args.views,
        "frames": args.frames,
        "crop": args.crop,
        "model": args.model,
        "readout": f"features ({args.extract})" if args.extract else "class probabilities",
        "device": str(device),
        "precision": precision.describe(),
        "threads": torch.get_num_threads(),
        "workers": workers,
        "decode_clips_per_s": decode,
        "model_clips_per_s": model_rate,
        "tagging_clips_per_s": tagging,
        "tagging_vs_slower": tagging / min(decode, model_rate),
        # on the CPU, decoding and the model share the cores: even perfect overlap cannot beat
        # doing both one after the other with every core, 1 / (1/decode + 1/model)
        "tagging_vs_serial": tagging * (1 / decode + 1 / model_rate),
    }


def _on_ray(videos, args, model, spec, tagged, output) -> dict:
    """The fourth pass: the same files through vidkit.ray's stages; its rate, start-up and agreement."""
    import vidkit.ray
    from vidkit.data.transforms import ClipTransform
    from vidkit.engine.tasks import get_task

    startup = vidkit.ray.start(num_cpus=args.workers + 1)
    readout = Features(args.extract) if args.extract else None

    def dataset():
        return vidkit.ray.results_dataset(
            videos,
            task=get_task("video"),
            model=model,
            spec=spec,
            transform=ClipTransform(),
            readout=readout,
            batch_size=args.batch_size,
            decoders=args.workers,
        )

    list(vidkit.ray.RayTagging(dataset()).run())  # warm: actors started, the model shipped once
    start = time.perf_counter()
    run = vidkit.ray.RayTagging(dataset())
    results = list(run.run())
    seconds = time.perf_counter() - start
    local = {r.path: output(r) for r in tagged}
    differ = [r.path for r in results if r.error or not torch.allclose(output(r), local[r.path], atol=1e-4)]
    if differ:
        raise SystemExit(f"{differ[0]}: tagging on Ray differs from local tagging")
    clips = run.clips_done
    return {"ray_startup_s": startup, "ray_clips_per_s": clips / seconds, "ray_seconds": seconds}


def format_results(r: dict) -> str:
    lines = [
        f"{r['videos']} videos, {r['clips']} clips ({r['views']} views of {r['frames']} frames at {r['crop']}px), "
        f"{r['model']} on {r['device']} ({r['precision']}, {r['threads']} threads), {r['workers']} decode workers; "
        f"reading out {r.get('readout', 'class probabilities')}"
    ]
    for name, key in (("decode only", "decode"), ("model only", "model"), ("tagging", "tagging")):
        rate = r[f"{key}_clips_per_s"]
        lines.append(f"  {name:<12} {rate:8.1f} clips/s  {rate * r['videos'] / r['clips']:7.2f} videos/s")
    lines.append(f"  tagging / slower of decode and model: {r['tagging_vs_slower']:.2f} (goal >= 0.80)")
    if "ray_clips_per_s" in r:
        lines.append(
            f"  on Ray       {r['ray_clips_per_s']:8.1f} clips/s  (Ray / local tagging: "
            f"{r['ray_clips_per_s'] / r['tagging_clips_per_s']:.2f}, goal >= 0.80; "
            f"cluster up in {r['ray_startup_s']:.1f} s)"
        )
    if r["device"] == "cpu":
        lines.append(
            "  on the CPU both share the cores; tagging / serial bound 1/(1/decode + 1/model) = "
            f"{r['tagging_vs_serial']:.2f}"
        )
    return "\n".join(lines)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    raise SystemExit(main())
