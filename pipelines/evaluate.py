"""``vidkit eval``: a checkpoint tested on a dataset with its task's protocol.

The composition: the checkpoint (:func:`vidkit.engine.inference.load_model`: vidkit's own, which names
its model, classes and clip settings; or a peer's weights with ``--model``) → its task
(:mod:`vidkit.engine.tasks`), which opens the dataset, cuts the views and writes the report — for clip
models the standard multi-view protocol (e.g. 10 clips × 3 crops for Kinetics), every video decoded
once for all its views (:mod:`vidkit.engine.evaluation`); for person models frame mAP.

Under ``torchrun`` each process takes every N-th video; rank 0 gathers the scores and writes the report.
"""

from __future__ import annotations

import argparse

from vidkit.data.registry import dataset_names
from vidkit.data.views import VIEW_PRESETS
from vidkit.errors import ConfigError
from vidkit.pipelines._videos import add_backend_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        metavar="CKPT",
        help="a vidkit checkpoint (best.pt / last.pt), or peer weights (pytorchvideo, PySlowFast, mmaction2, "
        "torchvision) together with --model",
    )
    parser.add_argument(
        "--weights",
        metavar="NAME|FILE",
        help="with --model, instead of --checkpoint: published weights by name (e.g. kinetics400: labels "
        "and recipe come with them; `vidkit models --weights`), or a file",
    )
    parser.add_argument(
        "--model", help="the model the weights are for, when the checkpoint does not say (`vidkit models`)"
    )
    parser.add_argument(
        "--data",
        choices=dataset_names(),
        help="the dataset (default: what the checkpoint was trained on, i.e. synthetic for `vidkit train` runs)",
    )
    parser.add_argument(
        "--data-root", metavar="DIR", help="the dataset folder as downloaded (annotations and videos found in it)"
    )
    parser.add_argument(
        "--annotations", metavar="PATH", help="annotation file or folder, instead of looking in --data-root"
    )
    parser.add_argument(
        "--videos", metavar="DIR", help="the folder holding the videos, instead of looking in --data-root"
    )
    parser.add_argument("--split", default="val", help="train, val (default) or test")
    parser.add_argument(
        "--views",
        metavar="NxM|PRESET",
        help="temporal clips x spatial crops, e.g. 10x3, or a preset: "
        f"{', '.join(f'{k} ({a}x{b})' for k, (a, b) in VIEW_PRESETS.items())}; "
        "default: kinetics, ssv2 for Something-Something-v2",
    )
    parser.add_argument("--num-frames", type=int, help="frames per clip (default: the checkpoint's training clips)")
    parser.add_argument("--interval-s", type=float, help="seconds between a clip's frames (default: the checkpoint's)")
    parser.add_argument(
        "--sampling-rate",
        type=int,
        help="PySlowFast's terms: every N-th frame at --target-fps (instead of --interval-s)",
    )
    parser.add_argument("--target-fps", type=float, default=30.0)
    parser.add_argument("--crop-size", type=int, help="test crop (default: the checkpoint's crop size)")
    parser.add_argument(
        "--test-scale", type=int, help="short side frames are scaled to before cropping (default: the crop size)"
    )
    parser.add_argument(
        "--aggregate",
        default="softmax",
        choices=("softmax", "logits", "max"),
        help="how the views' scores are combined (default: mean of the softmax)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="clips per forward pass")
    parser.add_argument("--workers", type=int, help="decoding processes (default: CPU cores - 1, at most 8)")
    add_backend_argument(parser)
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="give up on a video whose decoding stalls this long"
    )
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N videos listed (a quick look)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1")
    parser.add_argument(
        "--boxes",
        metavar="CSV",
        help="person-action models: score these person boxes (AVA box file with "
        "detector scores) instead of the annotated ones",
    )
    parser.add_argument("--min-score", type=float, default=0.0, help="with --boxes: drop boxes scored below this")
    parser.add_argument(
        "--detections-per-keyframe",
        type=int,
        default=50,
        metavar="N",
        help="AVA: score the N best (box, action) detections of each keyframe, as the official evaluator "
        "does (default 50); 0 scores them all (PySlowFast's in-memory evaluation)",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="where the report goes (default runs/eval-<model>-<data>-<date>-<time>)"
    )


def run(args: argparse.Namespace) -> int:
    from vidkit.engine.inference import load_model
    from vidkit.engine.tasks import EvalRequest
    from vidkit.pipelines.config import check_options

    check_options(  # before the checkpoint is loaded or a video decoded
        args,
        at_least={
            "batch_size": 1,
            "workers": 0,
            "limit": 1,
            "detections_per_keyframe": 0,
            "num_frames": 1,
            "sampling_rate": 1,
            "crop_size": 1,
            "test_scale": 1,
        },
        above={"timeout": 0, "target_fps": 0, "interval_s": 0},
    )
    if bool(args.checkpoint) == bool(args.weights):
        raise ConfigError("give --checkpoint CKPT, or --model NAME --weights NAME|FILE (one of them)")
    if args.weights and not args.model:
        raise ConfigError("--weights needs --model: the model the weights are for (`vidkit models --weights`)")
    loaded = load_model(args.checkpoint or args.weights, model=args.model)
    request = EvalRequest(
        data=args.data,
        data_root=args.data_root,
        annotations=args.annotations,
        videos=args.videos,
        split=args.split,
        views=args.views,
        num_frames=args.num_frames,
        interval_s=args.interval_s,
        sampling_rate=args.sampling_rate,
        target_fps=args.target_fps,
        crop_size=args.crop_size,
        test_scale=args.test_scale,
        aggregate=args.aggregate,
        batch_size=args.batch_size,
        workers=args.workers,
        backend=args.backend,
        timeout_s=args.timeout,
        limit=args.limit,
        device=args.device,
        boxes=args.boxes,
        min_score=args.min_score,
        detections_per_keyframe=args.detections_per_keyframe or None,
        out=args.out,
    )
    loaded.task.evaluate(loaded, request)
    return 0


__all__ = ["add_arguments", "run"]
