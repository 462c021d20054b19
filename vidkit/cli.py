"""The ``vidkit`` command: one sub-command per job. Each turns its arguments into plain keyword
arguments once and calls into the library or a job of :mod:`vidkit.pipelines` (the ``pipelines/``
folder); nothing below this file sees argparse."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from vidkit import __version__
from vidkit.errors import VidkitError

# Commands planned but not implemented yet: they exist so that `vidkit --help` shows the whole tool.
_PLANNED: dict[str, str] = {}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except VidkitError as e:
        print(f"vidkit {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vidkit {args.command}: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidkit", description="Video understanding on today's PyTorch.")
    parser.add_argument("--version", action="version", version=f"vidkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _PIPELINES:
        _add_pipeline(commands, name)
    for add in (_add_info, _add_mv, _add_models, _add_bench):
        add(commands)
    for name, summary in _PLANNED.items():
        sub = commands.add_parser(
            name, help=f"{summary} (not yet available)", description=f"{summary}. Not yet available."
        )
        sub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        sub.set_defaults(run=_not_yet(name))
    return parser


def _not_yet(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"vidkit {name}: not yet available in vidkit {__version__}", file=sys.stderr)
        return 2

    return run


# -- vidkit info ----------------------------------------------------------------------------------
def _add_info(commands) -> None:
    sub = commands.add_parser(
        "info",
        help="print what the decoder sees in video files",
        description="Print what the decoder sees in each file: one block per file, or one JSON object per line.",
    )
    sub.add_argument("paths", nargs="+", metavar="FILE")
    sub.add_argument("--json", action="store_true", help="one JSON object per file, per line")
    from vidkit.pipelines._videos import add_backend_argument

    add_backend_argument(sub)
    sub.add_argument(
        "--verify", action="store_true", help="decode every frame and report damage and the exact frame count"
    )
    sub.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="give up on a file whose decoding stalls this long"
    )
    sub.set_defaults(run=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from vidkit.io import open_video

    failed = 0
    for path in args.paths:
        try:
            with open_video(path, backend=args.backend, timeout_s=args.timeout) as video:
                record = video.info.to_dict()
                if args.verify:
                    record.update(_verify(video))
                elif record["num_frames_source"] == "estimate":  # no count in the container: count its packets
                    record.update(_counted(video.path, args.timeout))
        except VidkitError as e:
            failed += 1
            print(f"vidkit info: error: {e}", file=sys.stderr)
            if args.json:
                print(json.dumps({"path": str(path), "error": getattr(e, "reason", str(e))}), flush=True)
            continue
        print(json.dumps(record) if args.json else _describe(record), flush=True)
    return 1 if failed else 0


def _verify(video) -> dict:
    """What decoding every frame found: the count (now exact, and said when the header's differs), the
    last frame's time and what went wrong."""
    decoded, last = 0, None
    warnings: list[str] = []
    for chunk in video.stream(chunk_size=64):
        decoded += len(chunk)
        warnings += chunk.warnings
        if len(chunk):
            last = float(chunk.pts[-1])
    info = video.info
    if decoded and decoded != info.num_frames and info.num_frames_source != "estimate":
        listed = "the index lists" if info.num_frames_source == "index" else "the container has"
        warnings.append(f"{listed} {info.num_frames} frames; {decoded} decode")
    counts = {"num_frames": decoded, "num_frames_exact": True, "num_frames_source": "decoded"} if decoded else {}
    return {**counts, "decoded_frames": decoded, "last_pts_s": last, "decode_warnings": warnings}


def _counted(path: str, timeout_s: float) -> dict:
    """The frame count of a container that has none, from its packets (as ``ffprobe -count_packets``)."""
    from vidkit.io.packets import count_packets

    counted = count_packets(path, timeout_s=timeout_s)
    if not counted.count:
        return {}
    return {"num_frames": counted.count, "num_frames_exact": counted.complete, "num_frames_source": "packets"}


_FRAME_COUNTS = {
    "index": "as the index lists them",
    "packets": "counted from its packets",
    "decoded": "exact: every frame decoded",
    "estimate": "estimated: duration x fps",
}


def _describe(r: dict) -> str:
    rows = [
        ("container", r["container"]),
        ("codec", f"{r['codec']} {r['pix_fmt'] or ''}".strip() + (", B-frames" if r["has_b_frames"] else "")),
        (
            "size",
            f"{r['width']}x{r['height']}"
            + (f", rotation {r['rotation']}° (frames are turned upright)" if r["rotation"] else ""),
        ),
        (
            "fps",
            f"{r['fps']:.3f}"
            + (" (assumed)" if r.get("times_assumed") else " (variable frame rate)" if r["is_vfr"] else " (constant)"),
        ),
        ("duration", f"{r['duration_s']:.3f} s, first frame at {r['start_s']:.3f} s"),
        ("frames", f"{r['num_frames']} ({_FRAME_COUNTS[r['num_frames_source']]})"),
    ]
    if r["keyframe_interval_s"]:
        rows.append(("keyframes", f"every {r['keyframe_interval_s']:.2f} s"))
    if r["bit_rate"]:
        rows.append(("bit rate", f"{r['bit_rate'] / 1000:.0f} kb/s"))
    if "decoded_frames" in r:
        rows.append(
            (
                "decoded",
                f"{r['decoded_frames']} frames, last at {r['last_pts_s']:.3f} s"
                if r["last_pts_s"] is not None
                else "no frames",
            )
        )
    for w in list(r["warnings"]) + r.get("decode_warnings", []):
        rows.append(("warning", w))
    return "\n".join([r["path"]] + [f"  {k:<10} {v}" for k, v in rows])


# -- the jobs in vidkit.pipelines: train, eval, tag, scan, prepare ------------------------------
# Each job module adds its own arguments and runs from the parsed namespace.
_PIPELINES = {
    "train": (
        "vidkit.pipelines.train",
        "train a model (built-in synthetic data by default)",
        "Train a video model. With no data arguments it trains on the built-in synthetic-motion set.",
    ),
    "eval": (
        "vidkit.pipelines.evaluate",
        "test a checkpoint with the multi-view protocol (Kinetics, SSv2, folders, synthetic)",
        "Test a checkpoint on a dataset as downloaded, with the standard multi-view protocol "
        "(Kinetics: 10 clips x 3 crops; SSv2: 2 x 3), each video decoded once for all its views.",
    ),
    "tag": (
        "vidkit.pipelines.tag",
        "label every video in folders or lists (resumable; broken files recorded)",
        "Label every video found under PATHs: one record per file, appended as made; files that cannot be "
        "decoded get a record with the reason. Run the same command again after a kill to finish the rest.",
    ),
    "extract": (
        "vidkit.pipelines.extract",
        "write the features of every video in folders or lists (resumable; broken files recorded)",
        "Write the features of every video found under PATHs to --out DIR: DIR/index.jsonl holds one record per "
        "file (where its features are, their shape and window times, the model, or the reason it failed), "
        "DIR/features/ one .npy per video (or DIR/shards/ parquet). Run the same command again after a kill to "
        "finish the rest.",
    ),
    "watch": (
        "vidkit.pipelines.watch",
        "label a live source as it plays: network streams, pipes, cameras (bounded memory)",
        "Label a live SOURCE window by window as it plays — rtsp://, tcp://, udp://, http(s):// and other URLs, "
        "- (standard input), a FIFO, a capture device, or a file (--realtime plays it at its frame rate) — and "
        "write one JSON line per window (stream time, wall time, latency, top labels). Reconnects when a "
        "network stream drops; drops the oldest waiting window when the model is slower than the source; "
        "Ctrl-C or SIGTERM ends it cleanly.",
    ),
    "render": (
        "vidkit.pipelines.render",
        "draw labels on a video (from a tag output or a model), or make contact sheets",
        "Write VIDEO with its labels drawn on (the top labels of the segment playing, a timeline of the segments "
        "along the bottom, people's boxes from an AVA predictions CSV), as H.264 MP4 with the source's frame "
        "times and audio; or a contact sheet of frames with their times and labels (--sheet), for one video or "
        "for every video of a tag output.",
    ),
    "scan": (
        "vidkit.pipelines.scan",
        "check a dataset: videos found, missing, undecodable; write its manifest",
        "Check a dataset as downloaded: which listed videos are there, missing or undecodable (and why), their "
        "durations and frame rates; writes a manifest (path, size, duration, fps).",
    ),
    "prepare": (
        "vidkit.pipelines.prepare",
        "re-encode a dataset for fast sampling (short GOPs; resumable)",
        "Re-encode every video under SRCs into the same tree under --out, with a keyframe every 16 frames and "
        "the short side 256 by default, so that sparse clip sampling decodes little (mmaction2's "
        "dense-encoded videos). Parallel and resumable; originals untouched.",
    ),
}


def _add_pipeline(commands, name: str) -> None:
    import importlib

    module_name, summary, description = _PIPELINES[name]
    module = importlib.import_module(module_name)
    sub = commands.add_parser(name, help=summary, description=description)
    module.add_arguments(sub)
    sub.set_defaults(run=module.run)


# -- vidkit mv ----------------------------------------------------------------------------------
def _add_mv(commands) -> None:
    sub = commands.add_parser(
        "mv",
        help="extract the motion vectors the codec stored, as dense fields",
        description="Write every frame's motion-vector field (from the bitstream, no optical flow) to an "
        ".npz: mv [T, 2, H/grid, W/grid] in pixels (the codec's vector: from a block to where "
        "it came from in the past reference), mv_future for B-frames' future references, "
        "pts_s, pict_type; and optionally a picture of them over the frame.",
    )
    sub.add_argument("path", metavar="FILE")
    sub.add_argument("--out", required=True, metavar="NPZ")
    sub.add_argument(
        "--png", metavar="PNG", help="also draw the vectors over a frame (the one with the most motion, or --frame)"
    )
    sub.add_argument("--frame", type=int, metavar="K", help="the frame to draw (index in presentation order)")
    sub.add_argument(
        "--grid", type=int, default=4, choices=(4, 8, 16), help="cell size in pixels (4: every block; 16: macroblocks)"
    )
    sub.set_defaults(run=_run_mv)


def _run_mv(args: argparse.Namespace) -> int:
    import os

    import numpy as np

    from vidkit.io.motion import motion_fields
    from vidkit.utils import atomic_write

    damaged: list[str] = []  # packets the decoder refused, skipped as `info` and `tag` skip them
    frames = list(motion_fields(args.path, grid=args.grid, damaged=damaged))
    if not frames:
        raise VidkitError(f"{args.path}: no frames decoded")
    for line in dict.fromkeys(damaged):  # a decoding that starts over in one thread meets them again
        print(f"vidkit mv: warning: {args.path}: {line}", file=sys.stderr)
    past = np.stack([f.past for f in frames])
    arrays = {
        "mv": past,
        "mv_mask": np.stack([f.past_mask for f in frames]),
        "mv_future": np.stack([f.future for f in frames]),
        "mv_future_mask": np.stack([f.future_mask for f in frames]),
        "pts_s": np.array([f.pts_s for f in frames]),
        "pict_type": np.array([f.pict_type for f in frames]),
        "grid": np.array(args.grid),
    }
    out = os.path.abspath(args.out)
    with atomic_write(out, "wb") as f:  # a file object: numpy adds ".npz" to a path that lacks it
        np.savez_compressed(f, **arrays)
    kinds = {k: int((arrays["pict_type"] == k).sum()) for k in ("I", "P", "B") if (arrays["pict_type"] == k).any()}
    print(
        f"vidkit mv: {len(frames)} frames ({', '.join(f'{n} {k}' for k, n in kinds.items())}), fields "
        f"{past.shape[2]}x{past.shape[3]} ({args.grid}-pixel cells) -> {out}",
        file=sys.stderr,
    )
    if args.png:
        from vidkit.engine.plots import plot_motion
        from vidkit.io import open_video

        k = args.frame if args.frame is not None else int(np.abs(past).sum((1, 2, 3)).argmax())
        if not 0 <= k < len(frames):
            raise VidkitError(f"--frame {k}: the video has frames 0..{len(frames) - 1}")
        with open_video(args.path) as video:
            image = video.read_at([frames[k].pts_s]).data[0].numpy()
        plot_motion(
            image,
            past[k],
            arrays["mv_mask"][k],
            args.png,
            grid=args.grid,
            title=f"frame {k} ({frames[k].pict_type}, {frames[k].pts_s:.2f} s): where the content moved",
        )
        print(f"vidkit mv: picture of frame {k} -> {args.png}", file=sys.stderr)
    return 0


# -- vidkit models ------------------------------------------------------------------------------
def _add_models(commands) -> None:
    sub = commands.add_parser(
        "models",
        help="list the model registry with parameters and GFLOPs",
        description="List every registered model: aliases, parameters (400 classes), GFLOPs at its "
        "default input (fvcore, convolutions and matrix products), the input, the paper; models named "
        "get their published weights listed too.",
    )
    sub.add_argument("names", nargs="*", metavar="MODEL", help="only these models (names or aliases; default: all)")
    sub.add_argument("--json", action="store_true", help="one JSON object per model, per line")
    sub.add_argument(
        "--no-flops", dest="flops", action="store_false", help="skip the GFLOPs (tracing each model takes seconds)"
    )
    sub.add_argument(
        "--weights",
        action="store_true",
        help="list the published weights instead (of the models named, or all): the name to give --weights, "
        "labels, recipe, published accuracy",
    )
    sub.set_defaults(run=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    from vidkit.models import list_models, resolve
    from vidkit.models.complexity import model_figures

    if args.weights:
        return _list_weights([resolve(n) for n in args.names], as_json=args.json)
    header = ("model", "aliases", "params", "GFLOPs", "input", "paper")
    rows = []
    for name in [resolve(n) for n in args.names] or list_models():
        r = model_figures(name, flops=args.flops)
        if args.json:
            print(json.dumps(r), flush=True)
            continue
        rows.append(
            (
                r["name"],
                ", ".join(r["aliases"]) or "-",
                f"{r['params']:,}",
                "-" if r["gflops"] is None else f"{r['gflops']:.2f}",
                "-" if r["input"] is None else f"{r['input']['frames']}x{r['input']['size']}x{r['input']['size']}",
                r["paper"] or "-",
            )
        )
    if not args.json:
        _table(header, rows, right={2, 3})
        if args.names:
            print()
            _list_weights([resolve(n) for n in args.names], as_json=False)
    return 0


def _list_weights(models: list[str], *, as_json: bool) -> int:
    """The published weights of ``models`` (all when empty): what to give ``--weights``, and what comes
    with it."""
    from vidkit.models.pretrained import list_weights

    entries = [e for e in list_weights() if not models or e.model in models]
    if as_json:
        for e in entries:
            record = {
                "model": e.model or None,
                "weights": e.name,
                "urls": list(e.urls),
                "sha256": e.sha256,
                "hash_prefix": e.hash_prefix,
                "layout": e.layout,
                "loadable": e.loadable,
                "labels": e.label_set,
                "num_classes": e.num_classes,
                "recipe": {k: v for k, v in vars(e.recipe).items()},
                "params": e.params,
                "accuracy": e.accuracy,
                "source": e.source,
            }
            print(json.dumps(record), flush=True)
        return 0
    if not entries:
        print(f"no published weights listed for {', '.join(models)}")
        return 0
    rows = []
    for e in entries:
        a = e.accuracy
        top1 = f"{a['top1']:.2f} ({a.get('dataset', '?')}, {a.get('views', '?')})" if a.get("top1") else "-"
        rows.append(
            (
                e.model or "(none yet)",
                e.name,
                f"{e.label_set} ({e.num_classes})",
                e.recipe.describe(),
                top1,
                e.layout if e.loadable else f"{e.layout} (not read yet)",
            )
        )
    _table(("model", "--weights", "labels", "recipe", "top-1", "layout"), rows, right=set())
    return 0


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], *, right: set[int]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())


