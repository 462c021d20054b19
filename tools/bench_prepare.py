#!/usr/bin/env python
"""What `vidkit prepare` buys: sampling 8 uniform frames per video from x264-default files against
their prepared copies, in one run on the same files.

    python tools/bench_prepare.py                         # 6 videos of 600 frames, 640x360
    python tools/bench_prepare.py --count 2 --frames 120 --json

Inputs: ``--count`` copies of one generated 640x360 clip at 30 fps, H.264 with x264's defaults (a
keyframe every 250 frames, B-frames, crf 23), written once into the vidkit cache (``bench/``). Its
content is a camera panning and bobbing over a smooth, grainy world, two textured objects moving
across it, and a little sensor noise: it costs about the bits and the decoding time of real footage,
and prepare speeds it up about as much (docs/performance.md compares it with a cut of a film).
``--texture`` takes :func:`vidkit.bench.default_bench_video` instead, random noise sliding 2 pixels
a frame: predicted exactly, it decodes from almost no bits, very fast, while its copy, resampled to
the short side 256 at crf 18, needs many times the bits, so there prepare loses.

The copies are made by :func:`vidkit.pipelines.prepare.convert_tree` with `vidkit prepare`'s defaults
(libx264, a keyframe every 16 frames, up to 3 B-frames, short side 256, crf 18), one file per
worker, timed. Then each set is sampled as a test-time loader does:
:class:`~vidkit.data.samplers.UniformClipSampler` (8 clips of one frame, first to last frame) and
:func:`~vidkit.data.clips.sample_clips` (backend pyav), every video once per round, the two sets
taken in turn within a round (so a change in machine load hits both alike); videos/s is the best of
``--repeats`` rounds. The speed-up comes from both things prepare does: each frame decodes at most 15
others before it instead of up to 249, and frames are smaller.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from vidkit.bench import default_bench_video
from vidkit.data.clips import sample_clips
from vidkit.data.samplers import UniformClipSampler
from vidkit.io import probe
from vidkit.pipelines.prepare import DEFAULTS, convert_tree
from vidkit.utils import cache_dir, default_workers

FRAMES_SAMPLED = 8


def scene(*, width: int, height: int, num_frames: int, seed: int = 0) -> Iterator[np.ndarray]:
    """RGB frames: a camera panning 1.5 pixels a frame and bobbing over a smooth world with grain, two
    textured squares moving their own ways, and sensor noise (a cycle of 7 fields, sigma 2.5)."""
    rng = np.random.default_rng(seed)
    world = _smooth(rng, height + 48, width + 2 * num_frames, cell=32).astype(np.int16)
    world += rng.normal(0, 8, world.shape).astype(np.int16)  # grain: moves with the world
    noise = [rng.normal(0, 2.5, (height, width, 3)).astype(np.int16) for _ in range(7)]
    side = height // 4
    squares = [_smooth(rng, side, side, cell=8).astype(np.int16) for _ in range(2)]
    for t in range(num_frames):
        x, y = 3 * t // 2, 24 + round(24 * math.sin(2 * math.pi * t / 90))
        frame = world[y : y + height, x : x + width] + noise[t % 7]
        for k, square in enumerate(squares):
            sx = int((width - side) * (0.5 + 0.5 * math.sin(2 * math.pi * t / (70 + 40 * k) + k)))
            sy = int((height - side) * (0.5 + 0.5 * math.cos(2 * math.pi * t / (110 - 30 * k))))
            frame[sy : sy + side, sx : sx + side] = square
        yield np.clip(frame, 0, 255).astype(np.uint8)


def _smooth(rng: np.random.Generator, height: int, width: int, *, cell: int) -> np.ndarray:
    """Random colours every ``cell`` pixels, interpolated bicubically (by FFmpeg's scaler) between."""
    coarse = av.VideoFrame.from_ndarray(
        rng.integers(0, 256, (height // cell + 3, width // cell + 3, 3), dtype=np.uint8), format="rgb24"
    )
    full = coarse.reformat(width=coarse.width * cell, height=coarse.height * cell, interpolation="BICUBIC")
    return full.to_ndarray(format="rgb24")[cell : cell + height, cell : cell + width]


def scene_video(*, width: int = 640, height: int = 360, num_frames: int = 600) -> Path:
    """:func:`scene` at 30 fps, H.264 with x264's defaults, generated once into the vidkit cache."""
    from vidkit.io.encode import write_video

    path = cache_dir("bench") / f"scene_{width}x{height}_{num_frames}f.mp4"
    if not path.exists():
        write_video(path, scene(width=width, height=height, num_frames=num_frames), fps=30.0)
    return path


def measure(
    *,
    count: int = 6,
    frames: int = 600,
    width: int = 640,
    height: int = 360,
    repeats: int = 3,
    workers: int | None = None,
    texture: bool = False,
) -> dict:
    """Re-encode ``count`` generated videos and time sampling the originals and the copies; JSON-ready."""
    make = default_bench_video if texture else scene_video
    source = make(width=width, height=height, num_frames=frames)
    with tempfile.TemporaryDirectory(prefix="bench_prepare.") as folder:
        originals, prepared = Path(folder, "original"), Path(folder, "prepared")
        originals.mkdir()
        for i in range(count):
            shutil.copyfile(source, originals / f"clip{i:03d}.mp4")
        workers = workers or default_workers()
        started = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # its summary: stdout stays for the results
            status = convert_tree(
                [str(originals)],
                str(prepared),
                ext=".mp4",
                workers=workers,
                timeout_s=60.0,
                job="bench_prepare",
                **DEFAULTS,
            )
        reencode_s = time.perf_counter() - started
        if status != 0:
            raise RuntimeError(f"convert_tree failed (exit status {status}); see above")
        sets = {"original": sorted(originals.iterdir()), "prepared": sorted(prepared.iterdir())}
        best = _sample_rates(sets, repeats)
        copy = probe(sets["prepared"][0])
        return {
            "content": "texture" if texture else "scene",
            "videos": count,
            "frames": frames,
            "size": f"{width}x{height}",
            "prepared_size": f"{copy.width}x{copy.height}",
            "prepare": {**DEFAULTS, "workers": workers},
            "sampled_frames": FRAMES_SAMPLED,
            "repeats": repeats,
            "original_videos_per_s": round(count / best["original"], 2),
            "prepared_videos_per_s": round(count / best["prepared"], 2),
            "speedup": round(best["original"] / best["prepared"], 2),
            "reencode_s": round(reencode_s, 2),
            "original_bytes": sum(p.stat().st_size for p in sets["original"]),
            "prepared_bytes": sum(p.stat().st_size for p in sets["prepared"]),
        }


def _sample_rates(sets: dict[str, list[Path]], repeats: int) -> dict[str, float]:
    """The best time, in seconds, to sample every video of each set once."""
    sampler = UniformClipSampler(num_clips=FRAMES_SAMPLED, num_frames=1, interval_s=1 / 30)
    best = {name: float("inf") for name in sets}
    for _ in range(repeats):
        for name, paths in sets.items():
            started = time.perf_counter()
            for path in paths:
                clips = sample_clips(path, sampler, backend="pyav")
                assert len(clips) == FRAMES_SAMPLED, path
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def format_results(r: dict) -> str:
    mb = 1 / 2**20
    p = r["prepare"]
    return "\n".join(
        [
            f"bench_prepare: {r['videos']} videos of {r['frames']} frames, {r['size']} ({r['content']}), "
            "H.264 with x264's defaults (a keyframe every 250 frames, B-frames)",
            f"  vidkit prepare ({p['codec']}, GOP {p['gop']}, up to {p['b_frames']} B-frames, "
            f"short side {p['short_side']}): "
            f"{r['reencode_s']:.1f} s with {p['workers']} workers, {r['original_bytes'] * mb:.1f} MB -> "
            f"{r['prepared_bytes'] * mb:.1f} MB ({r['prepared_size']})",
            f"  sampling {r['sampled_frames']} uniform frames per video (sample_clips, pyav; best of {r['repeats']}):",
            f"    original  {r['original_videos_per_s']:>8.2f} videos/s",
            f"    prepared  {r['prepared_videos_per_s']:>8.2f} videos/s",
            f"    speed-up  {r['speedup']:>8.2f}x",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=6, help="videos (default 6)")
    parser.add_argument("--frames", type=int, default=600, help="frames per video (default 600: 20 s at 30 fps)")
    parser.add_argument("--repeats", type=int, default=3, help="sampling rounds; the best counts (default 3)")
    parser.add_argument("--workers", type=int, help="re-encoding processes (default: CPUs, at most 8)")
    parser.add_argument(
        "--texture", action="store_true", help="sample vidkit.bench's sliding noise instead (see above)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)
    if min(args.count, args.frames, args.repeats) < 1 or args.frames < FRAMES_SAMPLED:
        parser.error(f"--count and --repeats must be at least 1, --frames at least {FRAMES_SAMPLED}")
    results = measure(
        count=args.count, frames=args.frames, repeats=args.repeats, workers=args.workers, texture=args.texture
    )
    print(json.dumps(results, indent=1) if args.json else format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
