#!/usr/bin/env python
"""Multi-view test decoding: every view from one decode (vidkit eval) against one decode per view
(PySlowFast's test loader), in one run, on the same videos.

    python tools/bench_eval_decode.py                       # Kinetics-like clips, SlowFast 8x8 views, 10x3
    python tools/bench_eval_decode.py --views 2x3 --frames 8 --interval 0.1333 --size 640x360
    python tools/bench_eval_decode.py FILE ... --repeats 3

Without files it generates Kinetics-like clips into the vidkit cache: 10 s at 30 fps, 340x256, H.264
with x264's default GOP (one keyframe for the whole clip, as most Kinetics downloads are cut) and the
same with a keyframe every 12 frames (short GOPs favour per-view seeking). Both paths produce the same
data-loader items (:class:`vidkit.data.views.VideoViews`: frames scaled to the test scale, crop
boxes) in the main process; rows are the best of the repeats, the two taken in turn.
"""

import argparse
import time

from vidkit.bench import default_bench_video
from vidkit.data.views import VideoViews, ViewSpec


def videos_per_s(dataset: VideoViews) -> float:
    start = time.perf_counter()
    for i in range(len(dataset)):
        item = dataset[i]
        if "error" in item:
            raise SystemExit(f"{dataset.samples[i][0]}: {item['error']}")
    return len(dataset) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--views", default="10x3", help="clips x crops (default 10x3, the Kinetics protocol)")
    parser.add_argument("--frames", type=int, default=32, help="frames per clip (SlowFast 8x8: 32 at the fast rate)")
    parser.add_argument(
        "--interval",
        type=float,
        default=2 / 30,
        help="seconds between frames (default 2/30: sampling rate 2 at 30 fps)",
    )
    parser.add_argument("--scale", type=int, default=256, help="test scale = crop size (default 256)")
    parser.add_argument("--size", default="340x256", help="generated videos' WxH")
    parser.add_argument("--count", type=int, default=3, help="generated videos per GOP setting")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--backend", default="pyav", choices=("pyav", "decord"))
    args = parser.parse_args()

    clips, crops = (int(v) for v in args.views.split("x"))
    spec = ViewSpec(
        num_clips=clips,
        num_crops=crops,
        num_frames=args.frames,
        interval_s=args.interval,
        crop_size=args.scale,
        test_scale=args.scale,
    )
    if args.paths:
        groups = {"given files": list(args.paths)}
    else:
        width, height = (int(v) for v in args.size.split("x"))
        groups = {}
        for gop in (None, 12):
            # different lengths so the files differ; all about 10 s
            groups[f"{args.size} H.264, GOP {gop or 'x264 default (250)'}"] = [
                str(default_bench_video(width=width, height=height, num_frames=300 + k, fps=30.0, gop=gop))
                for k in range(args.count)
            ]
    print(
        f"views {clips}x{crops} of {args.frames} frames {args.interval:.4g} s apart, scaled to {args.scale}, "
        f"backend {args.backend}"
    )
    print(f"{'videos':<44} {'decode once':>12} {'per view':>12} {'speed-up':>9}")
    for name, paths in groups.items():
        samples = [(p, 0) for p in paths]
        once = VideoViews(samples, spec, backend=args.backend)
        per_view = VideoViews(samples, spec, backend=args.backend, per_view=True)
        best_once = best_per_view = 0.0
        for _ in range(args.repeats):
            best_once = max(best_once, videos_per_s(once))
            best_per_view = max(best_per_view, videos_per_s(per_view))
        print(f"{name:<44} {best_once:>8.2f} v/s {best_per_view:>8.2f} v/s {best_once / best_per_view:>8.1f}x")


if __name__ == "__main__":
    main()
