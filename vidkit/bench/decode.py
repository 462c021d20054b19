"""Decode throughput: vidkit's readers next to raw PyAV, raw decord and raw torchcodec, in one run, on the
same file.

Each row is the best of ``repeats`` runs (the least disturbed by the rest of the machine); ratios
are to raw PyAV decoding the same file with the same threading, converting every frame to RGB. The
torchcodec rows are there where it can decode (the optional extra and FFmpeg's shared libraries):
:func:`decode_skipped` says why they are not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vidkit.io import open_video
from vidkit.io.torchcodec_reader import torchcodec_unavailable
from vidkit.utils import cache_dir


def default_bench_video(
    *, width: int = 640, height: int = 360, num_frames: int = 600, fps: float = 30.0, gop: int | None = None
) -> Path:
    """A moving-texture H.264 clip, generated once into the cache: x264 defaults (long GOP,
    B-frames), or a keyframe every ``gop`` frames."""
    from vidkit.io.encode import write_video

    suffix = f"_gop{gop}" if gop else ""
    path = cache_dir("bench") / f"h264_{width}x{height}_{num_frames}f{suffix}.mp4"
    if not path.exists():
        rng = np.random.default_rng(0)
        texture = rng.integers(0, 256, (height, width * 2, 3), dtype=np.uint8)
        frames = (np.roll(texture, -2 * i, axis=1)[:, :width] for i in range(num_frames))
        options = {"preset": "veryfast", **({"g": str(gop), "keyint_min": str(gop)} if gop else {})}
        write_video(path, frames, fps=fps, options=options)
    return path


def _raw_pyav_stream(path: str) -> int:
    import av

    n = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            n += 1
    return n


def _raw_decord_stream(path: str, chunk: int = 32) -> int:
    import decord

    vr = decord.VideoReader(path, ctx=decord.cpu(0))
    for first in range(0, len(vr), chunk):
        vr.get_batch(list(range(first, min(first + chunk, len(vr))))).asnumpy()
    return len(vr)


def _raw_decord_sparse(path: str, count: int = 8) -> int:
    import decord

    vr = decord.VideoReader(path, ctx=decord.cpu(0))
    vr.get_batch(np.linspace(0, len(vr) - 1, count).round().astype(int).tolist()).asnumpy()
    return count


def _torchcodec_decoder(path: str):
    from torchcodec.decoders import VideoDecoder

    # exact seeking (a scan of the packets when opened), frames as [N, H, W, 3], FFmpeg's choice of threads
    return VideoDecoder(path, seek_mode="exact", dimension_order="NHWC", num_ffmpeg_threads=0)


def _raw_torchcodec_stream(path: str, chunk: int = 32) -> int:
    decoder = _torchcodec_decoder(path)
    for first in range(0, len(decoder), chunk):
        decoder.get_frames_in_range(first, min(first + chunk, len(decoder)))
    return len(decoder)


def _raw_torchcodec_sparse(path: str, count: int = 8) -> int:
    decoder = _torchcodec_decoder(path)
    decoder.get_frames_at(np.linspace(0, len(decoder) - 1, count).round().astype(int).tolist())
    return count


def decode_skipped() -> list[str]:
    """The readers the decode rows leave out here, each with the reason (one line each)."""
    reason = torchcodec_unavailable()
    return [f"torchcodec: {reason}"] if reason else []


def _vidkit_stream(path: str, backend: str) -> int:
    with open_video(path, backend=backend) as video:
        return sum(len(chunk) for chunk in video.stream(chunk_size=32))


def _vidkit_sparse(path: str, backend: str, count: int = 8) -> int:
    with open_video(path, backend=backend) as video:
        info = video.info
        last = info.start_s + info.duration_s - 1 / info.fps
        return len(video.read_at(np.linspace(info.start_s, last, count)))


def _interleaved_best(fns: dict[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Best rate of each function over ``repeats`` rounds, taking them in turn within a round so a
    change in machine load hits every row alike."""
    best = dict.fromkeys(fns, 0.0)
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            n = fn()
            best[name] = max(best[name], n / (time.perf_counter() - t0))
    return best


def decode_rates(path: str, *, repeats: int = 3) -> list[tuple[str, float, float]]:
    """[(row name, frames/s, ratio to the first row of its group)] for one file."""
    groups = [
        {
            "stream: raw PyAV (baseline)": lambda: _raw_pyav_stream(path),
            "stream: vidkit pyav": lambda: _vidkit_stream(path, "pyav"),
            "stream: raw decord": lambda: _raw_decord_stream(path),
            "stream: vidkit decord": lambda: _vidkit_stream(path, "decord"),
        },
        {
            "8 uniform frames: raw decord (baseline)": lambda: _raw_decord_sparse(path),
            "8 uniform frames: vidkit pyav": lambda: _vidkit_sparse(path, "pyav"),
            "8 uniform frames: vidkit decord": lambda: _vidkit_sparse(path, "decord"),
        },
    ]
    if torchcodec_unavailable() is None:
        groups[0]["stream: raw torchcodec"] = lambda: _raw_torchcodec_stream(path)
        groups[0]["stream: vidkit torchcodec"] = lambda: _vidkit_stream(path, "torchcodec")
        groups[1]["8 uniform frames: raw torchcodec"] = lambda: _raw_torchcodec_sparse(path)
        groups[1]["8 uniform frames: vidkit torchcodec"] = lambda: _vidkit_sparse(path, "torchcodec")
    rows: list[tuple[str, float, float]] = []
    for group in groups:
        rates = _interleaved_best(group, repeats)
        base = next(iter(rates.values()))
        rows += [(name, rate, rate / base) for name, rate in rates.items()]
    return rows


def decode_table(paths: Sequence[str] = (), *, repeats: int = 3) -> str:
    """The printed table for ``vidkit bench`` and ``tools/bench_decode.py``."""
    paths = [str(p) for p in paths] or [str(default_bench_video())]
    lines = []
    for path in paths:
        with open_video(path) as video:
            i = video.info
        lines.append(
            f"{path}: {i.codec} {i.width}x{i.height}, {i.num_frames} frames, keyframe every "
            f"{i.keyframe_interval_s or float('nan'):.2f} s, B-frames {'yes' if i.has_b_frames else 'no'}"
        )
        lines.append(f"  {'reader':<42} {'frames/s':>10} {'ratio':>7}")
        for name, rate, ratio in decode_rates(path, repeats=repeats):
            lines.append(f"  {name:<42} {rate:>10.1f} {ratio:>7.3f}")
    lines += [f"skipped {line}" for line in decode_skipped()]
    return "\n".join(lines)
