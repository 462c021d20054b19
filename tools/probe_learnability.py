#!/usr/bin/env python
"""How fast can a model learn the synthetic set? Decode each video's clip once into memory, then train.

    python tools/probe_learnability.py --model tiny --steps 600 --lr 0.002
    python tools/probe_learnability.py --model slowfast --opt sgd --lr 0.01 --steps 150 \\
        --set data.synthetic.size=[64,64]

For tuning the default run of ``vidkit train`` (and the synthetic generator behind it) in minutes:
one fixed uniform clip per video (no decode per step, no data loader), the same device-side
transform as training, and a validation top-1 every 50 steps. ``--model tiny`` is a 4-layer 3D CNN
many times cheaper than SlowFast R50 on the CPU (docs/performance.md); a set it cannot learn in a
few hundred steps will not be learnt by SlowFast in the far fewer steps a short CPU run allows.
``--set`` takes the same overrides as ``vidkit train`` (dataset spec, clip length, crop). ``--trivial``
swaps the labels for the background's dominant colour channel, a check that the plumbing learns
anything at all.
``--squares`` replaces the videos with easy reference data (a bright square moving right, left,
down or up over black, made as tensors, no video coding) at the same size and clip length, to
compare the synthetic set against.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

from vidkit.data import UniformClipSampler
from vidkit.data.clips import sample_clips
from vidkit.data.transforms import ClipTransform
from vidkit.engine.optim import build_optimizer, warmup_cosine
from vidkit.models import build
from vidkit.pipelines.config import load_train_config
from vidkit.pipelines.train import build_dataset


def tiny_3d_cnn(num_classes: int) -> nn.Module:
    def block(cin: int, cout: int, stride: tuple[int, int, int]) -> list[nn.Module]:
        return [
            nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm3d(cout),
            nn.ReLU(inplace=True),
        ]

    return nn.Sequential(
        *block(3, 32, (1, 2, 2)),
        *block(32, 64, (2, 2, 2)),
        *block(64, 128, (2, 2, 2)),
        *block(128, 128, (2, 2, 2)),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(128, num_classes),
    )


def moving_squares(
    count: int, *, frames: int, size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 ``[count, frames, size, size, 3]`` clips of a square (a quarter of the side) crossing
    50-100% of the free range, and labels 0-3 (right, left, down, up): easy reference data, to compare
    the synthetic set against."""
    side = size // 4
    clips = torch.zeros(count, frames, size, size, 3, dtype=torch.uint8)
    labels = torch.randint(0, 4, (count,), generator=generator)
    for i, label in enumerate(labels.tolist()):
        free = size - side
        travel = free * (0.5 + 0.5 * float(torch.rand(1, generator=generator)))
        start = float(torch.rand(1, generator=generator)) * (free - travel)
        across = int(torch.randint(0, free + 1, (1,), generator=generator))
        colour = (torch.rand(3, generator=generator) * 200 + 55).to(torch.uint8)
        for t in range(frames):
            step = travel * t / max(frames - 1, 1)
            along = round(start + (step if label in (0, 2) else travel - step))
            if label < 2:
                clips[i, t, across : across + side, along : along + side] = colour
            else:
                clips[i, t, along : along + side, across : across + side] = colour
    return clips, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="tiny, or any registered model")
    parser.add_argument("--opt", default="adamw", choices=("sgd", "adamw"))
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--no-augment", action="store_true", help="train on the centre crop, no scale jitter")
    parser.add_argument("--trivial", action="store_true", help="labels = dominant colour channel (plumbing check)")
    parser.add_argument(
        "--squares", action="store_true", help="the issue's moving-squares reference data instead of the videos"
    )
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model builder argument, e.g. --option zero_init_final_bn=false",
    )
    args = parser.parse_args()
    options = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.option)}

    config = load_train_config(overrides=args.overrides)
    d = config.data
    dataset = None if args.squares else build_dataset(config, progress=True)
    sampler = UniformClipSampler(num_clips=1, num_frames=d.num_frames, interval_s=d.interval_s)
    squares = torch.Generator().manual_seed(config.seed)

    def decode(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if args.squares:
            per_class = d.synthetic.train_per_class if split == "train" else d.synthetic.val_per_class
            return moving_squares(8 * per_class, frames=d.num_frames, size=min(d.synthetic.size), generator=squares)
        samples = dataset.samples(split)
        frames = torch.stack([sample_clips(path, sampler)[0].frames for path, _ in samples])
        labels = torch.tensor([label for _, label in samples])
        if args.trivial:
            labels = frames[:, 0, 0, 0, :].float().argmax(-1)
        return frames, labels

    started = time.perf_counter()
    (x_train, y_train), (x_val, y_val) = decode("train"), decode("val")
    print(f"decoded {tuple(x_train.shape)} + {tuple(x_val.shape)} in {time.perf_counter() - started:.0f} s", flush=True)
    transform = ClipTransform(crop_size=d.crop_size, train_scale=d.train_scale, test_scale=d.test_scale, flip_prob=0.0)
    num_classes = 4 if args.squares else len(dataset.classes)
    torch.manual_seed(config.seed)
    model = tiny_3d_cnn(num_classes) if args.model == "tiny" else build(args.model, num_classes=num_classes, **options)
    optimizer = build_optimizer(
        model, name=args.opt, lr=args.lr, weight_decay=args.weight_decay, momentum=0.9, nesterov=True
    )
    schedule = warmup_cosine(optimizer, total_steps=args.steps, warmup_steps=args.steps // 10)
    generator = torch.Generator().manual_seed(config.seed)

    @torch.no_grad()
    def val_top1() -> float:
        model.eval()
        hits = sum(
            int((model(transform(x_val[i : i + 50], train=False)).argmax(1) == y_val[i : i + 50]).sum())
            for i in range(0, len(x_val), 50)
        )
        model.train()
        return hits / len(x_val)

    model.train()
    started, hits = time.perf_counter(), []
    for step in range(1, args.steps + 1):
        index = torch.randint(0, len(x_train), (args.batch,), generator=generator)
        x = transform(x_train[index], train=not args.no_augment, generator=generator)
        logits = model(x)
        loss = F.cross_entropy(logits, y_train[index], label_smoothing=config.optim.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        schedule.step()
        hits.append(float((logits.argmax(1) == y_train[index]).float().mean()))
        if step % 50 == 0 or step == args.steps:
            print(
                f"step {step}: loss {loss.item():.3f}, train top-1 (last 50) {sum(hits[-50:]) / len(hits[-50:]):.2f}, "
                f"val top-1 {val_top1():.3f}, {time.perf_counter() - started:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
