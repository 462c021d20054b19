#!/usr/bin/env python
"""Clips/s of vidkit's SlowFast next to pytorchvideo's ``create_slowfast`` (the same architecture and the
same weights), in one run, on the same input: eval-mode forward and train-mode forward + backward.

    python tools/bench_models.py [--model slowfast_r50] [--batch 4] [--frames 32] [--size 64] [--repeats 5]
                                 [--device cpu|cuda] [--threads N]

The two models are timed in turn within each repeat and each row keeps the best repeat; the ratio is
vidkit / pytorchvideo (≥ 1.0: vidkit is as fast or faster). pytorchvideo's model takes the two pathways
as a list, so its timing includes taking the Slow frames (``index_select``), as vidkit's does inside
the model. pytorchvideo's fixed AvgPool3d head is sized to the final feature map, which equals
vidkit's global average: before timing, the script checks that both give the same logits.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidkit.models import build, load_weights
from vidkit.models.slowfast import slow_frame_indices

PRESETS = {"slowfast_r50": (4, 7), "slowfast_r50_4x16": (8, 5)}  # alpha, lateral kernel


def pytorchvideo_slowfast(name: str, *, num_classes: int, frames: int, size: int) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pytorchvideo.models.slowfast import create_slowfast
    alpha, kernel = PRESETS[name]
    final = size // 32
    return create_slowfast(model_num_class=num_classes, slowfast_fusion_conv_kernel_size=(kernel, 1, 1),
                           slowfast_fusion_conv_stride=(alpha, 1, 1),
                           head_pool_kernel_sizes=((frames // alpha, final, final), (frames, final, final)))


class PackPathways(nn.Module):
    """pytorchvideo's model behind vidkit's contract: one clip in, the two pathways taken as PySlowFast does."""

    def __init__(self, model: nn.Module, alpha: int):
        super().__init__()
        self.model, self.alpha = model, alpha

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        slow = clip.index_select(2, slow_frame_indices(clip.shape[2], self.alpha, clip.device))
        return self.model([slow, clip])  # a fresh list: pytorchvideo rewrites it in place


def _timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def bench(name: str, *, batch: int, frames: int, size: int, repeats: int, device: torch.device) -> str:
    if size % 32:
        raise SystemExit("--size must be a multiple of 32 (pytorchvideo's head pools a fixed window)")
    alpha = PRESETS[name][0]
    torch.manual_seed(0)
    theirs = pytorchvideo_slowfast(name, num_classes=400, frames=frames, size=size)
    ours = load_weights(build(name, num_classes=400), {"model_state": theirs.state_dict()}, model_name=name)
    models = {"vidkit": ours.to(device), "pytorchvideo": PackPathways(theirs, alpha).to(device)}
    clip = torch.randn(batch, 3, frames, size, size, device=device)
    labels = torch.randint(0, 400, (batch,), device=device)

    with torch.no_grad():
        diff = (models["vidkit"].eval()(clip) - models["pytorchvideo"].eval()(clip)).abs().max().item()

    def forward(model: nn.Module):
        def run():
            with torch.inference_mode():
                model(clip)
        return run

    def train_step(model: nn.Module):
        def run():
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(clip), labels).backward()
        return run

    modes = {"eval forward": ("eval", forward), "train forward+backward": ("train", train_step)}
    best = {(m, k): float("inf") for m in modes for k in models}
    for mode, (state, make) in modes.items():
        runs = {k: make(m.train(state == "train")) for k, m in models.items()}
        for run in runs.values():  # warm-up: kernel selection, allocator
            run()
        for r in range(repeats):
            # Interleaved, first one then the other first, so drift in the machine hits both alike.
            for k in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
                best[mode, k] = min(best[mode, k], _timed(runs[k], device))

    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    lines = [f"{name} on {device}{threads}: batch {batch}, {frames} frames at {size}x{size}, best of {repeats} "
             f"(logits max |diff| {diff:.1e})",
             f"{'mode':<24}{'vidkit clips/s':>16}{'pytorchvideo clips/s':>22}{'ratio':>8}"]
    for mode in modes:
        v, p = batch / best[mode, "vidkit"], batch / best[mode, "pytorchvideo"]
        lines.append(f"{mode:<24}{v:>16.2f}{p:>22.2f}{v / p:>8.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="slowfast_r50", choices=sorted(PRESETS))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    print(bench(args.model, batch=args.batch, frames=args.frames, size=args.size, repeats=args.repeats,
                device=torch.device(args.device)))
