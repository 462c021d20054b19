"""Per-person actions (``persons``: the Action Transformer, the I3D-head baseline): RGB clips with
person boxes on keyframes, multi-label actions per box.

Data is AVA-format (:mod:`vidkit.data.ava`): AVA as downloaded (``--data ava --data-root DIR``), or the
built-in set's actors variant, which writes the same files (``ava_train.csv``, ``ava_val.csv``,
``ava_action_list.pbtxt``, the videos under ``train/`` and ``val/``). Evaluation is frame mAP at IoU
0.5 with per-class AP, on the annotated boxes or on a person-box file (``--boxes``, detections with
scores); the predictions are also written as an AVA CSV, the form the official evaluator reads.
These models label people on keyframes, not whole files: ``vidkit tag`` refuses them.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from vidkit.engine.tasks._base import ClipSettings, EvalRequest, Task, TrainData, has_person_boxes, register_task
from vidkit.errors import ConfigError
from vidkit.utils import atomic_write


@register_task("persons")
class PersonActions(Task):
    """Labels per person box, multi-label; trained by binary cross-entropy, scored by frame mAP."""

    def check_data(self, dataset, *, data_name: str, model_name: str) -> None:
        if not has_person_boxes(dataset, data_name):
            raise ConfigError(
                f"{model_name} classifies people by their boxes: train it on AVA-format data "
                f"(--data synthetic-actors, or --data ava --data-root DIR), not on {data_name}"
            )

    def train_data(self, dataset, settings: ClipSettings, *, model_name: str) -> TrainData:
        return _train_data(dataset, settings)

    def evaluate(self, loaded, request: EvalRequest) -> dict | None:
        return _evaluate(loaded, request)

    def check_tagging(self, loaded) -> None:
        raise ConfigError(
            f"{loaded.name} labels people by their boxes on keyframes, not whole videos; score it with "
            "vidkit eval (--boxes for a person-box file)"
        )


def _report_split(split, name: str, job: str) -> None:
    if split.missing:
        print(
            f"{job}: {len(split.missing)} {name} video(s) listed in the annotations are missing (e.g. "
            f"{split.missing[0]}); their keyframes are left out",
            file=sys.stderr,
        )
    if split.dropped_rows:
        print(f"{job}: {split.dropped_rows} {name} row(s) name actions outside the label map; dropped", file=sys.stderr)
    if split.excluded_keyframes:
        print(
            f"{job}: {split.excluded_keyframes} {name} keyframe(s) left out, as the excluded-timestamps file says",
            file=sys.stderr,
        )
    if not split.keyframes:
        raise ConfigError(f"the {name} split has no keyframe whose video was found")


def _train_data(dataset, s: ClipSettings) -> TrainData:
    from vidkit.data.ava import PersonClipDataset, ava_split
    from vidkit.data.transforms import PersonClipTransform
    from vidkit.engine.objectives import PersonObjective

    train, val = (ava_split(dataset, split) for split in ("train", "val"))
    for split, name in ((train, "train"), (val, "val")):
        _report_split(split, name, "vidkit train")
    classes = list(train.classes)
    clips = dict(
        num_classes=len(classes),
        num_frames=s.num_frames,
        interval_s=s.interval_s,
        backend=s.backend,
        time_offset_s=s.keyframe_offset_s,
    )
    train_set = PersonClipDataset(train.keyframes, train.videos, **clips)
    val_set = PersonClipDataset(val.keyframes, val.videos, **clips)
    transform = PersonClipTransform(
        crop_size=s.crop_size,
        train_scale=tuple(s.train_scale),
        test_scale=s.test_scale,
        flip_prob=0.5 if s.flip else 0.0,
    )
    return TrainData(classes, train_set, val_set, transform, PersonObjective(val.keyframes, val.ground_truth))


def _evaluate(loaded, args: EvalRequest) -> dict:
    """Frame mAP with per-class AP on ``args.split``, a report (``report.json``) and the predictions
    as an AVA CSV (``predictions.csv``)."""
    from torch.utils.data import DataLoader

    from vidkit.data.ava import AvaData, PersonClipDataset, ava_split, collate_persons
    from vidkit.data.transforms import PersonClipTransform
    from vidkit.engine.distributed import setup
    from vidkit.engine.persons import PersonMeter, person_scores, score_frame_map

    if loaded.model is None or loaded.config is None:
        raise ConfigError(
            f"{loaded.path}: evaluating {loaded.name} needs a vidkit checkpoint from `vidkit train` "
            "(it names the classes and clip settings); train or fine-tune with --weights first"
        )
    trained = loaded.config.get("data") or {}
    data = args.data or trained.get("name") or "synthetic"
    if data == "ava":
        dataset = AvaData(
            args.data_root or trained.get("root"),
            annotations=args.annotations or trained.get("annotations"),
            videos=args.videos or trained.get("videos"),
        )
    elif data in ("synthetic", "synthetic-actors"):
        dataset = _synthetic_actors(loaded.config, root=args.data_root)
    else:
        raise ConfigError(f"{loaded.name} is evaluated on AVA-format data (--data ava or synthetic-actors), not {data}")
    split = ava_split(
        dataset, {"validation": "val"}.get(args.split, args.split), boxes=args.boxes, min_score=args.min_score
    )
    _report_split(split, args.split, "vidkit eval")
    if tuple(split.classes) != tuple(loaded.classes or ()):
        raise ConfigError(
            f"{loaded.path}: the checkpoint's {len(loaded.classes or ())} classes are not the label map's "
            f"{len(split.classes)} (first: {split.classes[:3]})"
        )
    keyframes = split.keyframes[: args.limit] if args.limit else split.keyframes
    keys = {kf.key for kf in keyframes}
    truth = [kf for kf in split.ground_truth if kf.key in keys]
    ctx = setup(args.device)
    model = loaded.model.to(ctx.device)
    dataset_clips = PersonClipDataset(
        keyframes,
        split.videos,
        num_classes=len(split.classes),
        num_frames=args.num_frames or trained.get("num_frames") or 32,
        interval_s=args.interval_s or trained.get("interval_s") or 2 / 30,
        backend=args.backend,
        time_offset_s=trained.get("keyframe_offset_s") or 0.0,
    )
    crop = args.crop_size or trained.get("crop_size") or 224
    transform = PersonClipTransform(crop_size=crop, test_scale=args.test_scale or trained.get("test_scale") or crop)
    workers = args.workers if args.workers is not None else 1
    loader = DataLoader(dataset_clips, batch_size=args.batch_size, num_workers=workers, collate_fn=collate_persons)
    meter = PersonMeter(classes=split.classes)
    indices, boxes, probs = person_scores(model, loader, transform=transform, device=ctx.device, meter=meter)
    detections, result = score_frame_map(
        keyframes,
        truth,
        indices,
        boxes,
        probs,
        num_classes=len(split.classes),
        max_per_keyframe=args.detections_per_keyframe,
    )
    out = Path(args.out) if args.out else Path(f"runs/eval-{loaded.name}-{data}")
    out.mkdir(parents=True, exist_ok=True)
    _write_predictions(out / "predictions.csv", detections, split.label_ids)
    report = {
        "model": loaded.name,
        "checkpoint": loaded.path,
        "sha256": loaded.sha256,
        "data": data,
        "split": args.split,
        "boxes": args.boxes or "annotated",
        "keyframes": len(keyframes),
        "excluded_keyframes": split.excluded_keyframes,
        "detections_per_keyframe": args.detections_per_keyframe,
        "persons": len(indices),
        "skipped": meter.skipped,
        **result.as_dict(split.classes),
    }
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(_table(result.as_dict(split.classes), len(keyframes), len(indices)))
    print(f"vidkit eval: report {out / 'report.json'}, predictions {out / 'predictions.csv'}", file=sys.stderr)
    for reason in meter.skipped[:5]:
        print(f"vidkit eval: skipped {reason}", file=sys.stderr)
    return report


def _synthetic_actors(config: dict, *, root: str | None):
    from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset

    spec = SyntheticSpec.from_config((config.get("data") or {}).get("synthetic"))
    if spec.variant != "actors":
        raise ConfigError(
            f"the checkpoint was trained on the synthetic {spec.variant} variant, which has no person boxes"
        )
    return synthetic_dataset(spec, root=root or (config.get("data") or {}).get("root"), progress=sys.stderr.isatty())


def _write_predictions(path: Path, detections, label_ids) -> None:
    """AVA's result format: ``video_id, timestamp, x1, y1, x2, y2, action_id, score``, one row per
    (person, action); written to a temporary name and renamed, so a report is never half there."""
    with atomic_write(path, "w", newline="") as f:
        writer = csv.writer(f)
        for (video_id, time_s), box, c, score in detections:
            stamp = f"{int(time_s):04d}" if float(time_s).is_integer() else f"{time_s:g}"
            writer.writerow([video_id, stamp, *(f"{v:.4f}" for v in box), label_ids[c], f"{score:.6f}"])


def _table(result: dict, keyframes: int, persons: int) -> str:
    rows = [
        f"frame mAP@0.5 {result['map']:.4f} over {keyframes} keyframes, {persons} boxes",
        "class  AP  (ground truth, detections)",
    ]
    for row in result["per_class"]:
        ap = "-" if row["ap"] is None else f"{row['ap']:.4f}"
        rows.append(f"  {row['class']:<28} {ap}  ({row['num_gt']}, {row['num_det']})")
    return "\n".join(rows)


__all__ = ["PersonActions"]