# -- vidkit bench -------------------------------------------------------------------------------
def _add_bench(commands) -> None:
    sub = commands.add_parser(
        "bench",
        help="decode, data-loading and model throughput, with ratios to the peers",
        description="Decode frames/s (vidkit's readers vs raw PyAV, decord and torchcodec), data-loading clips/s "
        "with 0..N workers, and model clips/s and peak memory (fp32, AMP, channels-last, "
        "compile) next to pytorchvideo's SlowFast and I3D: one run, the same inputs.",
    )
    sub.add_argument(
        "paths", nargs="*", metavar="FILE", help="videos to decode (default: a generated 640x360 H.264 clip)"
    )
    sub.add_argument("--only", metavar="SECTIONS", help="comma-separated: decode, data, models, e2e (default: all)")
    sub.add_argument("--models", metavar="NAMES", help="comma-separated (default: slowfast_r50,i3d_r50,tsm_r50)")
    sub.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    sub.add_argument("--batch", type=int, default=2, help="clips per model call")
    sub.add_argument("--frames", type=int, default=8, help="frames per clip for the models")
    sub.add_argument("--size", type=int, default=64, help="clip side for the models (a multiple of 32)")
    sub.add_argument("--workers", default="0,1,2", help="data-loader worker counts to measure (comma-separated)")
    sub.add_argument(
        "--model-paths",
        metavar="PATHS",
        help="how the models run, comma-separated: fp32 or a '+'-joined set of amp, channels_last, "
        "checkpointing, compile, e.g. amp+channels_last+checkpointing (default: fp32,channels_last,checkpointing "
        "on the CPU, and amp,amp+channels_last too on CUDA)",
    )
    sub.add_argument(
        "--compile-backend",
        default="inductor",
        help="torch.compile's backend for the compile paths (default inductor; eager: trace only, a quick check)",
    )
    sub.add_argument("--repeats", type=int, default=3)
    sub.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    sub.add_argument("--out", metavar="FILE", help="also save the results as JSON, for a later --compare")
    sub.add_argument("--compare", metavar="OLD.json", help="print each figure against an earlier run's results")
    sub.set_defaults(run=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    import torch

    from vidkit.bench import SECTIONS, format_comparison, format_results, run_bench
    from vidkit.errors import ConfigError

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device here")
    old = None
    if args.compare:
        try:
            old = json.loads(open(args.compare).read())
        except (OSError, ValueError) as e:
            raise ConfigError(f"--compare {args.compare}: cannot read it as a vidkit bench JSON ({e})") from None
    try:
        results = run_bench(
            sections=args.only.split(",") if args.only else SECTIONS,
            paths=args.paths,
            device=args.device,
            models=args.models.split(",") if args.models else None,
            batch=args.batch,
            frames=args.frames,
            size=args.size,
            repeats=args.repeats,
            model_paths=args.model_paths.split(",") if args.model_paths else None,
            compile_backend=args.compile_backend,
            workers=[int(w) for w in args.workers.split(",")],
        )
    except ValueError as e:
        raise ConfigError(str(e)) from None
    print(json.dumps(results, indent=1) if args.json else format_results(results))
    if args.out:
        from vidkit.utils import atomic_write_text

        atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")
    if old is not None:
        print(format_comparison(results, old))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
