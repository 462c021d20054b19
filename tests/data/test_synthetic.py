"""The synthetic-motion dataset: layout and formats on disk, real H.264 files with B-frames,
determinism, the reversal property that makes frame order the only cue, repair of damaged sets,
and the long and actors variants."""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import hashlib
import json
import math
import multiprocessing
import re
import time
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from vidkit.data.synthetic import (
    CLASSES,
    REVERSAL_PAIRS,
    SyntheticSpec,
    render_video,
    synthetic_dataset,
)
from vidkit.errors import ConfigError

SMALL = SyntheticSpec(num_train_per_class=2, num_val_per_class=1, size=(64, 64), num_frames=16)


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return synthetic_dataset(SMALL, root=tmp_path_factory.mktemp("synthetic"), progress=False, workers=2)


def _decode(path: Path) -> tuple[np.ndarray, list[str], av.codec.context.CodecContext]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, types = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            types.append(PictureType(frame.pict_type).name)
        return np.stack(frames), types, stream.codec_context


def _object_x(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Per-frame x-centroid of the pixels that differ from the background: the object's position
    measured from the pixels alone."""
    diff = np.abs(frames.astype(np.int16) - background.astype(np.int16)).max(axis=-1) > 30  # [T, H, W]
    xs = np.arange(frames.shape[2]) + 0.5
    return (diff * xs).sum(axis=(1, 2)) / diff.sum(axis=(1, 2))


def _ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    grid = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


# ---------------------------------------------------------------------------------------------
# Layout and formats


def test_layout_csv_and_classes(built):
    root = built.root
    assert root.name == SMALL.name and root.name.startswith("motion-")
    assert list(CLASSES) == sorted(CLASSES)
    assert (root / "classes.txt").read_text().splitlines() == list(CLASSES)
    assert built.classes == CLASSES
    for split, per_class in (("train", 2), ("val", 1)):
        with open(root / f"{split}.csv", newline="") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames == ["label", "youtube_id", "time_start", "time_end", "split"]
            rows = list(reader)
        assert len(rows) == per_class * len(CLASSES)
        assert sorted(r["label"] for r in rows) == sorted(CLASSES * per_class)
        samples = built.samples(split)
        for row, (path, label) in zip(rows, samples):
            assert row["split"] == split and (row["time_start"], row["time_end"]) == ("0", "1")  # 16 frames = 0.64 s
            assert path == root / split / row["label"] / f"{row['youtube_id']}_000000_000001.mp4"
            assert path.is_file()
            assert CLASSES[label] == row["label"]
    ids = [v.video_id for v in built.train + built.val]
    assert len(set(ids)) == len(ids)  # unique across splits, as YouTube ids are


def test_manifest_lists_every_file_with_size_and_checksum(built):
    manifest = _manifest(built.root)
    on_disk = {
        p.relative_to(built.root).as_posix()
        for p in built.root.rglob("*")
        if p.is_file() and p.name not in ("manifest.json", ".lock")
    }
    assert set(manifest["files"]) == on_disk
    for rel, entry in manifest["files"].items():
        assert entry["size"] == (built.root / rel).stat().st_size
        assert entry["sha1"] == _sha1(built.root / rel)
    assert manifest["params"]["num_frames"] == 16 and manifest["params"]["generator_version"] >= 1


def test_files_are_h264_with_i_p_and_b_frames_matching_the_render(built):
    for video in built.train[:8]:
        frames, types, codec = _decode(video.path)
        assert codec.name == "h264" and codec.has_b_frames
        assert frames.shape == (16, 64, 64, 3)
        assert {"I", "P", "B"} <= set(types)
        rendered = render_video(SMALL, split=video.split, index=video.index).frames

        def psnr(a: np.ndarray, frames: np.ndarray = frames) -> float:
            return float(10 * np.log10(255**2 / np.mean((frames.astype(np.float64) - a) ** 2)))

        # x264 at crf 23 on 64x64 textures keeps ~24-30 dB; the same video's frames in reverse
        # order, or another video, score far lower, so this checks what was encoded, frame by frame.
        assert psnr(rendered) > 22, f"{video.path.name}: decoded frames far from the render ({psnr(rendered):.1f} dB)"
        assert psnr(rendered) > psnr(rendered[::-1]) + 3


# ---------------------------------------------------------------------------------------------
# Determinism


def test_render_is_deterministic():
    a = render_video(SMALL, split="train", index=3)
    b = render_video(SMALL, split="train", index=3)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.boxes, b.boxes)
    assert not np.array_equal(a.frames, render_video(SMALL, split="val", index=3).frames)
    assert not np.array_equal(a.frames, render_video(dataclasses.replace(SMALL, seed=1), split="train", index=3).frames)


def test_regenerating_elsewhere_gives_identical_files(built, tmp_path):
    again = synthetic_dataset(SMALL, root=tmp_path, progress=False, workers=1)
    assert again.root != built.root
    assert _manifest(again.root)["files"] == _manifest(built.root)["files"]


def test_name_hashes_the_parameters():
    assert SyntheticSpec().name == SyntheticSpec(num_frames=48).name  # default resolved before hashing
    assert SyntheticSpec().name != SyntheticSpec(seed=1).name
    assert SyntheticSpec(variant="long").name.startswith("long-")
    with pytest.raises(ConfigError, match="unknown synthetic variant"):
        SyntheticSpec(variant="motoin")
    with pytest.raises(ConfigError, match="even"):
        SyntheticSpec(size=(63, 64))
    assert SyntheticSpec().name != SyntheticSpec(background="dark").name
    with pytest.raises(ConfigError, match="unknown synthetic background 'black'; choose one of texture, dark"):
        SyntheticSpec(background="black")


def test_from_config_reads_the_yaml_section_and_keeps_defaults_for_missing_keys():
    section = {
        "train_per_class": 4,
        "val_per_class": 2,
        "size": [64, 96],
        "num_frames": 100,
        "seed": 0,
        "background": "dark",
        "variant": "long",
    }
    assert SyntheticSpec.from_config(section) == SyntheticSpec(
        variant="long",
        num_train_per_class=4,
        num_val_per_class=2,
        size=(64, 96),
        num_frames=100,
        seed=0,
        background="dark",
    )
    # a checkpoint saved before a key existed (or with it null) names the set with the default
    assert SyntheticSpec.from_config({"train_per_class": 4, "variant": None}) == SyntheticSpec(num_train_per_class=4)
    assert SyntheticSpec.from_config(None) == SyntheticSpec.from_config({}) == SyntheticSpec()


def test_dark_background_is_flat_and_every_object_is_brighter():
    """The default run's set: one flat dark colour behind each object, the object brighter in every
    frame (one edge polarity)."""
    dark = dataclasses.replace(SMALL, background="dark")
    for index in range(len(CLASSES)):
        video = render_video(dark, split="train", index=index)
        textured = render_video(SMALL, split="train", index=index)
        assert video.label == textured.label
        assert (video.background == video.background[0, 0]).all() and video.background.max() <= 38
        assert not (textured.background == textured.background[0, 0]).all()
        luma = video.frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # [T, H, W]
        background_luma = float(video.background[0, 0] @ np.array([0.299, 0.587, 0.114]))
        moving = np.abs(video.frames.astype(np.int16) - video.background.astype(np.int16)).max(-1) > 60
        assert moving.any(axis=(1, 2)).all()
        assert (luma[moving] > background_luma).all(), f"{CLASSES[video.label]}: an object darker than its background"


# ---------------------------------------------------------------------------------------------
# The reversal property: order is the only cue within a pair


@pytest.mark.parametrize("forward,backward", REVERSAL_PAIRS)
def test_backward_clip_is_a_forward_clip_reversed(forward, backward):
    spec = SyntheticSpec(num_train_per_class=3, size=(64, 64), num_frames=16)
    for index in range(CLASSES.index(backward), spec.num_videos("train"), len(CLASSES)):
        clip = render_video(spec, split="train", index=index)
        assert CLASSES[clip.label] == backward
        # The same random draws labelled with the forward class: a valid forward sample ...
        twin = render_video(spec, split="train", index=index, label=forward)
        x1, y1, x2, y2 = np.moveaxis(twin.boxes[:, 0], -1, 0)
        increasing = {"move_right": x1 + x2, "move_down": y1 + y2, "grow": x2 - x1}.get(forward)
        if increasing is not None:
            assert np.all(np.diff(increasing) > 0), f"{forward} sample does not increase"
        # ... and the backward clip is exactly it played in reverse, yet not the same clip.
        assert np.array_equal(clip.frames, twin.frames[::-1])
        assert not np.array_equal(clip.frames, twin.frames)


def test_order_blind_feature_cannot_separate_left_from_right():
    """Measured from pixels: the time-averaged x of the object has one distribution for left and
    right, while x at the end minus x at the start separates them perfectly, and x in the first
    frame alone (which uses order: which frame is first) separates them too."""
    n = 40
    spec = SyntheticSpec(num_train_per_class=n, size=(64, 64), num_frames=16)
    features = {}
    for cls in ("move_left", "move_right"):
        tracks = []
        for k in range(n):
            video = render_video(spec, split="train", index=k * len(CLASSES) + CLASSES.index(cls))
            assert CLASSES[video.label] == cls
            tracks.append(_object_x(video.frames, video.background))
        features[cls] = np.stack(tracks)  # [n, T]
    left, right = features["move_left"], features["move_right"]
    assert np.all(right[:, -1] - right[:, 0] > 0) and np.all(left[:, -1] - left[:, 0] < 0)
    critical = 1.63 * math.sqrt(2 / n)  # KS critical value at alpha = 0.01
    assert _ks_statistic(left.mean(1), right.mean(1)) < critical
    assert _ks_statistic(np.sort(left, 1)[:, 3], np.sort(right, 1)[:, 3]) < critical  # any order statistic
    assert _ks_statistic(left[:, 0], right[:, 0]) > critical  # the test has the power to see a difference


# ---------------------------------------------------------------------------------------------
# Repair and locking


def test_damaged_and_missing_files_are_rebuilt_and_others_untouched(tmp_path):
    ds = synthetic_dataset(SMALL, root=tmp_path, progress=False, workers=2)
    manifest = _manifest(ds.root)
    truncated, deleted, flipped = ds.train[0].path, ds.val[3].path, ds.train[5].path
    truncated.write_bytes(truncated.read_bytes()[:100])
    deleted.unlink()
    (ds.root / "val.csv").unlink()
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only a checksum check sees it
    flipped.write_bytes(bytes(data))
    time.sleep(0.01)
    damaged = {truncated, deleted, flipped, ds.root / "val.csv"}
    mtimes = {p: p.stat().st_mtime_ns for p in ds.root.rglob("*") if p.is_file() and p not in damaged}
    mtimes.pop(ds.root / "manifest.json")

    synthetic_dataset(SMALL, root=tmp_path, progress=False)
    for path in (truncated, deleted, ds.root / "val.csv"):
        assert _sha1(path) == manifest["files"][path.relative_to(ds.root).as_posix()]["sha1"]
    assert _sha1(flipped) != manifest["files"][flipped.relative_to(ds.root).as_posix()]["sha1"]
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())

    synthetic_dataset(SMALL, root=tmp_path, progress=False, verify="checksum")
    assert _manifest(ds.root)["files"] == manifest["files"]
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())


def test_interrupted_build_keeps_finished_videos(tmp_path):
    ds = synthetic_dataset(SMALL, root=tmp_path, progress=False, workers=2)
    manifest = _manifest(ds.root)
    (ds.root / "manifest.json").unlink()  # as if killed just before the manifest
    ds.train[2].path.unlink()
    mtimes = {v.path: v.path.stat().st_mtime_ns for v in ds.train + ds.val if v.path.exists()}
    synthetic_dataset(SMALL, root=tmp_path, progress=False)
    assert _manifest(ds.root)["files"] == manifest["files"]
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())


def _build_in_child(root: str) -> None:
    synthetic_dataset(SMALL, root=root, progress=False, workers=1)


def test_generation_waits_for_the_lock(tmp_path):
    folder = tmp_path / SMALL.name
    folder.mkdir()
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        child = multiprocessing.get_context("fork").Process(target=_build_in_child, args=(str(tmp_path),))
        child.start()
        time.sleep(1.0)
        assert [p.name for p in folder.iterdir()] == [".lock"], "generated while another process held the lock"
        fcntl.flock(lock, fcntl.LOCK_UN)
    child.join(60)
    assert child.exitcode == 0
    assert (folder / "manifest.json").is_file()


# ---------------------------------------------------------------------------------------------
# Variants


def test_long_variant_shows_the_object_only_inside_the_evidence_window(tmp_path):
    spec = SyntheticSpec(
        variant="long", num_train_per_class=1, num_val_per_class=0, size=(64, 64), num_frames=60, evidence_s=(0.4, 0.8)
    )
    ds = synthetic_dataset(spec, root=tmp_path, progress=False)
    with open(ds.annotations("train"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(CLASSES)
    assert list(rows[0])[:5] == ["label", "youtube_id", "time_start", "time_end", "split"]
    starts = []
    for row, video in zip(rows, ds.train):
        start_s, end_s = float(row["evidence_start_s"]), float(row["evidence_end_s"])
        assert video.evidence_s == pytest.approx((start_s, end_s))
        assert 0.4 - 1e-9 <= end_s - start_s - 1 / spec.fps <= 0.8 + 1e-9  # length + 1 frames are shown
        a, b = round(start_s * spec.fps), round(end_s * spec.fps)
        render = render_video(spec, split="train", index=video.index, masks=True)
        shown = render.masks[:, 1].any(axis=(1, 2))  # object 1 is the class's; object 0 the distractor
        assert np.array_equal(np.flatnonzero(shown), np.arange(a, b)), "object visible outside its window"
        object_moves = np.any(render.boxes[1:, 1] != render.boxes[:-1, 1], axis=1)
        assert object_moves[a : b - 1].all(), "object paused inside the window"
        # the distractor is there all along, still but for a jump every 2 s (50 frames)
        assert render.masks[:, 0].any(axis=(1, 2)).all()
        jumps = np.flatnonzero(np.any(render.boxes[1:, 0] != render.boxes[:-1, 0], axis=1)) + 1
        assert set(jumps.tolist()) <= {50, 60 - 50}  # at 2 s, or 2 s before the end in a clip played backwards
        starts.append(a)
    assert len(set(starts)) > 1  # the window is placed at random
    decoded, _, _ = _decode(ds.train[0].path)
    assert decoded.shape == (60, 64, 64, 3)
    # The reversal property holds with the window (and the distractor's jumps) mirrored.
    backward = render_video(spec, split="train", index=CLASSES.index("shrink"))
    forward = render_video(spec, split="train", index=CLASSES.index("shrink"), label="grow")
    assert np.array_equal(backward.frames, forward.frames[::-1])
    assert backward.evidence_frames == (60 - forward.evidence_frames[1], 60 - forward.evidence_frames[0])


def test_actors_variant_writes_ava_boxes_that_fit_the_objects(tmp_path):
    spec = SyntheticSpec(variant="actors", num_train_per_class=1, num_val_per_class=1, size=(64, 64), num_frames=75)
    ds = synthetic_dataset(spec, root=tmp_path, progress=False)
    pbtxt = (ds.root / "ava_action_list.pbtxt").read_text()
    entries = re.findall(r'label \{\s*name: "([^"]+)"\s*label_id: (\d+)\s*label_type: PERSON_MOVEMENT\s*\}', pbtxt)
    assert entries == [(c, str(i + 1)) for i, c in enumerate(CLASSES)]

    for split in ("train", "val"):
        videos = {v.video_id: v for v in ds.videos(split)}
        with open(ds.annotations(split), newline="") as f:
            rows = list(csv.reader(f))  # AVA files have no header
        assert {r[0] for r in rows} == set(videos)
        deviations = []
        for video_id, video in videos.items():
            assert video.path == ds.root / split / f"{video_id}.mp4" and video.path.is_file()
            own = [r for r in rows if r[0] == video_id]
            assert len(own) == 2 * len(video.labels)  # keyframes at 1 s and 2 s of a 3 s clip
            render = render_video(spec, split=split, index=video.index, masks=True)
            for _, stamp, x1, y1, x2, y2, action, person in own:
                box = np.array([float(x1), float(y1), float(x2), float(y2)])
                assert np.all((0 <= box) & (box <= 1)) and box[0] < box[2] and box[1] < box[3]
                assert stamp in ("0001", "0002")
                k, t = int(person), round(int(stamp) * spec.fps)
                assert int(action) == video.labels[k] + 1
                rows_idx, cols_idx = np.nonzero(render.masks[t, k])
                tight = np.array([cols_idx.min(), rows_idx.min(), cols_idx.max() + 1, rows_idx.max() + 1])
                deviations.append(np.abs(box * 64 - tight))
        deviations = np.concatenate(deviations)
        assert deviations.max() <= 2.0 and deviations.mean() < 0.75
    frames, types, codec = _decode(ds.train[0].path)
    assert frames.shape == (75, 64, 64, 3) and codec.name == "h264" and "B" in types
    assert any(len(v.labels) > 1 for v in ds.train) and all(v.label == -1 for v in ds.train if len(v.labels) > 1)
