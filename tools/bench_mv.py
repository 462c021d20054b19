#!/usr/bin/env python
"""Motion-vector extraction against decoding, optical flow and the motion-vector-extractor package,
in one run on the same files:

    python tools/bench_mv.py                       # generated clips: H.264 (x264 defaults) and MPEG-4 Part 2
    python tools/bench_mv.py FILE ... --repeat 5 --json mv.json

Rows, in frames/s, each the best of ``--repeat`` rounds with the methods taken in turn within a round
(so a change in machine load hits every row alike; the median of the rounds is printed beside it):

* PyAV RGB decode: every frame to an ``rgb24`` ndarray.
* PyAV RGB decode + Farneback: OpenCV's dense optical flow between consecutive grey frames
  (pyr_scale 0.5, levels 3, winsize 15, iterations 3, poly_n 5, poly_sigma 1.2), on the first
  ``--flow-frames`` frames only (default 60): it is two orders of magnitude slower than decoding.
* vidkit decoded_with_vectors: each frame with its vectors, no field painted, the pictures decoded
  in full as :mod:`vidkit.io.compressed` needs them (FFmpeg exports vectors only from a decode).
* vidkit motion_fields: dense ``[2, H/4, W/4]`` float32 fields for every frame.
* mvextractor vectors-only / default: ``VideoCap.read()`` with ``set_decode_frames(False)`` (raw block
  lists ``[N, 10]`` int32, no picture converted, no field built), and with BGR frames as well.

The goals: vidkit >= 0.8x mvextractor's vectors-only mode, and >= 20x decode +
Farneback.

Threading. mvextractor sets ``thread_count = min(hardware threads, 16)`` with FFmpeg's default
``thread_type`` (frame and slice threads; neither can be changed from Python); the PyAV RGB rows use
the same count with ``thread_type="AUTO"``. vidkit decodes a stream that declares no reordering
(no B-frames: the MPEG-4 input) with the same number of frame threads, and one with B-frames in one
FFmpeg thread, a second (Python) thread decoding ahead while the fields are painted: frame threads
export incomplete or stale vectors for H.264's delayed-output frames, differently from run to run
(see :func:`vidkit.io.motion.decoded_with_vectors`). ``motion_fields`` never looks at the pictures,
so it has FFmpeg skip the work only they need (deblocking, inverse transforms; MPEG-4 Part 2 and the
other MPEG-family decoders decode the pictures at 1/8 of their size), which leaves every vector as
it is, to the bit. The "vectors" column counts the blocks each vector row received (in its best
round); when mvextractor's count differs from vidkit's, or varies from round to round, a note says
so. OpenCV's Farneback uses its own thread pool (``cv2.getNumThreads()``, printed).

Generated inputs (cached in the vidkit cache, ``bench/``): 10 s of 640x360 at 30 fps, a smooth
texture panning and bobbing behind two textured objects moving their own ways, encoded with x264
defaults (B-frames, long GOP) and as MPEG-4 Part 2 (GOP 12, no B-frames, 2 Mbit/s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidkit.utils import cache_dir, cpu_count

INSTALL_HINT = "pip install motion-vector-extractor opencv-python-headless  (or: pip install -e '.[bench]')"
# the rows, in the order printed
RGB = "PyAV RGB decode"
FARNEBACK = "PyAV RGB decode + Farneback"
VECTORS = "vidkit decoded_with_vectors (no fields)"
VIDKIT = "vidkit motion_fields"
MVX_VECTORS = "mvextractor vectors-only"
MVX_DEFAULT = "mvextractor default (BGR frames + vectors)"
ORDER = [RGB, FARNEBACK, VECTORS, VIDKIT, MVX_VECTORS, MVX_DEFAULT]
GOAL_MVX, GOAL_FLOW = 0.8, 20.0
FARNEBACK_PARAMS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def decoder_threads() -> int:
    """mvextractor's decoder thread count: ``min(std::thread::hardware_concurrency(), 16)``."""
    return min(cpu_count(), 16)


# -- inputs ---------------------------------------------------------------------------------------


