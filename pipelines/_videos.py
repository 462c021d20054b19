"""What ``vidkit tag`` and ``vidkit extract`` share: their common options, the videos of this shard
(found, sniffed, the other files listed as skipped), the views and the device, and the counting of
failures, so both jobs read files the same way."""

from __future__ import annotations

import argparse
import re

from vidkit.engine.skipped import list_skipped
from vidkit.errors import ConfigError

# check_options' bounds for the options add_clip_arguments adds
AT_LEAST = {"batch_size": 1, "workers": 1, "num_frames": 1, "sampling_rate": 1, "crop_size": 1, "test_scale": 1}
ABOVE = {"timeout": 0, "target_fps": 0, "segments": 0, "interval_s": 0}


def add_model_arguments(parser: argparse.ArgumentParser, *, classes: bool = False) -> None:
    """The inputs and the model."""
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="videos, folders (searched recursively) or .txt lists of paths"
    )
    add_model_options(parser, classes=classes)


def add_model_options(parser: argparse.ArgumentParser, *, classes: bool = False) -> None:
    """The model: ``--checkpoint``, or ``--model`` with ``--weights`` (and ``--classes`` with ``classes``)."""
    parser.add_argument(
        "--checkpoint", metavar="CKPT", help="a vidkit checkpoint (it names its model, classes and clip settings)"
    )
    parser.add_argument("--model", help="with --weights: the model the weights are for")
    parser.add_argument(
        "--weights",
        metavar="NAME|FILE",
        help="for --model: published weights by name (e.g. kinetics400: labels and recipe come with them; "
        "`vidkit models --weights`), or a file (pytorchvideo, PySlowFast, mmaction2, torchvision)",
    )
    if classes:
        parser.add_argument(
            "--classes", metavar="FILE", help="with --weights: class names, one per line, in index order"
        )


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """``--backend``: the decoders :func:`vidkit.io.open_video` takes, for every command that decodes."""
    from vidkit.io import BACKENDS

    parser.add_argument(
        "--backend",
        default="pyav",
        choices=BACKENDS,
        help="decoder: pyav (streaming, default), decord or torchcodec (random access; torchcodec is an extra)",
    )


def add_clip_arguments(parser: argparse.ArgumentParser, *, per: str, out_example: str) -> None:
    """How files are found, cut into views and decoded, and how the model runs (``per``: what the
    ``--segments`` windows get, e.g. ``label``; ``out_example``: a per-shard ``--out``)."""
    parser.add_argument(
        "--glob",
        metavar="PATTERN",
        help="in folders, take files matching this (e.g. '*.MOV') instead of known video extensions",
    )
    parser.add_argument(
        "--sniff",
        action="store_true",
        help="in folders, take every file FFmpeg finds a video stream in, whatever its name (probed in workers)",
    )
    parser.add_argument(
        "--segments", type=float, metavar="SECONDS", help=f"{per} each window of this length (long videos stream)"
    )
    parser.add_argument(
        "--stride",
        type=float,
        metavar="SECONDS",
        help="with --segments: a window starts every STRIDE s (default: "
        "the window length; shorter slides overlapping windows)",
    )
    parser.add_argument(
        "--views", metavar="NxM", help="clips x crops per video (or per segment): default 3x1 (1x1 with --segments)"
    )
    parser.add_argument("--num-frames", type=int)
    parser.add_argument("--interval-s", type=float)
    parser.add_argument("--sampling-rate", type=int)
    parser.add_argument("--target-fps", type=float, default=30.0)
    parser.add_argument("--crop-size", type=int)
    parser.add_argument("--test-scale", type=int)
    parser.add_argument("--batch-size", type=int, default=32, help="clips per forward pass")
    parser.add_argument("--workers", type=int, help="decoding processes (default: CPU cores - 1, at most 8)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="abandon a file whose decoding makes no progress this long",
    )
    parser.add_argument(
        "--shard",
        metavar="K/N",
        help="take the K-th of N equal shares (K from 0; e.g. $RANK/$WORLD_SIZE); shards running at the same "
        f"time need an --out each (e.g. {out_example}): a run locks its output",
    )
    add_backend_argument(parser)
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local (default): decoding processes and the model on this machine; ray: Ray Data stages on a "
        "cluster (pip install -e '.[ray]'; run on the cluster, paths on shared storage)",
    )
    parser.add_argument(
        "--address", metavar="auto|HOST:PORT", help="with --engine ray: the cluster (default: start a local one)"
    )
    parser.add_argument(
        "--gpus-per-model", type=float, default=0.0, metavar="N", help="with --engine ray: GPUs per model actor"
    )
    parser.add_argument("--models", type=int, default=1, metavar="N", help="with --engine ray: model actors")
    parser.add_argument(
        "--decode-cpus", type=float, default=1.0, metavar="N", help="with --engine ray: CPUs per decoding actor"
    )
    parser.add_argument("--device", default="auto", help="auto (default: cuda when there is one), cpu, cuda, cuda:1")


