#!/usr/bin/env python
"""Wall time per video of AdaFrame against uniform sampling where decoding costs something: the synthetic
long variant rendered at a larger size, re-encoded with short and long keyframe intervals.

    python tools/bench_adaframe.py                        # the checkpoints tools/adaframe_table.py trained
    python tools/adaframe_table.py ... ; python tools/bench_adaframe.py --size 360 640 --gops 16 250 --videos 16

On the table's own 64² videos a full decode takes a few ms, so decoding fewer frames cannot save time there
(docs/adaframe.md). Here the same two checkpoints classify the same videos at ``--size`` (each frame is still
scaled to the models' 32² at decode), once per keyframe interval in ``--gops`` (H.264, no B-frames): each
look of AdaFrame seeks to the keyframe before it and decodes from there, the uniform baseline reads its 25
candidates in one pass. Printed per interval: ms per video for each, their ratio, and frames looked at.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # pipelines/ when run from a checkout
sys.path.insert(0, str(ROOT / "tools"))  # adaframe_table, whose runs this times
RUNS = ROOT / "runs" / "adaframe_table"


def videos(size: tuple[int, int], count: int, out: Path, gops: list[int]) -> dict[int, list[Path]]:
    """``count`` validation videos of the long variant at ``size`` (height, width), re-encoded once per
    keyframe interval: ``{gop: [path, ...]}`` (made once, then re-used)."""
    from vidkit.data._synthetic_spec import SyntheticSpec
    from vidkit.data.synthetic import synthetic_dataset
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


def time_looks(checkpoint: Path, paths: list[Path], patience: int | None) -> tuple[float, float]:
    """Mean ms per video (open + decode + model) and mean frames looked at, classifying each of ``paths`` as
    tools/adaframe_table.py does."""
    from adaframe_table import looker

    look_at, _, _ = looker(checkpoint, patience)
    frames, start = 0, time.perf_counter()
    for path in paths:
        frames += look_at(path).frames
    return 1000 * (time.perf_counter() - start) / len(paths), frames / len(paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adaframe", type=Path, default=RUNS / "adaframe_memory" / "last.pt")
    parser.add_argument("--uniform", type=Path, default=RUNS / "uniform25" / "last.pt")
    parser.add_argument("--patience", type=int, default=3, help="AdaFrame's exit patience")
    parser.add_argument("--size", type=int, nargs=2, default=[360, 640], metavar=("H", "W"))
    parser.add_argument("--gops", type=int, nargs="+", default=[16, 250], help="keyframe intervals to re-encode with")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_adaframe", help="where the videos go")
    args = parser.parse_args(argv)
    made = videos(tuple(args.size), args.videos, args.work, args.gops)
    print(f"{args.videos} videos of the long variant at {args.size[0]}x{args.size[1]}, 250 frames, H.264 without B-frames")
    print(f"{'keyframe every':>15} {'AdaFrame ms':>12} {'frames':>7} {'uniform-25 ms':>14} {'AdaFrame / uniform':>19}")
    for gop, paths in made.items():
        time_looks(args.adaframe, paths[:1], args.patience)  # warm-up: first calls allocate
        ada_ms, ada_frames = time_looks(args.adaframe, paths, args.patience)
        uni_ms, _ = time_looks(args.uniform, paths, None)
        print(f"{gop:>9} frames {ada_ms:>12.1f} {ada_frames:>7.2f} {uni_ms:>14.1f} {ada_ms / uni_ms:>19.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