def moving_scene(*, width: int, height: int, num_frames: int, seed: int = 0) -> Iterator[np.ndarray]:
    """RGB uint8 frames ``[H, W, 3]`` with motion a codec can follow: a smooth random texture pans
    right 2 px a frame and bobs up and down, a textured square drifts down-right bouncing off the
    edges and a textured disc crosses leftwards, 4 px a frame."""
    rng = np.random.default_rng(seed)

    def texture(h: int, w: int, cell: int) -> np.ndarray:
        coarse = rng.integers(0, 256, (-(-h // cell) + 1, -(-w // cell) + 1, 3)).astype(np.float32)
        # bilinear upsampling of coarse noise: smooth blobs, plus a little fine grain for sub-block detail
        ys, xs = np.arange(h) / cell, np.arange(w) / cell
        y0, x0 = ys.astype(int), xs.astype(int)
        fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
        top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
        bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
        smooth = top * (1 - fy) + bottom * fy
        return np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)

    bob = max(2, height // 45)
    pan = 2
    background = texture(height + 2 * bob, width + pan * num_frames, max(4, min(width, height) // 12))
    side = max(8, min(width, height) // 4)
    square = texture(side, side, max(2, side // 6))
    radius = max(4, min(width, height) // 8)
    disc_tex = texture(2 * radius, 2 * radius, max(2, radius // 3))
    yy, xx = np.mgrid[: 2 * radius, : 2 * radius]
    disc_mask = (yy - radius + 0.5) ** 2 + (xx - radius + 0.5) ** 2 <= radius**2
    sx, sy, vx, vy = width // 8, height // 8, 3, 2
    for t in range(num_frames):
        y = bob + round(bob * np.sin(2 * np.pi * t / 60))
        frame = background[y : y + height, pan * t : pan * t + width].copy()
        frame[sy : sy + side, sx : sx + side] = square
        dx = (width - 4 * t) % (width + 2 * radius) - 2 * radius  # enters again on the right
        dy = height // 2 - radius
        x0, x1 = max(dx, 0), min(dx + 2 * radius, width)
        if x1 > x0:
            region = frame[dy : dy + 2 * radius, x0:x1]
            m = disc_mask[:, x0 - dx : x1 - dx]
            region[m] = disc_tex[:, x0 - dx : x1 - dx][m]
        yield frame
        sx, sy = sx + vx, sy + vy
        if not 0 <= sx <= width - side:
            vx, sx = -vx, min(max(sx, 0), width - side)
        if not 0 <= sy <= height - side:
            vy, sy = -vy, min(max(sy, 0), height - side)


def generated_inputs(
    *,
    width: int = 640,
    height: int = 360,
    num_frames: int = 300,
    fps: float = 30.0,
    folder: str | os.PathLike | None = None,
) -> list[Path]:
    """The same moving scene as H.264 (x264 defaults: B-frames, long GOP) and MPEG-4 Part 2 (GOP 12,
    no B-frames), written once into ``folder`` (default: the vidkit cache's ``bench/``)."""
    from vidkit.io.encode import write_video

    root = Path(folder) if folder is not None else cache_dir("bench")
    stem = f"mvscene_{width}x{height}_{num_frames}f" + ("" if fps == 30 else f"_{fps:g}fps")
    encodings = [
        (root / f"{stem}_h264.mp4", "libx264", {}),
        (root / f"{stem}_mpeg4_gop12.mp4", "mpeg4", {"g": "12", "bf": "0", "b": str(max(200_000, width * height * 9))}),
    ]
    for path, codec, options in encodings:
        if not path.exists():
            write_video(
                path,
                moving_scene(width=width, height=height, num_frames=num_frames),
                fps=fps,
                codec=codec,
                options=options,
            )
    return [path for path, _, _ in encodings]


# -- the methods: each decodes one file, returning (frames, blocks received or None) -----------------


def _open_pyav(path: str, threads: int):
    import av

    container = av.open(path)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.thread_count = threads
    return container, stream


def pyav_rgb(path: str, *, threads: int) -> tuple[int, None]:
    container, stream = _open_pyav(path, threads)
    n = 0
    with container:
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            n += 1
    return n, None


def pyav_rgb_farneback(path: str, *, threads: int, max_frames: int = 60) -> tuple[int, None]:
    import cv2

    container, stream = _open_pyav(path, threads)
    n, previous = 0, None
    with container:
        for frame in container.decode(stream):
            grey = cv2.cvtColor(frame.to_ndarray(format="rgb24"), cv2.COLOR_RGB2GRAY)
            if previous is not None:
                cv2.calcOpticalFlowFarneback(previous, grey, None, **FARNEBACK_PARAMS)
            previous, n = grey, n + 1
            if n == max_frames:
                break
    return n, None


def vidkit_vectors(path: str) -> tuple[int, int]:
    """vidkit's decoding loop alone: every frame decoded with its vectors, no field painted."""
    from vidkit.io.motion import decoded_with_vectors

    n = blocks = 0
    for d in decoded_with_vectors(path):
        n, blocks = n + 1, blocks + len(d.vectors)
    return n, blocks


def vidkit_fields(path: str) -> tuple[int, None]:
    from vidkit.io.motion import motion_fields

    return sum(1 for _ in motion_fields(path)), None


def mvextractor(path: str, *, decode_frames: bool) -> tuple[int, int]:
    from mvextractor.videocap import VideoCap

    cap = VideoCap()
    if not cap.open(path):
        raise RuntimeError(f"{path}: mvextractor could not open it")
    cap.set_decode_frames(decode_frames)
    n = blocks = 0
    try:
        while True:
            ok, _frame, vectors, _frame_type = cap.read()
            if not ok:
                return n, blocks
            n, blocks = n + 1, blocks + len(vectors)
    finally:
        cap.release()


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def methods(
    path: str, *, threads: int | None = None, flow_frames: int = 60
) -> tuple[dict[str, Callable[[], tuple[int, int | None]]], dict[str, str]]:
    """``({row: function returning (frames, blocks or None)}, {skipped row: why})`` for one file; the
    rows whose optional package (cv2, mvextractor) does not import are skipped, with the install hint."""
    threads = threads or decoder_threads()
    rows: dict[str, Callable[[], tuple[int, int | None]]] = {RGB: lambda: pyav_rgb(path, threads=threads)}
    skipped: dict[str, str] = {}
    if _importable("cv2"):
        rows[FARNEBACK] = lambda: pyav_rgb_farneback(path, threads=threads, max_frames=flow_frames)
    else:
        skipped[FARNEBACK] = f"cv2 not installed: {INSTALL_HINT}"
    rows[VECTORS] = lambda: vidkit_vectors(path)
    rows[VIDKIT] = lambda: vidkit_fields(path)
    if _importable("mvextractor.videocap"):
        rows[MVX_VECTORS] = lambda: mvextractor(path, decode_frames=False)
        rows[MVX_DEFAULT] = lambda: mvextractor(path, decode_frames=True)
    else:
        skipped[MVX_VECTORS] = skipped[MVX_DEFAULT] = f"mvextractor not installed: {INSTALL_HINT}"
    return rows, skipped


@dataclass
class Row:
    """One method on one file: its best round (most frames per second) of ``repeat``."""

    method: str
    frames: int | None = None
    seconds: float | None = None
    fps: float | None = None
    median_fps: float | None = None  # over all rounds: how much luck the best one had
    blocks: int | None = None  # vectors received in the best round (vector rows only)
    block_counts: list[int] | None = None  # every round's count, when they differ
    skipped: str | None = None  # why there is no measurement (an optional package missing)


def measure(
    path: str | os.PathLike, *, repeat: int = 3, threads: int | None = None, flow_frames: int = 60
) -> list[Row]:
    """Every method on ``path``, best of ``repeat`` rounds, the methods interleaved within a round."""
    fns, skipped = methods(os.fspath(path), threads=threads, flow_frames=flow_frames)
    best = {name: Row(name) for name in fns}
    counts: dict[str, set[int]] = {name: set() for name in fns}
    rates: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            n, blocks = fn()
            seconds = time.perf_counter() - t0
            rates[name].append(n / seconds)
            if blocks is not None:
                counts[name].add(blocks)
            if best[name].fps is None or n / seconds > best[name].fps:
                best[name] = Row(name, n, seconds, n / seconds, blocks=blocks)
    for name, row in best.items():
        row.median_fps = statistics.median(rates[name])
        if len(counts[name]) > 1:
            row.block_counts = sorted(counts[name])
    rows = {**best, **{name: Row(name, skipped=why) for name, why in skipped.items()}}
    return [rows[name] for name in ORDER if name in rows]


def goals(rows: Sequence[Row]) -> list[tuple[str, float | None, float, bool | None]]:
    """``[(goal, measured ratio or None, target, passed or None)]`` for the two goals."""
    fps = {r.method: r.fps for r in rows}
    out = []
    for other, target in [(MVX_VECTORS, GOAL_MVX), (FARNEBACK, GOAL_FLOW)]:
        ratio = fps[VIDKIT] / fps[other] if fps.get(VIDKIT) and fps.get(other) else None
        out.append((f"{VIDKIT} / {other}", ratio, target, None if ratio is None else ratio >= target))
    return out


def describe(path: str | os.PathLike) -> str:
    from vidkit.io import probe

    i = probe(path)
    return (
        f"{os.fspath(path)}: {i.codec} {i.width}x{i.height}, {i.num_frames} frames at {i.fps:g} fps, keyframe every "
        f"{i.keyframe_interval_s or float('nan'):.2f} s, B-frames {'yes' if i.has_b_frames else 'no'}"
    )


def table(path: str | os.PathLike, rows: Sequence[Row], *, flow_frames: int = 60) -> str:
    """The printed block for one file: a row per method, notes on the vectors received, the two goals."""
    base = next((r.fps for r in rows if r.method == MVX_VECTORS and r.fps), None)
    lines = [
        describe(path),
        f"  {'method':<44} {'frames':>6} {'seconds':>8} {'frames/s':>9} {'vs mvx vectors-only':>20}  "
        f"{'median f/s':>10} {'vectors':>9}",
    ]
    for r in rows:
        if r.skipped:
            lines.append(f"  {r.method:<44} skipped: {r.skipped}")
            continue
        ratio = f"{r.fps / base:.3f}" if base else "-"
        blocks = "-" if r.blocks is None else str(r.blocks)
        note = f"  (first {flow_frames} frames only)" if r.method == FARNEBACK else ""
        lines.append(
            f"  {r.method:<44} {r.frames:>6} {r.seconds:>8.3f} {r.fps:>9.1f} {ratio:>20}  {r.median_fps:>10.1f} "
            f"{blocks:>9}{note}"
        )
    by_name = {r.method: r for r in rows}
    for r in rows:
        if r.block_counts:
            lines.append(
                f"  note: {r.method} received a different number of vectors from round to round "
                f"({', '.join(map(str, r.block_counts))})"
            )
    ours, theirs = by_name.get(VECTORS), by_name.get(MVX_VECTORS)
    if ours and theirs and ours.blocks is not None and theirs.blocks is not None and ours.blocks != theirs.blocks:
        lines.append(
            f"  note: {MVX_VECTORS} received {theirs.blocks} vectors, vidkit {ours.blocks} (FFmpeg's frame threads, "
            "which mvextractor uses, can export incomplete or stale vectors for delayed-output frames)"
        )
    for name, ratio, target, passed in goals(rows):
        verdict = "n/a (a row was skipped)" if passed is None else f"{ratio:.2f}  {'PASS' if passed else 'FAIL'}"
        lines.append(f"  goal {name} >= {target:g}: {verdict}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", metavar="FILE")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per method; the best is kept (default 3)")
    parser.add_argument("--flow-frames", type=int, default=60, help="frames decoded for the Farneback row (default 60)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="decoder threads for the PyAV RGB rows (default: mvextractor's, min(cpu count, 16))",
    )
    parser.add_argument("--json", metavar="OUT", help="also write the rows and goals as JSON")
    args = parser.parse_args(argv)

    paths = [os.fspath(p) for p in args.paths] or [os.fspath(p) for p in generated_inputs()]
    threads = args.threads or decoder_threads()
    header = (
        f"decoder threads: PyAV RGB rows {threads} (thread_type AUTO); mvextractor {decoder_threads()} "
        f"(min(cpu count, 16), frame + slice); vidkit {decoder_threads()} frame threads without B-frames, "
        "else 1 FFmpeg thread decoding ahead in a second Python thread; "
        f"{os.cpu_count()} CPUs; best of {args.repeat}"
    )
    if _importable("cv2"):
        import cv2

        header += f"; OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads"
    print(header)
    report = []
    for path in paths:
        rows = measure(path, repeat=args.repeat, threads=threads, flow_frames=args.flow_frames)
        print(table(path, rows, flow_frames=args.flow_frames), flush=True)
        report.append(
            {
                "path": path,
                "rows": [asdict(r) for r in rows],
                "goals": [
                    {"goal": g, "ratio": ratio, "target": target, "passed": passed}
                    for g, ratio, target, passed in goals(rows)
                ],
            }
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "threads": threads,
                    "cpus": os.cpu_count(),
                    "repeat": args.repeat,
                    "flow_frames": args.flow_frames,
                    "files": report,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
