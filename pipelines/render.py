"""``vidkit render``: pictures people can look at — a video with its labels drawn on, and contact sheets.

The composition: the labels of the video — read from a ``vidkit tag`` output (``--tags``), or made now by
tagging it with a model (the library's tagging path: the same windows, the same scores) — and the people
of a ``vidkit eval`` predictions CSV (``--boxes``) → :class:`vidkit.viz.LabelOverlay` (the segment's top
labels, a timeline of every segment along the bottom, boxes with their actions) → one decode-draw-encode
pass (:func:`vidkit.io.redraw.redraw`: H.264, yuv420p, the source's frame times, its audio) into
``--out``; or frames over the video with their times and labels in a grid (``--sheet``), for one video or
for every video of a tag output.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from vidkit.errors import ConfigError
from vidkit.pipelines._videos import add_model_options

_SHEET_GRID = "4x4"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", nargs="?", metavar="VIDEO", help="the video (leave out with --tags … --sheet DIR/)")
    parser.add_argument("--tags", metavar="FILE", help="a vidkit tag output (JSON lines) holding the video's record")
    add_model_options(parser, classes=True)  # to tag the video now
    parser.add_argument(
        "--segments",
        type=float,
        default=2.0,
        metavar="S",
        help="when tagging now: label each window of S seconds (default 2)",
    )
    parser.add_argument("--stride", type=float, metavar="S", help="when tagging now: a window every S seconds")
    parser.add_argument("--num-frames", type=int, help="when tagging now: frames a clip (default: the model's)")
    parser.add_argument("--interval-s", type=float, help="when tagging now: seconds between a clip's frames")
    parser.add_argument("--crop-size", type=int, help="when tagging now: the model's input size")
    parser.add_argument("--test-scale", type=int, help="when tagging now: the short side frames are scaled to")
    parser.add_argument(
        "--boxes", metavar="CSV", help="people's boxes and actions: an AVA predictions CSV (vidkit eval's)"
    )
    parser.add_argument("--label-map", metavar="PBTXT", help="with --boxes: action names (AVA's .pbtxt label map)")
    parser.add_argument("--out", metavar="FILE.mp4", help="the labelled video (H.264 MP4)")
    parser.add_argument(
        "--sheet",
        metavar="FILE.png|DIR/",
        help="a contact sheet: frames over the video with their times and labels (DIR/: one per video of --tags)",
    )
    parser.add_argument(
        "--grid", default=_SHEET_GRID, metavar="CxR", help=f"the sheet's columns x rows (default {_SHEET_GRID})"
    )
    parser.add_argument("--top-k", type=int, default=3, help="labels drawn (default 3)")
    parser.add_argument("--no-audio", action="store_true", help="leave the audio out")
    parser.add_argument("--crf", type=int, default=20, help="x264 quality: lower is better (default 20)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out or sheet")
    parser.add_argument("--device", default="auto", help="when tagging now: auto (default), cpu, cuda")


def run(args: argparse.Namespace) -> int:
    from vidkit.pipelines.config import check_options

    check_options(
        args,
        at_least={"top_k": 1, "crf": 0, "num_frames": 1, "crop_size": 1, "test_scale": 1},
        above={"segments": 0, "stride": 0, "interval_s": 0},
    )
    if not (args.out or args.sheet):
        raise ConfigError("say what to make: --out labelled.mp4, --sheet sheet.png, or both")
    if args.tags and (args.checkpoint or args.weights):
        raise ConfigError("the labels come from --tags or from a model (--checkpoint, --model --weights), not both")
    if args.video is None:
        if not (args.tags and args.sheet and not args.out):
            raise ConfigError(
                "name the VIDEO (only --tags FILE --sheet DIR/ makes sheets for every video of a tag output)"
            )
        return _sheets_of_folder(args)
    started = time.monotonic()
    video = args.video
    _check_outputs(args, video)
    boxes = _read_boxes(args, video)
    segments, source = _labels(args, video)
    from vidkit.io import probe

    info = probe(video)
    if args.sheet:
        _write_sheet(video, Path(args.sheet), segments, info, title=f"{os.path.basename(video)} — {source}", args=args)
        print(f"vidkit render: sheet {args.sheet}", file=sys.stderr)
    if args.out:
        from vidkit.io.redraw import redraw
        from vidkit.viz import LabelOverlay

        height, width = info.display_size
        overlay = LabelOverlay(
            segments, duration_s=info.duration_s, height=height, width=width, top_k=args.top_k, boxes=boxes
        )
        result = redraw(video, args.out, overlay, audio=not args.no_audio, space="yuv420p", crf=args.crf)
        audio = f", audio {result.audio}" if result.audio else ""
        print(
            f"vidkit render: {args.out}: {result.frames} frames, {result.width}x{result.height}{audio}, "
            f"labels from {source}, in {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
    return 0


def _check_outputs(args, video: str) -> None:
    """Refuse, before any work, an output that would destroy something: the source itself, an existing file
    without --force, a name that is not what is written."""
    for option, path, suffix in (("--out", args.out, ".mp4"), ("--sheet", args.sheet, ".png")):
        if path is None:
            continue
        if not str(path).lower().endswith(suffix):
            raise ConfigError(f"{option} {path}: vidkit render writes {suffix[1:].upper()} here; name it *{suffix}")
        if os.path.exists(path):
            if os.path.exists(video) and os.path.samefile(path, video):
                raise ConfigError(f"{option} {path}: that is the video itself; choose another name")
            if not os.path.isfile(path):
                raise ConfigError(f"{option} {path}: not a regular file")
            if not args.force:
                raise ConfigError(f"{option} {path}: exists; left unchanged (--force replaces it)")


def _labels(args, video: str):
    """``(segments, where they came from)``."""

    if args.tags:
        record = _record_of(Path(args.tags), video)
        return _segments_of(record), args.tags
    if args.checkpoint or args.weights:
        return _tag_now(args, video)
    return [], "no labels"


def _record_of(tags: Path, video: str) -> dict:
    """The record of ``video`` in the tag output ``tags`` (its path as written, or the same file)."""
    from vidkit.engine.results import read_tag_records

    found = None
    for path, record in read_tag_records(tags):
        if path == video or (os.path.exists(path) and os.path.exists(video) and os.path.samefile(path, video)):
            found = record
    if found is None:
        raise ConfigError(f"{tags}: holds no record of {video}")
    if found.get("error"):
        raise ConfigError(f"{tags}: {video} was not tagged ({found['error']})")
    return found


def _segments_of(record: dict):
    from vidkit.viz import Segment

    def labels(entries):
        return tuple((e["label"], float(e["score"])) for e in entries)

    if record.get("segments"):
        return [Segment(s["start_s"], s["end_s"], labels(s["labels"])) for s in record["segments"]]
    duration = record.get("duration_s") or 0.0
    return [Segment(0.0, float(duration), labels(record.get("labels") or []))]


def _tag_now(args, video: str):
    """Tag ``video`` with the model, as ``vidkit tag --segments S --stride T`` would."""
    from vidkit.engine.inference import load_for_inference
    from vidkit.engine.loop import resolve_precision
    from vidkit.engine.results import top_labels
    from vidkit.pipelines._videos import run_device, start_tagging
    from vidkit.viz import Segment

    loaded, model, classes = load_for_inference(
        checkpoint=args.checkpoint, model=args.model, weights=args.weights, classes=args.classes
    )
    task = loaded.task
    task.check_segments(loaded, args.segments)
    spec, _ = task.view_spec(
        loaded,
        views="1x1",
        num_frames=args.num_frames,
        interval_s=args.interval_s,
        crop_size=args.crop_size,
        test_scale=args.test_scale,
    )
    device = run_device(args, task)
    precision = resolve_precision("auto", "auto", device)
    model = precision.place(model, device)
    options = argparse.Namespace(segments=args.segments, stride=args.stride, backend="pyav", timeout=60.0, batch_size=8)
    tagger, events = start_tagging(options, loaded, model, spec, [video], device=device, precision=precision, workers=1)
    try:
        [result] = list(tagger.run(events))
    finally:
        events.close()
    if result.error:
        raise ConfigError(f"{video}: cannot be tagged ({result.error})")

    def top(scores):
        return tuple((entry["label"], entry["score"]) for entry in top_labels(scores, classes, args.top_k))

    return [Segment(a, b, top(s)) for a, b, s in result.segments], f"{loaded.name}, {args.segments:g} s windows"


def _read_boxes(args, video: str):
    """The people of ``video`` (its file name without extension is its AVA video id) in ``--boxes``."""
    if not args.boxes:
        return []
    from vidkit.data.ava import read_ava_csv, read_label_map
    from vidkit.errors import VidkitError
    from vidkit.viz import PersonBox

    try:
        rows = read_ava_csv(args.boxes, detections=True)
        names = read_label_map(args.label_map) if args.label_map else {}
    except (OSError, VidkitError) as e:
        raise ConfigError(str(e)) from None
    video_id = Path(video).stem
    people: dict[tuple, list] = {}
    for row in rows:
        if row.video_id == video_id and row.action_id is not None:
            name = names.get(row.action_id, f"action {row.action_id}")
            people.setdefault((row.time_s, row.box), []).append((name, float(row.score or 0.0)))
    if not people:
        ids = sorted({row.video_id for row in rows})
        more = "…" if len(ids) > 5 else ""
        raise ConfigError(f"{args.boxes}: no boxes of video id {video_id!r} (it has {', '.join(ids[:5])}{more})")
    return [
        PersonBox(time_s, box, tuple(sorted(labels, key=lambda x: -x[1]))) for (time_s, box), labels in people.items()
    ]


def _grid(spec: str) -> tuple[int, int]:
    import re

    match = re.fullmatch(r"(\d+)x(\d+)", spec)
    if not match or not (0 < int(match[1]) <= 20 and 0 < int(match[2]) <= 20):
        raise ConfigError(f"--grid {spec}: expected CxR (columns x rows, each 1 to 20), e.g. 4x4")
    return int(match[1]), int(match[2])


def _write_sheet(video: str, out: Path, segments, info, *, title: str, args) -> None:
    """Frames at the centres of equal parts of the video, each with its time and the label playing then."""
    import numpy as np

    from vidkit.io import open_video
    from vidkit.utils import atomic_path
    from vidkit.viz import contact_sheet, segment_at

    columns, rows = _grid(args.grid)
    count = columns * rows
    height, width = info.display_size
    tile_long = 320
    short = max(16, round(tile_long * min(height, width) / max(height, width)))
    times = [info.start_s + (i + 0.5) * info.duration_s / count for i in range(count)]
    with open_video(video, short_side=short) as reader:
        frames = reader.read_at(times)
    tiles = list(np.asarray(frames.data))
    captions = []
    for t in frames.pts.tolist():
        index = segment_at(segments, t - info.start_s) if segments else None
        labels = segments[index].labels[: max(1, min(args.top_k, 2))] if index is not None else ()
        captions.append([(f"{t - info.start_s:.1f} s", None), *labels])
    sheet = contact_sheet(tiles, captions, columns=columns, title=title)
    from PIL import Image

    with atomic_path(out) as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG")


def _sheets_of_folder(args) -> int:
    """A sheet for every tagged video of ``--tags``, in ``--sheet DIR/``; those already there are kept."""
    from vidkit.engine.feature_files import feature_name
    from vidkit.errors import VidkitError
    from vidkit.io import probe

    folder = Path(args.sheet)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--sheet {folder}: not a folder (a sheet per video needs one)")
    folder.mkdir(parents=True, exist_ok=True)
    made = kept = 0
    failed = []
    from vidkit.engine.results import read_tag_records

    records = [(path, r) for path, r in read_tag_records(Path(args.tags)) if not r.get("error")]
    for path, record in records:
        out = folder / (feature_name(path)[: -len(".npy")] + ".png")
        if out.exists() and not args.force:
            kept += 1
            continue
        try:
            info = probe(path)
            _write_sheet(path, out, _segments_of(record), info, title=os.path.basename(path), args=args)
            made += 1
        except (VidkitError, OSError) as e:
            failed.append(f"{path}: {e}")
    lines = [f"vidkit render: {made} sheets in {folder}" + (f", {kept} already there" if kept else "")]
    lines += [f"  failed       {reason}" for reason in failed]
    print("\n".join(lines), file=sys.stderr)
    return 1 if failed else 0


__all__ = ["add_arguments", "run"]
