#!/usr/bin/env python
"""Tagging throughput against its two parts, in one run on the same files: decode only (the worker
pool with no model), model only (clips/s on clips decoded beforehand), and tagging (both, overlapped).

    python tools/bench_tag.py                                   # generated clips, c2d_r50, CPU or GPU
    python tools/bench_tag.py --model slowfast_r50 --frames 32 --crop 224 --count 64 --device cuda
    python tools/bench_tag.py FILE_OR_FOLDER ... --workers 8

Decoding and inference overlap when tagging reaches the slower of the two (the goal: >= 80%, for the
GPU path, where the model does not share the decoders' CPU cores; on a CPU-only machine the table also
gives tagging against doing both in turn with all cores, the best that sharing allows). The
model has random weights (throughput does not depend on them). Generated inputs: ``--count`` clips
of 10 s at 30 fps, ``--size`` (default 320x240), H.264 x264 defaults, in the vidkit cache.
"""

import argparse
import os
import time
from functools import partial

import torch

from vidkit._pool import isolated_map
from vidkit.bench import default_bench_video
from vidkit.data.views import ViewSpec
from vidkit.engine.loop import resolve_precision
from vidkit.engine.tagger import Tagger, decode_for_tagging, find_videos
from vidkit.models import build


def _decode(path, beat, **kwargs):
    return (yield from decode_for_tagging(path, **kwargs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--model", default="c2d_r50")
    parser.add_argument("--views", default="3x1")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--interval", type=float, default=8 / 30)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--workers", type=int, default=max(1, min(8, (os.cpu_count() or 2) - 1)))
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    if args.paths:
        videos = find_videos(args.paths)
    else:
        width, height = (int(v) for v in args.size.split("x"))
        videos = [str(default_bench_video(width=width, height=height, num_frames=300 + k, fps=30.0)) for k in range(args.count)]
    clips, crops = (int(v) for v in args.views.split("x"))
    spec = ViewSpec(num_clips=clips, num_crops=crops, num_frames=args.frames, interval_s=args.interval, crop_size=args.crop,
                    test_scale=args.crop)
    device = torch.device(args.device)
    precision = resolve_precision("auto", "auto", device)
    model = precision.place(build(args.model, num_classes=400), device).eval()
    work = partial(_decode, spec=spec)
    workers = min(args.workers, len(videos))

    # 1. decode only: the pool, every clip received in the parent, no model
    start = time.perf_counter()
    items = []
    for _, kind, value in isolated_map(work, videos, workers=workers, silence_s=120):
        if kind == "item":
            items.append(value)
    decode_s = time.perf_counter() - start
    n_clips = sum(len(v["clip_of_view"]) for v in items)

    # 2. model only: the same clips, already decoded, through the tagger's device path
    tagger = Tagger(model, spec=spec, device=device, precision=precision, batch_size=args.batch_size)
    fake = [(str(i), "item", item) for i, item in enumerate(items)] + [(str(i), "done", {"info": {}, "error": None})
                                                                       for i in range(len(items))]
    list(tagger.run(fake[:2] + fake[len(items):len(items) + 1]))  # warm-up (allocations, kernels)
    _sync(device)
    start = time.perf_counter()
    list(Tagger(model, spec=spec, device=device, precision=precision, batch_size=args.batch_size).run(fake))
    _sync(device)
    model_s = time.perf_counter() - start

    # 3. tagging: both, overlapped
    start = time.perf_counter()
    tagger = Tagger(model, spec=spec, device=device, precision=precision, batch_size=args.batch_size)
    results = list(tagger.run(isolated_map(work, videos, workers=workers, silence_s=120)))
    _sync(device)
    tag_s = time.perf_counter() - start
    failed = [r for r in results if r.error]
    if failed:
        raise SystemExit(f"{failed[0].path}: {failed[0].error}")

    rows = [("decode only", n_clips / decode_s), ("model only", n_clips / model_s), ("tagging", n_clips / tag_s)]
    print(f"{len(videos)} videos, {n_clips} clips ({args.views} views of {args.frames} frames at {args.crop}px), "
          f"{args.model} on {device} ({precision.describe()}), {workers} decode workers")
    for name, rate in rows:
        print(f"  {name:<12} {rate:8.1f} clips/s  {rate * len(videos) / n_clips:7.2f} videos/s")
    slower = min(rows[0][1], rows[1][1])
    print(f"  tagging / slower of decode and model: {rows[2][1] / slower:.2f} (goal >= 0.80)")
    if device.type == "cpu":
        # decoding and the model then share the same cores: even perfect overlap cannot beat doing
        # both one after the other with every core, 1 / (1/decode + 1/model)
        shared = 1 / (1 / rows[0][1] + 1 / rows[1][1])
        print(f"  on the CPU both share the cores; tagging / serial bound 1/(1/decode + 1/model) = {rows[2][1] / shared:.2f}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    main()
