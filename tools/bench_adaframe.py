#!/usr/bin/env python
"""Wall time per video of AdaFrame against uniform sampling where decoding costs something: the synthetic
long variant rendered at a larger size, re-encoded with short and long keyframe intervals.

    python tools/bench_adaframe.py                        # the checkpoints tools/adaframe_table.py trained
    python tools/adaframe_table.py ... ; python tools/bench_adaframe.py --size 360 640 --gops 16 250 --videos 16

On the table's own 64² videos a full decode costs little, so decoding fewer frames cannot save time there
(docs/adaframe.md). Here the same two checkpoints classify the same videos at ``--size`` (each frame is still
scaled to the models' 32² at decode), once per keyframe interval in ``--gops`` (H.264, no B-frames): each
look of AdaFrame seeks to the keyframe before it and decodes from there, the uniform baseline reads its 25
candidates in one pass. Printed per interval: ms per video for each, their ratio, and frames looked at.

    python tools/bench_adaframe.py --paper-size --frames 6       # the networks at the paper's size

``--paper-size`` times the paper's networks instead of the trained ones: a ResNet-101 on each 224² frame, a
MobileNetV2 memory of 16 frames at 112², untrained (the weights do not change the time, only how many looks
they take): AdaFrame made to look at exactly ``--frames`` candidates (K = that, no early exit) against
uniform K = 25 through the same ResNet-101. There each frame's network costs far more than its decode and
the per-step overhead, as in the paper's setting; the trained 32² models show the opposite end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # adaframe_table, whose runs this times
RUNS = ROOT / "runs" / "adaframe_table"


def videos(size: tuple[int, int], count: int, out: Path, gops: list[int]) -> dict[int, list[Path]]:
    """``count`` validation videos of the long variant at ``size`` (height, width), re-encoded once per
    keyframe interval: ``{gop: [path, ...]}`` (made once, then re-used)."""
    from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset
    from vidkit.io.reencode import reencode

    per_class = -(-count // 8)
    spec = SyntheticSpec(variant="long", num_train_per_class=1, num_val_per_class=per_class, size=size, num_frames=250)
    sources = [Path(p) for p, _ in synthetic_dataset(spec, root=out / "source").samples("val")[:count]]
    made = {}
    for gop in gops:
        made[gop] = []
        for src in sources:
            dst = out / f"gop{gop}" / src.name
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                reencode(src, dst, codec="libx264", gop=gop, b_frames=0)
            made[gop].append(dst)
    return made


PAPER = dict(backbone="resnet101", memory_arch="mobilenet_v2", memory_size=112, hidden=512, embed=256)


def paper_lookers(frames: int, num_classes: int = 8) -> dict[str, object]:
    """``{name: look_at}``: AdaFrame at the paper's size looking at exactly ``frames`` candidates, and uniform
    K=25 through the same backbone; ``look_at(path)`` opens, decodes (224² centre crop) and classifies a file."""
    import torch

    from vidkit.data.adaframe import look
    from vidkit.data.transforms import ClipTransform
    from vidkit.io import open_video
    from vidkit.models import build

    transform = ClipTransform(crop_size=224, train_scale=(224, 224), test_scale=224, flip_prob=0.0)
    torch.manual_seed(0)
    models = {
        f"AdaFrame, {frames} looks": build(
            "adaframe", num_classes=num_classes, steps=frames, exit_patience=frames, **PAPER
        ).eval(),
        "uniform-25": build("adaframe", num_classes=num_classes, policy="uniform", steps=25, **PAPER).eval(),
    }

    def looker(model):
        def look_at(path):
            with torch.inference_mode(), open_video(path, short_side=224) as video:
                return look(model, video, transform, num_candidates=25)

        return look_at

    return {name: looker(model) for name, model in models.items()}


def time_calls(look_at, paths: list[Path]) -> tuple[float, float, float]:
    """Mean ms per video, frames looked at and frames the decoder produced, calling ``look_at`` on each of ``paths``."""
    frames, decoded, start = 0, 0, time.perf_counter()
    for path in paths:
        seen = look_at(path)
        frames += seen.frames
        decoded += seen.decoder_frames
    n = len(paths)
    return 1000 * (time.perf_counter() - start) / n, frames / n, decoded / n


def table(lookers: dict, made: dict[int, list[Path]]) -> list[str]:
    """Markdown rows timing AdaFrame against uniform-25 (``lookers``: theirs, in that order) per keyframe interval."""
    (ada_name, ada), (uni_name, uni) = lookers.items()
    lines = [
        f"| keyframe every | {ada_name} ms / video | frames looked at | frames decoded | {uni_name} ms / video "
        "| frames decoded | ratio |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for gop, paths in made.items():
        ada(paths[0]), uni(paths[0])  # warm-up: first calls allocate
        ada_ms, ada_frames, ada_decoded = time_calls(ada, paths)
        uni_ms, _, uni_decoded = time_calls(uni, paths)
        lines.append(
            f"| {gop} frames | {ada_ms:.1f} | {ada_frames:.2f} | {ada_decoded:.1f} | {uni_ms:.1f} | {uni_decoded:.1f} "
            f"| {ada_ms / uni_ms:.2f} |"
        )
        print(lines[-1], flush=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    import os
    import platform

    import torch

    from vidkit.utils import cpu_count

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adaframe", type=Path, default=RUNS / "adaframe_fresh" / "last.pt")
    parser.add_argument("--uniform", type=Path, default=RUNS / "uniform25" / "last.pt")
    parser.add_argument("--patience", type=int, default=5, help="the trained AdaFrame's exit patience")
    parser.add_argument("--size", type=int, nargs=2, default=[360, 640], metavar=("H", "W"))
    parser.add_argument("--gops", type=int, nargs="+", default=[16, 250], help="keyframe intervals to re-encode with")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_adaframe", help="where the videos go")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=["trained", "paper"],
        default=["trained", "paper"],
        help="the trained checkpoints, and/or the paper's networks (untrained)",
    )
    parser.add_argument("--frames", type=int, default=6, help="the looks AdaFrame takes at the paper's size")
    parser.add_argument("--write", type=Path, help="also write the tables to this markdown file")
    args = parser.parse_args(argv)
    made = videos(tuple(args.size), args.videos, args.work, args.gops)
    threads = cpu_count()
    command = " ".join(["python tools/bench_adaframe.py", *(sys.argv[1:] if argv is None else argv)])
    lines = [
        f"`{command}`",
        "",
        f"{args.videos} validation videos of the long variant at {args.size[0]}x{args.size[1]}, 250 frames (10 s), "
        "H.264 without B-frames, re-encoded per keyframe interval. Time: open + decode + model per video, one "
        f"process, {threads} threads; machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"torch {torch.__version__}, no GPU. Frames decoded: what the decoder produced, from the keyframe before each "
        "frame asked for. Ratio: AdaFrame's time over uniform-25's (below 1, AdaFrame is faster).",
        "",
    ]
    for mode in args.models:
        if mode == "trained":
            from adaframe_table import looker

            torch.set_num_threads(threads)
            lookers = {
                f"AdaFrame (exit patience {args.patience})": looker(args.adaframe, args.patience)[0],
                "uniform-25": looker(args.uniform)[0],
            }
            lines += [
                f"The trained networks ({args.adaframe.parent.name} and {args.uniform.parent.name}: ResNet-18 "
                "on 3-frame snippets at 32²):",
                "",
            ]
        else:
            lookers = paper_lookers(args.frames)
            lines += [
                "The paper's networks, untrained (ResNet-101 on each frame at 224², MobileNetV2 memory of 16 "
                f"frames at 112²; AdaFrame made to look at exactly {args.frames} frames):",
                "",
            ]
        print("\n".join(lines[-2:]), flush=True)
        lines += table(lookers, made) + [""]
    if args.write:
        args.write.write_text("# AdaFrame's wall time against uniform-25\n\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