def view_spec(task, loaded, args: argparse.Namespace):
    """The views of each file (or window) as the options say: default 3x1 per video, 1x1 per window;
    ``--segments`` checked against the model's task."""
    spec, _ = task.view_spec(
        loaded,
        views=args.views or ("1x1" if args.segments else "3x1"),
        num_frames=args.num_frames,
        interval_s=args.interval_s,
        sampling_rate=args.sampling_rate,
        target_fps=args.target_fps,
        crop_size=args.crop_size,
        test_scale=args.test_scale,
    )
    task.check_segments(loaded, args.segments)
    return spec


def find_inputs(args: argparse.Namespace, *, out: str | None, job: str):
    """``(videos, skipped, listed, workers)``: this shard's videos, the other files of the folders with
    why they were skipped, where those are listed (beside ``out``; None: not listed) and how many
    decoding processes to run."""
    from vidkit.io import find_videos
    from vidkit.utils import default_workers

    if getattr(args, "engine", "local") == "ray":  # said before any output is opened
        import vidkit.ray

        vidkit.ray.require()

    skipped: list[tuple[str, str]] = []  # (path, reason) of the files the folders hold that are not videos
    # one CPU left to the main process, which runs the model
    workers = args.workers if args.workers is not None else default_workers(reserve=1)
    found = find_videos(args.paths, glob=args.glob or ("*" if args.sniff else None), skipped=skipped)
    videos = shard(found, args.shard)
    if args.sniff:  # every file is a candidate: FFmpeg says which hold video
        from vidkit.io.sniff import sniff_videos

        videos, not_videos = sniff_videos(videos, workers=workers, timeout_s=args.timeout)
        skipped = sorted(skipped + not_videos)
    listed = None if out is None else list_skipped(out, skipped, job=job)
    return videos, skipped, listed, workers


def run_device(args: argparse.Namespace, task):
    """The device the model runs on (``--device``, as the task allows)."""
    import torch

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    return task.tagging_device(device)


def start_tagging(
    args: argparse.Namespace, loaded, model, spec, todo: list[str], *, device, precision, workers: int, readout=None
):
    """``(tagger, events)``: the crash-isolated workers the model's task gives, over ``todo``, and the
    :class:`~vidkit.engine.tagger.Tagger` that batches their clips through ``model`` (``readout``: what it
    reads out, class probabilities by default)."""
    from vidkit.engine.tagger import Tagger
    from vidkit.utils import isolated_map

    task = loaded.task
    if getattr(args, "engine", "local") == "ray":
        return _start_on_ray(args, loaded, model, spec, todo, workers=workers, readout=readout)
    work = task.tagging_worker(
        model, spec, segment_s=args.segments, stride_s=args.stride, backend=args.backend, timeout_s=args.timeout
    )
    tagger = Tagger(
        model,
        spec=spec,
        device=device,
        precision=precision,
        batch_size=args.batch_size,
        transform=task.test_transform(loaded),
        readout=readout,
    )
    events = isolated_map(
        work, todo, workers=min(workers, max(1, len(todo))), silence_s=args.timeout + 5, what="decoder"
    )
    return tagger, events


def _start_on_ray(args, loaded, model, spec, todo: list[str], *, workers: int, readout):
    """``(run, run)``: the two Ray Data stages over ``todo`` (:mod:`vidkit.ray`), in the local tagger's shape."""
    import sys

    import vidkit.ray

    seconds = vidkit.ray.start(args.address, num_cpus=None if args.address else workers + 1)
    import ray

    resources = ray.cluster_resources()
    print(
        f"vidkit: Ray cluster {'at ' + args.address if args.address else '(local)'} up in {seconds:.1f} s: "
        f"{resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; {args.models} model actor(s)",
        file=sys.stderr,
    )
    dataset = vidkit.ray.results_dataset(
        todo,
        task=loaded.task,
        model=model,
        spec=spec,
        transform=loaded.task.test_transform(loaded),
        readout=readout,
        segment_s=args.segments,
        stride_s=args.stride,
        backend=args.backend,
        timeout_s=args.timeout,
        batch_size=args.batch_size,
        decode_cpus=args.decode_cpus,
        models=args.models,
        gpus_per_model=args.gpus_per_model,
        device=args.device,
    )
    run = vidkit.ray.RayTagging(dataset)
    return run, run


def check_stride(args: argparse.Namespace) -> None:
    if args.stride is not None and (not args.segments or args.stride <= 0):
        raise ConfigError("--stride goes with --segments, and is a positive number of seconds")


def shard(videos: list[str], spec: str | None) -> list[str]:
    """The ``K/N`` share of ``videos`` (every N-th from the K-th); all of them without ``spec``."""
    if not spec:
        return videos
    match = re.fullmatch(r"(\d+)/(\d+)", spec)
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise ConfigError(f"--shard {spec}: expected K/N with 0 <= K < N, e.g. 0/4")
    k, n = int(match[1]), int(match[2])
    return videos[k::n]


def reason_kind(reason: str) -> str:
    """The kind of a failure, for counting: its text before any detail in brackets or after a colon."""
    return re.split(r" \(|: ", reason, maxsplit=1)[0].strip()


__all__ = [
    "ABOVE",
    "AT_LEAST",
    "add_clip_arguments",
    "add_model_arguments",
    "add_model_options",
    "check_stride",
    "find_inputs",
    "reason_kind",
    "run_device",
    "shard",
    "start_tagging",
    "view_spec",
]
