#!/usr/bin/env python
"""``vidkit watch``'s speed: what frame rate a machine sustains, and the latency from a frame's arrival
to its scores, for the causal TSM streamed frame by frame and for a clip model's sliding windows.

    python tools/bench_watch.py                         # the CPU table of docs/performance.md (~4 minutes on 2 cores)
    python tools/bench_watch.py --device cuda           # the same table on a GPU
    python tools/bench_watch.py --json                  # machine-readable rows

Each row runs the library's watcher (:class:`vidkit.engine.watcher.Watcher` over a
:class:`vidkit.io.live.LiveReader`, as ``vidkit watch`` does; random weights: speed does not depend on
them) on a generated 320x240 H.264 clip at 30 fps, twice:

- **as fast as it goes** (the file read as fast as it decodes, the reading waiting for the model, nothing
  dropped): the stream seconds scored per wall second (the real-time factor) and the rate that gives —
  stepped frames a second for the streaming model, windows a second for a clip model (the shortest hop it
  keeps up with is one over it);
- **live** (the file played at its own rate, the oldest waiting item dropped when the model falls behind,
  as for a camera): the median and 95th-percentile latency from the arrival of a window's last frame to its
  scores, and the share of windows (or frames) dropped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from vidkit.bench import default_bench_video
from vidkit.data.transforms import ClipTransform
from vidkit.data.views import ViewSpec
from vidkit.engine.loop import resolve_precision
from vidkit.engine.watcher import Watcher
from vidkit.io.live import LiveReader
from vidkit.models import build

# (row, model, builder options, streamed, frames a window, crop, step or hop, window) — the paper's inputs:
# TSM steps every frame (its online demo); SlowFast R50 8x8 takes 32 frames over ~2 s at 224²
CASES = {
    "tsm112": ("causal TSM R50, 112², a frame every 1/30 s", "tsm_r50", {"shift": "causal"}, True, 8, 112, 1 / 30, 2.0),
    "tsm224": ("causal TSM R50, 224², a frame every 1/30 s", "tsm_r50", {"shift": "causal"}, True, 8, 224, 1 / 30, 2.0),
    "slowfast224": ("SlowFast R50 8x8, 224², 32 frames / 2 s window", "slowfast_r50", {}, False, 32, 224, 0.5, 2.0),
}


def _run(case, clip: str, *, device, realtime: bool, seconds: float, crop: int | None = None) -> dict:
    _, name, options, stream, frames, size, every, window = case
    crop = crop or size
    model = build(name, num_classes=400, **options)
    precision = resolve_precision("auto", "auto", device)
    model = precision.place(model, device).eval()
    spec = ViewSpec(
        num_clips=1, num_crops=1, num_frames=frames, interval_s=window / frames, crop_size=crop, test_scale=crop
    )
    reader = LiveReader(clip, short_side=crop, realtime=realtime)
    watcher = Watcher(
        reader,
        model,
        spec=spec,
        transform=ClipTransform(),
        device=device,
        precision=precision,
        window_s=window,
        hop_s=every if not stream else 0.5,
        stream=stream,
        step_s=every,
        drop="oldest" if realtime else "block",
        batch_size=1 if realtime else 4,
        max_seconds=seconds,
    )
    started = time.monotonic()
    events = list(watcher.run())
    wall = time.monotonic() - started
    stream_s = min(seconds, reader.stats.frames / 30.0)
    # what the model was to score: each stepped frame, or each window
    items = round(stream_s / every) if stream else watcher.windows + watcher.handoff.dropped
    latencies = sorted(e.latency_s for e in events)
    return {
        "wall_s": wall,
        "stream_s": stream_s,
        "realtime_factor": stream_s / wall,
        "rate": (items - watcher.handoff.dropped) / wall,  # stepped frames (or windows) scored a second
        "latency_p50_s": statistics.median(latencies) if latencies else None,
        "latency_p95_s": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
        "dropped": watcher.handoff.dropped,
        "dropped_share": watcher.handoff.dropped / max(1, items),
        "events": len(events),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cases", default=",".join(CASES), help=f"rows to run, of {', '.join(CASES)}")
    parser.add_argument("--seconds", type=float, default=10.0, help="stream seconds per run (default 10)")
    parser.add_argument("--crop", type=int, help="every row at this crop instead of its own (a quick check)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    clip = str(default_bench_video(width=320, height=240, num_frames=round(30 * args.seconds) + 30))
    rows = []
    for key in args.cases.split(","):
        case = CASES[key]
        fast = _run(case, clip, device=device, realtime=False, seconds=args.seconds, crop=args.crop)
        live = _run(case, clip, device=device, realtime=True, seconds=args.seconds, crop=args.crop)
        what = case[0] if not args.crop else f"{case[0]} (at {args.crop}²)"
        rows.append({"case": key, "what": what, "device": str(device), "fast": fast, "live": live})
        if not args.json:
            _print_row(rows[-1], streamed=case[3])
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


def _print_row(row: dict, *, streamed: bool) -> None:
    fast, live = row["fast"], row["live"]
    unit = "frames/s" if streamed else "windows/s"
    p50, p95 = live["latency_p50_s"], live["latency_p95_s"]
    print(
        f"{row['what']:<48} {fast['rate']:7.2f} {unit:<9}  real-time x{fast['realtime_factor']:5.2f}  "
        f"live: latency p50 {p50 if p50 is None else round(p50, 3)} s, p95 {p95 if p95 is None else round(p95, 3)} s, "
        f"{100 * live['dropped_share']:.0f}% dropped ({live['events']} events)",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
