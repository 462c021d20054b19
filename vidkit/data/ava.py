"""AVA person-action annotations (Gu et al., CVPR 2018) and clips centred on their keyframes.

AVA labels the people of 15-minute film excerpts at one keyframe a second. A CSV row (no header) is
one (person, action) pair, so a person doing three things is three rows with one box::

    -5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1
    video_id, timestamp (s), x1, y1, x2, y2 (normalised to [0, 1]), action_id[, person_id (v2.1+)]

Action ids are those of a ``.pbtxt`` label map, ``label { name: "crawl" label_id: 5 ... }`` or
``item { name: "crawl" id: 5 }``: the benchmark is the 60 classes of
``ava_action_list_v2.2_for_activitynet_2019.pbtxt``, so rows of the other 20 actions are dropped.
Person box files (PySlowFast's ``ava_val_predicted_boxes.csv``) have the same columns, the action
empty or -1, and a detector score 8th. The Action Transformer (Girdhar et al., CVPR 2019) and
SlowFast's AVA head see a clip centred on the keyframe and the boxes, and predict multi-hot labels
per person::

    split = open_ava(*find_ava_files("~/data/ava", "val"))
    dataset = PersonClipDataset(split.keyframes, split.videos, num_classes=len(split.classes),
                                num_frames=32, interval_s=2 / 30, time_offset_s=900)  # videos_15min cuts
    loader = DataLoader(dataset, batch_size=8, collate_fn=collate_persons)
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidkit.data.catalog import index_by_stem, require_folder
from vidkit.data.clips import read_clips
from vidkit.data.datasets import collate_frames
from vidkit.data.samplers import ClipPlan
from vidkit.errors import AnnotationError, ConfigError, VideoDecodeError
from vidkit.io.walk import walk_videos

__all__ = [
    "AvaData",
    "AvaRow",
    "AvaSplit",
    "Keyframe",
    "PersonClipDataset",
    "ava_split",
    "collate_persons",
    "find_ava_files",
    "find_exclusions",
    "group_keyframes",
    "open_ava",
    "read_ava_csv",
    "read_exclusions",
    "read_label_map",
]

_SLACK = 1e-3  # coordinates a little outside [0, 1] (rounding in the released files) are clamped
_COLUMNS = "video_id, timestamp, x1, y1, x2, y2, action_id"
# pbtxt tokens: a block opening (`label {`), its end, or a `key: value` field; comments are skipped.
_TOKEN = re.compile(
    r"\s+|#[^\n]*|(?P<open>\w+)\s*:?\s*\{|(?P<close>\})|(?P<key>\w+)\s*:\s*"
    r'(?P<value>"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|[^\s{}#]+)'
)


@dataclass(frozen=True)
class AvaRow:
    """One CSV row. ``action_id`` is None in a box file row that leaves it empty (or -1);
    ``person_id`` None where the file has no 8th column; ``score`` is set for box files only."""

    video_id: str
    time_s: float
    box: tuple[float, float, float, float]
    action_id: int | None
    person_id: int | None
    score: float | None
    line: int


def read_label_map(path: str | os.PathLike) -> dict[int, str]:
    """``label_id -> name`` in file order, from either pbtxt dialect (see the module docstring)."""
    text = _read_text(path)
    entries: dict[int, str] = {}
    block: dict[str, str] | None = None
    block_line, pos, line = 0, 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise AnnotationError(
                path,
                line,
                f'cannot read {text[pos:].split(maxsplit=1)[0]!r} (expected label {{ name: "..." label_id: N }})',
            )
        if m["open"] and block is None:
            block, block_line = {}, line
        elif m["open"] or ((m["close"] or m["key"]) and block is None):
            where = "a block inside a block" if m["open"] else "outside a block"
            raise AnnotationError(path, line, f"unexpected {m.group().strip()!r} ({where})")
        elif m["key"]:
            block[m["key"]] = m["value"][1:-1] if m["value"][0] in "\"'" else m["value"]
        elif m["close"]:
            label_id, name = _label_entry(path, block_line, block)
            if label_id in entries:
                raise AnnotationError(path, block_line, f"duplicate id {label_id} ({entries[label_id]!r} has it too)")
            entries[label_id] = name
            block = None
        line += text.count("\n", pos, m.end())
        pos = m.end()
    if block is not None:
        raise AnnotationError(path, block_line, "block not closed (no '}')")
    if not entries:
        raise AnnotationError(path, 0, 'no label entries (expected label { name: "..." label_id: N } blocks)')
    return entries


def _label_entry(path, line: int, block: dict[str, str]) -> tuple[int, str]:
    raw = block.get("label_id", block.get("id"))
    if "name" not in block or raw is None:
        raise AnnotationError(
            path,
            line,
            f"entry without {'a name' if 'name' not in block else 'an id'} (fields: {', '.join(block) or 'none'})",
        )
    try:
        return int(raw), block["name"]
    except ValueError:
        raise AnnotationError(path, line, f"id {raw!r} is not an integer") from None


def read_ava_csv(path: str | os.PathLike, *, detections: bool = False) -> list[AvaRow]:
    """The rows of an AVA annotation CSV (7 or 8 columns), or with ``detections`` of a person box
    file (8: the action empty, -1 or an id, then the score). Blank lines and a ``video_id,...``
    header are skipped; any bad row is an :class:`AnnotationError` naming its line."""
    rows: list[AvaRow] = []
    with _open_text(path) as f:
        reader = csv.reader(f)
        try:
            for fields in reader:
                fields = [x.strip() for x in fields]
                if not any(fields) or (not rows and fields[0] == "video_id"):
                    continue  # a blank line, or the optional header
                rows.append(_row(path, reader.line_num, fields, detections))
        except UnicodeDecodeError as e:  # text is decoded in blocks, so the line is not known
            raise AnnotationError(path, 0, f"not UTF-8 text ({e.reason})") from None
    if not rows:
        raise AnnotationError(path, 0, "the file is empty (no rows)")
    return rows


def _row(path, line: int, fields: list[str], detections: bool) -> AvaRow:
    if len(fields) not in ((8,) if detections else (7, 8)):
        expected = f"8 ({_COLUMNS}, score)" if detections else f"7 or 8 ({_COLUMNS}[, person_id])"
        raise AnnotationError(path, line, f"{len(fields)} fields, expected {expected}")
    if not fields[0]:
        raise AnnotationError(path, line, "empty video_id")
    time_s = _parse(path, line, "timestamp", fields[1])
    if time_s < 0:
        raise AnnotationError(path, line, f"timestamp={fields[1]} is negative")
    box = [_parse(path, line, name, text) for name, text in zip(("x1", "y1", "x2", "y2"), fields[2:6])]
    for name, text, value in zip(("x1", "y1", "x2", "y2"), fields[2:6], box):
        if not -_SLACK <= value <= 1 + _SLACK:
            raise AnnotationError(
                path, line, f"{name}={text} is outside [0, 1] (boxes are normalised by the frame's width and height)"
            )
    box = [min(max(v, 0.0), 1.0) for v in box]
    if box[2] <= box[0]:
        raise AnnotationError(path, line, f"x2={fields[4]} is not right of x1={fields[2]}")
    if box[3] <= box[1]:
        raise AnnotationError(path, line, f"y2={fields[5]} is not below y1={fields[3]}")
    action, last = fields[6], fields[7] if len(fields) == 8 else ""
    if detections:
        action_id = None if action in ("", "-1") else _parse(path, line, "action_id", action, int)
        return AvaRow(fields[0], time_s, tuple(box), action_id, None, _parse(path, line, "score", last), line)
    if not action:
        raise AnnotationError(path, line, "missing action_id (only box files may leave it empty)")
    person_id = _parse(path, line, "person_id", last, int) if last else None
    return AvaRow(fields[0], time_s, tuple(box), _parse(path, line, "action_id", action, int), person_id, None, line)


def _open_text(path: str | os.PathLike):
    try:
        return open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(path, 0, "no such file") from None
    except OSError as e:
        raise AnnotationError(path, 0, f"cannot read the file ({e.strerror or e})") from None


def _read_text(path: str | os.PathLike) -> str:
    with _open_text(path) as f:
        try:
            text = f.read()
        except UnicodeDecodeError as e:
            raise AnnotationError(path, 0, f"not UTF-8 text ({e.reason})") from None
    if not text.strip():
        raise AnnotationError(path, 0, "the file is empty")
    return text


def _parse(path, line: int, name: str, text: str, kind: type = float):
    """``kind(text)``, finite, or an error naming the field and its value."""
    try:
        value = kind(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise AnnotationError(path, line, f"{name}={text!r} is not {'an integer' if kind is int else 'a number'}")
    return value


@dataclass(frozen=True, eq=False)
class Keyframe:
    """The people at one keyframe: ``boxes`` float32 ``[P, 4]`` (normalised x1 y1 x2 y2), ``labels``
    per person the 0-based class indices, ``scores`` float32 ``[P]`` (1 for annotated boxes)."""

    video_id: str
    time_s: float
    boxes: np.ndarray
    labels: tuple[frozenset[int], ...]
    scores: np.ndarray

    @property
    def key(self) -> tuple[str, float]:
        return (self.video_id, self.time_s)


def group_keyframes(rows: Sequence[AvaRow], *, label_ids: Sequence[int]) -> list[Keyframe]:
    """Gather rows into keyframes sorted by ``(video_id, time_s)``.

    A person is the rows with one ``person_id`` (persons then sorted by it), or else with one box,
    as AVA writes a row per (person, action). Actions outside ``label_ids`` (class ``i`` is
    ``label_ids[i]``) are dropped, their person kept. Detection rows (with a score) are one
    person each, unlabelled.
    """
    index = {label_id: i for i, label_id in enumerate(label_ids)}
    groups: dict[tuple[str, float], dict[object, list[AvaRow]]] = {}
    for n, row in enumerate(rows):
        person = (
            ("row", n)
            if row.score is not None
            else ("id", row.person_id)
            if row.person_id is not None
            else ("box", row.box)
        )
        groups.setdefault((row.video_id, row.time_s), {}).setdefault(person, []).append(row)
    keyframes = []
    for (video_id, time_s), persons in sorted(groups.items(), key=lambda kv: kv[0]):
        people = list(persons.items())
        if all(kind == "id" for kind, _ in persons):
            people.sort(key=lambda kv: kv[0][1])
        boxes = np.array([own[0].box for _, own in people], dtype=np.float32).reshape(-1, 4)
        labels = tuple(
            frozenset(index[r.action_id] for r in own if r.score is None and r.action_id in index) for _, own in people
        )
        scores = np.array([own[0].score if own[0].score is not None else 1.0 for _, own in people], dtype=np.float32)
        boxes.setflags(write=False)
        scores.setflags(write=False)
        keyframes.append(Keyframe(video_id, time_s, boxes, labels, scores))
    return keyframes


@dataclass
class AvaSplit:
    """One split of AVA: class names and ids in label-map order, the annotated keyframes, what the
    model sees (the same keyframes, with detected boxes when a box file was given), and the videos."""

    classes: tuple[str, ...]
    label_ids: tuple[int, ...]
    ground_truth: list[Keyframe]
    keyframes: list[Keyframe]
    videos: dict[str, Path]
    missing: list[str]
    dropped_rows: int
    excluded_keyframes: int = 0  # keyframes the excluded-timestamps file removed from the split


def open_ava(
    annotations: str | os.PathLike,
    label_map: str | os.PathLike,
    videos: str | os.PathLike,
    *,
    boxes: str | os.PathLike | None = None,
    min_score: float = 0.0,
    excluded: str | os.PathLike | None = None,
) -> AvaSplit:
    """Read a split: its CSV, the label map, and the video files under ``videos`` (matched by stem).

    ``excluded``: AVA's excluded-timestamps file (``video_id,timestamp`` rows, e.g.
    ``ava_val_excluded_timestamps_v2.2.csv``): those keyframes leave the split — ground truth and the
    boxes the model sees — as the official evaluator ignores them.

    With ``boxes`` (a person box file), ``keyframes`` holds its detections scoring ``>= min_score``
    at each annotated keyframe — one entry per ground-truth keyframe, in the same order, with no
    person where the detector found none — as in the AVA protocol, where a model classifies detected
    people. Keyframes of videos with no file are left out of both and their ids listed in ``missing``.
    """
    names = read_label_map(label_map)
    label_ids = tuple(names)
    rows = read_ava_csv(annotations)
    skip = read_exclusions(excluded) if excluded is not None else frozenset()
    before = len({(row.video_id, row.time_s) for row in rows})
    rows = [row for row in rows if (row.video_id, row.time_s) not in skip]
    dropped = sum(row.action_id not in names for row in rows)
    stems = index_by_stem(walk_videos(require_folder(videos, "AVA videos folder")))
    ids = sorted({row.video_id for row in rows})
    found = {video_id: Path(stems[video_id][0]) for video_id in ids if video_id in stems}
    missing = [video_id for video_id in ids if video_id not in stems]
    ground_truth = [kf for kf in group_keyframes(rows, label_ids=label_ids) if kf.video_id in found]
    keyframes = ground_truth
    if boxes is not None:
        detections = [r for r in read_ava_csv(boxes, detections=True) if r.score >= min_score]
        detected = {kf.key: kf for kf in group_keyframes(detections, label_ids=label_ids)}
        nobody = np.zeros((0, 4), dtype=np.float32), (), np.zeros(0, dtype=np.float32)
        keyframes = [
            detected[kf.key] if kf.key in detected else Keyframe(kf.video_id, kf.time_s, *nobody) for kf in ground_truth
        ]
    return AvaSplit(
        classes=tuple(names.values()),
        label_ids=label_ids,
        ground_truth=ground_truth,
        keyframes=keyframes,
        videos=found,
        missing=missing,
        dropped_rows=dropped,
        excluded_keyframes=before - len({(row.video_id, row.time_s) for row in rows}),
    )


def read_exclusions(path: str | os.PathLike) -> frozenset[tuple[str, float]]:
    """The ``(video_id, time_s)`` keyframes of an excluded-timestamps CSV (``video_id,timestamp`` rows)."""
    keys = set()
    with _open_text(path) as f:
        for line, fields in enumerate(csv.reader(f), 1):
            fields = [x.strip() for x in fields]
            if not any(fields):
                continue
            if len(fields) != 2:
                raise AnnotationError(path, line, f"{len(fields)} fields, expected 2 (video_id, timestamp)")
            try:
                keys.add((fields[0], float(fields[1])))
            except ValueError:
                raise AnnotationError(path, line, f"timestamp {fields[1]!r} is not a number") from None
    return frozenset(keys)


def find_exclusions(root: str | os.PathLike, split: str) -> Path | None:
    """``ava_{split}_excluded_timestamps[_vX.Y].csv`` in ``root`` or ``root/annotations`` (the highest
    version), or None where the dataset has none."""
    root = Path(root)
    name = re.compile(rf"ava_{re.escape(split)}_excluded_timestamps(_v\d+(\.\d+)*)?\.csv", re.IGNORECASE)
    found = [
        ((_version(path.name.lower()), -rank), path)
        for rank, folder in enumerate((root, root / "annotations"))
        for path in (sorted(folder.iterdir()) if folder.is_dir() else ())
        if name.fullmatch(path.name) and path.is_file()
    ]
    return max(found)[1] if found else None


def find_ava_files(root: str | os.PathLike, split: str) -> tuple[Path, Path, Path]:
    """``(annotations CSV, label map, videos folder)`` of ``split`` in an AVA folder as downloaded.

    Looks in ``root`` and ``root/annotations`` for ``ava_{split}.csv`` or ``ava_{split}_v2.2.csv``
    (the highest version wins; an unversioned name counts as the lowest) and for a ``.pbtxt`` whose
    name contains ``action_list`` (the 60-class ``activitynet`` map first, then the highest version);
    the videos are in the first of ``root/{split}``, ``root/videos_15min``, ``root/videos``, ``root``.
    """
    root = Path(require_folder(root, "AVA dataset folder"))
    folders = [root, root / "annotations"]
    csv_name = re.compile(rf"ava_{re.escape(split)}(_v\d+(\.\d+)*)?\.csv", re.IGNORECASE)
    csvs, maps = [], []
    for rank, folder in enumerate(folders):
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            name = path.name.lower()
            if csv_name.fullmatch(path.name) and path.is_file():
                csvs.append(((_version(name), -rank), path))
            elif "action_list" in name and name.endswith(".pbtxt") and path.is_file():
                maps.append((("activitynet" in name, _version(name), -rank), path))
    where = f"in {root} or {root / 'annotations'}"
    if not csvs:
        raise ConfigError(f"AVA {split}: no ava_{split}.csv or ava_{split}_v2.*.csv {where}")
    if not maps:
        raise ConfigError(f"AVA {split}: no label map (a .pbtxt named *action_list*) {where}")
    videos = next(p for p in (root / split, root / "videos_15min", root / "videos", root) if p.is_dir())
    return max(csvs)[1], max(maps)[1], videos


def _version(name: str) -> tuple[int, ...]:
    """``ava_val_v2.2.csv`` -> ``(2, 2)``; no version -> ``()``, below any version."""
    m = re.search(r"_v(\d+(?:\.\d+)*)", name)
    return tuple(int(p) for p in m[1].split(".")) if m else ()


class PersonClipDataset(Dataset):
    """One item per keyframe: ``{"frames", "boxes", "targets", "index"}``, or ``{"index", "error"}``
    when the video cannot be read or the keyframe is past its end.

    ``frames`` uint8 ``[T, H, W, 3]`` at ``t_k = time_s - time_offset_s + (k - T // 2) * interval_s``,
    so frame ``T // 2`` is the keyframe; times outside the video repeat its first or last frame.
    ``boxes`` float32 ``[P, 4]`` (normalised), ``targets`` float32 ``[P, num_classes]`` multi-hot.
    """

    def __init__(
        self,
        keyframes: Sequence[Keyframe],
        videos: Mapping[str, str | os.PathLike],
        *,
        num_classes: int,
        num_frames: int,
        interval_s: float,
        backend: str = "pyav",
        time_offset_s: float = 0.0,
    ):
        if num_frames < 1 or not interval_s > 0:
            raise ValueError(f"num_frames={num_frames} must be >= 1 and interval_s={interval_s} > 0")
        for kf in keyframes:
            if kf.video_id not in videos:
                raise ConfigError(f"keyframe {kf.video_id} at {kf.time_s:g} s: no video file given for it")
            if any(c >= num_classes or c < 0 for labels in kf.labels for c in labels):
                raise ConfigError(
                    f"keyframe {kf.video_id} at {kf.time_s:g} s has a class outside "
                    f"0..{num_classes - 1} (num_classes={num_classes})"
                )
        self.keyframes = list(keyframes)
        self.videos = {k: os.fspath(v) for k, v in videos.items()}
        self.num_classes = num_classes
        self.num_frames = num_frames
        self.interval_s = interval_s
        self.backend = backend
        self.time_offset_s = time_offset_s

    def __len__(self) -> int:
        return len(self.keyframes)

    def set_epoch(self, epoch: int) -> None:
        """The trainer's per-epoch call; the clips are fixed (centred on their keyframes), so nothing changes."""

    def __getitem__(self, index: int) -> dict:
        from vidkit.io import open_video

        kf = self.keyframes[index]
        path = self.videos[kf.video_id]
        try:
            with open_video(path, backend=self.backend) as video:
                plan = self._plan(path, kf, video.info)
                clip = read_clips(video, [plan])[0]
        except VideoDecodeError as e:
            return {"index": index, "error": str(e)}
        targets = torch.zeros(len(kf.labels), self.num_classes)
        for person, labels in enumerate(kf.labels):
            targets[person, sorted(labels)] = 1.0
        return {
            "frames": clip.frames.contiguous(),
            "boxes": torch.from_numpy(kf.boxes.copy()).reshape(-1, 4),
            "targets": targets,
            "index": index,
        }

    def _plan(self, path: str, kf: Keyframe, info) -> ClipPlan:
        """The clip's times around the keyframe, clamped into the video (``padded`` when any was)."""
        start, duration, fps = float(info.start_s), float(info.duration_s), float(info.fps)
        if not (math.isfinite(start) and math.isfinite(duration) and math.isfinite(fps) and fps > 0):
            raise VideoDecodeError(path, f"no usable timing (start {start}, duration {duration}, fps {fps})")
        frame_s = 1.0 / fps
        last = start + max(duration - frame_s, 0.0)
        centre = kf.time_s - self.time_offset_s
        hint = (
            "; AVA's 15-minute cuts start at 900 s (time_offset_s=900)"
            if self.time_offset_s == 0
            else f" with time_offset_s={self.time_offset_s:g}"
        )
        if centre > last + frame_s + 1e-6 or centre < start - frame_s - 1e-6:
            where = "past the end of" if centre > start else "before the start of"
            raise VideoDecodeError(
                path,
                f"keyframe at {kf.time_s:g} s ({centre:g} s into the file) is {where} "
                f"the video ({duration:.3f} s long, from {start:g} s){hint}",
            )
        wanted = [centre + (k - self.num_frames // 2) * self.interval_s for k in range(self.num_frames)]
        times = tuple(min(max(t, start), last) for t in wanted)
        padded = any(abs(a - b) > 1e-6 for a, b in zip(times, wanted))
        end = min(times[-1] + self.interval_s, max(start + duration, last + frame_s))
        return ClipPlan(timestamps=times, start_s=times[0], end_s=end, padded=padded)


def collate_persons(items: list[dict]) -> dict:
    """Batch the decodable items; list the others' errors under ``"errors"``.

    ``boxes`` float32 ``[K, 5]`` is ``(clip position in the batch, x1, y1, x2, y2)`` for every person
    of every clip in order (the layout RoIAlign takes), ``targets`` ``[K, C]`` their multi-hot labels,
    ``persons`` ``[B]`` how many rows each clip has; a clip with no person adds frames and no rows.
    """
    good, batch = collate_frames(items)
    if not good:
        return batch
    batch["boxes"] = torch.cat(
        [
            torch.cat([torch.full((len(it["boxes"]), 1), float(b)), it["boxes"].float()], dim=1)
            for b, it in enumerate(good)
        ]
    )
    batch["targets"] = torch.cat([it["targets"].float() for it in good])
    batch["index"] = torch.tensor([it["index"] for it in good], dtype=torch.long)
    batch["persons"] = torch.tensor([len(it["boxes"]) for it in good], dtype=torch.long)
    return batch


class AvaData:
    """AVA as downloaded: the label map, the split CSVs and the videos, found under ``root`` (or the
    ``annotations`` folder and ``videos`` folder given apart); splits are opened when asked for."""

    default_flip = True  # AVA's actions have no left/right pairs

    def __init__(self, root: str | None, *, annotations: str | None = None, videos: str | None = None):
        if not (root or annotations):
            raise ConfigError("--data ava needs --data-root DIR (the AVA folder as downloaded), or data.annotations")
        self.root, self.annotations_root, self.videos_root = root, annotations, videos
        self._opened: dict = {}
        self.classes = tuple(self.split("train").classes)

    def split(self, name: str, *, boxes: str | None = None, min_score: float = 0.0):
        """The split's :class:`~vidkit.data.ava.AvaSplit` (read once: AVA's train CSV has ~800k rows)."""
        key = (name, boxes, min_score)
        if key not in self._opened:
            root = self.annotations_root or self.root
            annotations, label_map, videos = find_ava_files(root, name)
            self._opened[key] = open_ava(
                annotations,
                label_map,
                self.videos_root or videos,
                boxes=boxes,
                min_score=min_score,
                excluded=find_exclusions(root, name),
            )
        return self._opened[key]


def ava_split(dataset, split: str, *, boxes: str | None = None, min_score: float = 0.0):
    """Split ``split`` of an :class:`AvaData` or of the synthetic actors set (its folder has AVA's files)."""
    if isinstance(dataset, AvaData):
        return dataset.split(split, boxes=boxes, min_score=min_score)
    return AvaData(str(dataset.root)).split(split, boxes=boxes, min_score=min_score)
