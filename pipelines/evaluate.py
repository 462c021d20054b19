"""``vidkit eval``: a checkpoint tested on a dataset with the standard multi-view protocol.

The composition, in order: the checkpoint (vidkit's own, which names its model, classes and clip
settings; or a peer's weights with ``--model``) → the dataset as the user downloaded it
(:func:`vidkit.data.catalog.open_catalog`, or the built-in synthetic set) → the views (:class:`ViewSpec`:
the dataset's preset, e.g. 10 clips × 3 crops for Kinetics) → every video decoded once for all its
views (:class:`~vidkit.data.views.VideoViews`) → per-view logits
(:func:`~vidkit.engine.evaluator.predict_views`) → the report (:mod:`vidkit.pipelines.eval_report`).

Under ``torchrun`` each process takes every N-th video; rank 0 gathers the scores and writes the report.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vidkit.data.catalog import DATASETS
from vidkit.errors import CheckpointError, ConfigError
from vidkit.utils import default_workers, file_digest

# Named view protocols: (temporal clips, spatial crops).
VIEW_PRESETS = {
    "kinetics": (10, 3),  # PySlowFast / pytorchvideo / mmaction2 Kinetics test: 10 uniform clips x 3 crops
    "ssv2": (2, 3),  # TSM / mmaction2 Something-Something-v2 test: 2 clips x 3 crops
    "ssv2-1clip": (1, 3),  # PySlowFast's SSv2 test: 1 clip x 3 crops
    "single": (1, 1),  # one centred clip, centre crop: what `vidkit train` validates with
}
DEFAULT_PRESET = {"ssv2": "ssv2"}  # every other dataset: "kinetics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        metavar="CKPT",
        help="a vidkit checkpoint (best.pt / last.pt), or peer weights (pytorchvideo, PySlowFast, mmaction2, "
        "torchvision) together with --model",
    )
    parser.add_argument(
        "--model", help="the model the weights are for, when the checkpoint does not say (`vidkit models`)"
    )
    parser.add_argument(
        "--data",
        choices=DATASETS,
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
    parser.add_argument("--backend", default="pyav", choices=("pyav", "decord"))
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
        "--out", metavar="DIR", help="where the report goes (default runs/eval-<model>-<data>-<date>-<time>)"
    )


@dataclass(frozen=True)
class LoadedModel:
    model: object
    name: str
    path: str
    classes: tuple[str, ...] | None  # None: the weights do not name their classes (peer checkpoints)
    config: dict | None  # the training config of a vidkit checkpoint
    sha256: str
    weights: object = None  # peer weights, as read (built into a model once the class count is known)


def run(args: argparse.Namespace) -> int:
    from vidkit.models import model_card
    from vidkit.pipelines.eval_report import evaluate

    loaded = require_rgb(load_model(args.checkpoint, model=args.model))
    if model_card(loaded.name).task == "persons":
        from vidkit.pipelines.persons import evaluate_checkpoint

        return evaluate_checkpoint(args, loaded)
    data = args.data or _trained_on(loaded)
    catalog = open_dataset(data, args, loaded)
    spec, preset = view_spec(args, loaded.name, loaded.config, data)
    evaluate(
        loaded,
        catalog,
        spec,
        preset=preset,
        aggregate_how=args.aggregate,
        batch_size=args.batch_size,
        workers=_workers(args.workers),
        backend=args.backend,
        timeout_s=args.timeout,
        limit=args.limit,
        device=args.device,
        out=_out_dir(args.out, loaded.name, data),
    )
    return 0


def load_model(path: str, *, model: str | None = None) -> LoadedModel:
    """A vidkit checkpoint builds its own model (name, classes, options from the file); any other
    weights need ``model`` and are loaded once the dataset's class count is known — so the build of
    those is deferred: ``LoadedModel.model`` is then None and ``LoadedModel.weights`` holds them, read."""
    from vidkit.models import build, resolve
    from vidkit.models.weights import read_checkpoint

    saved = read_checkpoint(path)
    digest = file_digest(path)
    if isinstance(saved, dict) and "model_name" in saved and isinstance(saved.get("model"), dict):
        name = saved["model_name"]
        if model is not None and resolve(model) != resolve(name):
            raise ConfigError(f"--model {model}: {path} is a vidkit checkpoint of {name}")
        config = saved.get("config") or {}
        options = dict((config.get("model") or {}).get("options") or {})
        net = build(name, num_classes=int(saved["num_classes"]), **options)
        try:
            net.load_state_dict(saved["model"])
        except RuntimeError as e:
            raise CheckpointError(path, f"does not fit {name} ({str(e).splitlines()[0]})") from None
        return LoadedModel(net, resolve(name), path, tuple(saved.get("classes") or ()) or None, config, digest)
    if model is None:
        raise ConfigError(
            f"{path} is not a vidkit training checkpoint, so it does not say which model it holds: "
            "name it with --model (e.g. --model slowfast_r50)"
        )
    return LoadedModel(None, resolve(model), path, None, None, digest, weights=saved)


def require_rgb(loaded: LoadedModel) -> LoadedModel:
    """``loaded``, if its model takes RGB clips; a one-line error for one that reads the compressed domain."""
    from vidkit.models import model_card

    if model_card(loaded.name).input_kind == "compressed":
        raise ConfigError(
            f"{loaded.path}: {loaded.name} reads the compressed domain (I-frames, motion vectors, residuals), "
            "not the RGB clips vidkit eval and vidkit tag decode; evaluate it with tools/coviar_table.py"
        )
    return loaded


def build_peer(loaded: LoadedModel, num_classes: int):
    """The model for peer weights (``load_model`` deferred it), now that the class count is known;
    errors name the weights file."""
    from vidkit.models import build

    try:
        return build(loaded.name, num_classes=num_classes, weights=loaded.weights)
    except CheckpointError as e:
        raise CheckpointError(loaded.path, e.reason) from None


def open_dataset(data: str, args: argparse.Namespace, loaded: LoadedModel):
    """The :class:`~vidkit.data.catalog.Catalog` to evaluate on."""
    if data == "synthetic":
        return synthetic_catalog(loaded.config or {}, split=args.split, root=args.data_root)
    from vidkit.data.catalog import open_catalog

    where = {"root": args.data_root, "annotations": args.annotations, "videos": args.videos}
    trained = (loaded.config or {}).get("data") or {}
    if not any(where.values()) and trained.get("name") == data:  # where the checkpoint was trained from
        where = {k: trained.get(k) for k in where}
    if not any(where.values()):
        raise ConfigError(
            f"--data {data} needs --data-root DIR (the dataset folder as downloaded), or --annotations and --videos"
        )
    return open_catalog(data, **where, split=args.split)


def synthetic_catalog(config: dict, *, split: str, root: str | None):
    """The built-in set the checkpoint was trained on (its config's spec), as a catalog."""
    from vidkit.data.catalog import Catalog, VideoEntry
    from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset

    data = config.get("data") or {}
    spec = SyntheticSpec.from_config(data.get("synthetic"))
    split = {"validation": "val", "validate": "val"}.get(split, split)
    if split not in ("train", "val"):
        raise ConfigError(f"--split {split}: the synthetic set has train and val")
    dataset = synthetic_dataset(spec, root=root or data.get("root"), progress=sys.stderr.isatty())
    entries = tuple(VideoEntry(key=v.path.stem, path=str(v.path), label=v.label) for v in dataset.videos(split))
    return Catalog(
        name="synthetic",
        split=split,
        classes=tuple(dataset.classes),
        entries=entries,
        annotations=str(dataset.annotations(split)),
        videos_root=str(dataset.root),
        flip_label_map={},
        default_flip=False,
        warnings=(),
    )


def view_spec(args: argparse.Namespace, name: str, config: dict | None, data: str):
    """The views to test with, and the preset's name (or ``"NxM"``): ``args`` override the clip settings
    of ``config`` (a vidkit checkpoint's training config), which override model ``name``'s card."""
    from vidkit.data.views import ViewSpec
    from vidkit.models import model_card

    preset = args.views or DEFAULT_PRESET.get(data, "kinetics")
    if preset in VIEW_PRESETS:
        clips, crops = VIEW_PRESETS[preset]
    else:
        match = re.fullmatch(r"(\d+)x(\d+)", preset)
        if not match or int(match[1]) < 1 or int(match[2]) < 1:
            raise ConfigError(
                f"--views {preset}: expected NxM (temporal clips x crops, e.g. 10x3) "
                f"or one of {', '.join(VIEW_PRESETS)}"
            )
        clips, crops = int(match[1]), int(match[2])
    trained = (config or {}).get("data") or {}
    card = model_card(name)
    segments = card.sampling == "segments"
    if segments:  # frames over the whole video (AdaFrame): one temporal clip, the crops as asked
        clips = 1
    num_frames = args.num_frames or trained.get("num_frames") or card.input_frames
    crop = args.crop_size or trained.get("crop_size") or card.input_size
    if args.sampling_rate is not None:
        interval = args.sampling_rate / args.target_fps
    else:
        interval = args.interval_s or trained.get("interval_s") or (1.0 if segments else None)
    if not num_frames or not crop or not interval:
        raise ConfigError(
            f"{name}: say how clips are cut — --num-frames, --interval-s (or --sampling-rate) and "
            "--crop-size (a vidkit checkpoint carries them; these weights do not)"
        )
    try:
        spec = ViewSpec(
            num_clips=clips,
            num_crops=crops,
            num_frames=int(num_frames),
            interval_s=float(interval),
            crop_size=int(crop),
            test_scale=int(args.test_scale or crop),
            segments=segments,
            snippet=int((((config or {}).get("model") or {}).get("options") or {}).get("snippet", 1)),
        )
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return spec, preset


def _trained_on(loaded: LoadedModel) -> str:
    if loaded.config is None:
        raise ConfigError("--data is needed: the checkpoint does not say what it was trained on")
    return ((loaded.config.get("data") or {}).get("name")) or "synthetic"


def _workers(value: int | None) -> int:
    return value if value is not None else default_workers(reserve=1)  # the main process runs the model


def _out_dir(out: str | None, model: str, data: str) -> Path:
    return Path(out) if out else Path(f"runs/eval-{model}-{data}-{time.strftime('%Y%m%d-%H%M%S')}")


__all__ = [
    "VIEW_PRESETS",
    "LoadedModel",
    "add_arguments",
    "build_peer",
    "load_model",
    "open_dataset",
    "run",
    "view_spec",
]
