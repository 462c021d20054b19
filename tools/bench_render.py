#!/usr/bin/env python
"""``vidkit render``'s cost against decoding plus encoding the same video, in one run on the same file.

    python tools/bench_render.py                      # a generated 10 s 1280x720 H.264 clip at 30 fps
    python tools/bench_render.py clip.mp4 --repeat 3

Three passes, each decoding the whole video and encoding it with x264 (veryfast, crf 20, yuv420p):

- **transcode**: decode and encode, the frames never leaving FFmpeg's YUV (the floor: what any re-encode costs);
- **redraw, nothing drawn**: :func:`vidkit.io.redraw.redraw` with a drawing function that does nothing
  (adds the conversions to RGB and back that drawing needs);
- **render**: ``redraw`` with the :class:`vidkit.viz.LabelOverlay` of ``vidkit render`` (three labels with
  score bars, the timeline and its cursor on every frame; 2 s segments every 1 s).

The goal: render costs no more than decoding plus encoding (render / transcode close to 1). Each pass runs
``--repeat`` times; the best time counts.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from fractions import Fraction

import av

from vidkit.bench import default_bench_video
from vidkit.io import probe
from vidkit.io.redraw import redraw
from vidkit.viz import LabelOverlay, Segment

LABELS = ("playing guitar", "singing", "tap dancing", "juggling balls", "yoga")


def transcode(src: str, dst: str) -> int:
    """Decode and encode with x264 as redraw does, without leaving YUV."""
    frames = 0
    with av.open(src) as container, av.open(dst, "w", format="mp4") as out:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        encoder = out.add_stream("libx264", rate=video.average_rate or 30)
        encoder.width, encoder.height, encoder.pix_fmt = video.width, video.height, "yuv420p"
        encoder.options = {"crf": "20", "preset": "veryfast"}
        encoder.codec_context.time_base = video.time_base or Fraction(1, 1000)
        for frame in container.decode(video):
            frame = frame.reformat(format="yuv420p")
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(encoder.encode(frame))
            frames += 1
        out.mux(encoder.encode())
    return frames


def _scene(width: int, height: int, frames: int):
    """A smooth scene in the cache: a gradient background and three discs moving across it, at 30 fps."""
    import numpy as np

    from vidkit.io.encode import write_video
    from vidkit.utils import cache_dir

    path = cache_dir("bench") / f"scene_{width}x{height}_{frames}f.mp4"
    if not path.exists():
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        background = np.stack([x / width * 200, y / height * 200, np.full_like(x, 90)], -1)

        def frame(i):
            image = background.copy()
            for k, color in enumerate(((230, 60, 60), (60, 230, 60), (60, 60, 230))):
                cx = (0.1 + 0.8 * ((i * (k + 1) * 3) % width) / width) * width
                cy = height * (0.3 + 0.2 * k)
                image[(x - cx) ** 2 + (y - cy) ** 2 < (height / 10) ** 2] = color
            return image.astype(np.uint8)

        write_video(path, (frame(i) for i in range(frames)), fps=30, options={"preset": "veryfast"})
    return path


def _segments(duration: float) -> list[Segment]:
    out, start, k = [], 0.0, 0
    while start < duration:
        labels = tuple((LABELS[(k + j) % len(LABELS)], round(0.7 / (j + 1), 2)) for j in range(3))
        out.append(Segment(start, min(start + 2.0, duration), labels))
        start, k = start + 1.0, k + 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?")
    parser.add_argument("--size", default="1280x720", help="the generated clip's size (default 1280x720)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--content",
        choices=("texture", "scene"),
        default="texture",
        help="the generated clip: a scrolling noise texture (every block moves: the encoder's worst case for an "
        "overlay), or a scene (a smooth gradient background, moving discs)",
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    frames = round(30 * args.seconds)
    if args.video:
        src = args.video
    elif args.content == "texture":
        src = str(default_bench_video(width=width, height=height, num_frames=frames))
    else:
        src = str(_scene(width, height, frames))
    info = probe(src)
    h, w = info.display_size
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "out.mp4")
        passes = {
            "transcode": lambda: transcode(src, dst),
            "redraw, nothing drawn": lambda: redraw(src, dst, lambda frame, t: None, audio=False),
            "render": lambda: redraw(
                src,
                dst,
                LabelOverlay(_segments(info.duration_s), duration_s=info.duration_s, height=h, width=w),
                audio=False,
                space="yuv420p",
            ),
            "render in RGB": lambda: redraw(
                src,
                dst,
                LabelOverlay(_segments(info.duration_s), duration_s=info.duration_s, height=h, width=w),
                audio=False,
            ),
        }
        for _ in range(args.repeat):
            for name, run in passes.items():
                if os.path.exists(dst):
                    os.remove(dst)
                started = time.perf_counter()
                run()
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)
    frames = info.num_frames
    rows = {name: {"seconds": s, "frames_per_s": frames / s} for name, s in best.items()}
    ratios = {
        "render / transcode": best["render"] / best["transcode"],
        "render / redraw, nothing drawn": best["render"] / best["redraw, nothing drawn"],
    }
    if args.json:
        print(json.dumps({"video": src, "frames": frames, "passes": rows, "ratios": ratios}, indent=2))
        return 0
    print(f"{src}: {frames} frames, {w}x{h}; best of {args.repeat}")
    for name, row in rows.items():
        print(f"  {name:<24} {row['seconds']:6.2f} s  {row['frames_per_s']:7.1f} frames/s")
    for name, ratio in ratios.items():
        print(f"  {name:<32} {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
