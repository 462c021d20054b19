#!/usr/bin/env python
"""Clips/s of vidkit's SlowFast (or I3D, TSM) next to pytorchvideo's implementation with the same weights,
in one run on the same input: eval-mode forward and train-mode forward + backward. It runs
``vidkit bench --only models`` (vidkit/bench/models.py) with these flags and defaults:

    python tools/bench_models.py [--model slowfast_r50] [--batch 4] [--frames 32] [--size 64] [--repeats 5]
                                 [--device cpu|cuda] [--threads N]

The ratio is vidkit / pytorchvideo fp32 eager (>= 1.0: vidkit is as fast or faster).
"""

from __future__ import annotations

import argparse
import sys

import torch

from vidkit.cli import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="slowfast_r50", help="comma-separated: slowfast_r50, i3d_r50, tsm_r50")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sys.exit(
        main(
            [
                "bench",
                "--only",
                "models",
                "--models",
                args.model,
                "--batch",
                str(args.batch),
                "--frames",
                str(args.frames),
                "--size",
                str(args.size),
                "--repeats",
                str(args.repeats),
                "--device",
                args.device,
            ]
        )
    )
