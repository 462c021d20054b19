"""The synthetic set's "novel" variant (motions the motion variant does not have: the four diagonal
moves and an orbit, for fine-tuning), and that adding it left the other variants' sets as they were."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json

import av
import numpy as np
import pytest

from vidkit.data.synthetic import (
    CLASSES,
    NOVEL_CLASSES,
    NOVEL_REVERSAL_PAIRS,
    REVERSAL_PAIRS,
    SyntheticSpec,
    render_video,
    synthetic_catalog,
    synthetic_dataset,
)
from vidkit.errors import ConfigError

NOVEL = SyntheticSpec(
    variant="novel", num_train_per_class=1, num_val_per_class=1, size=(64, 64), num_frames=16, background="dark"
)
DIAGONAL_SIGNS = {
    "move_down_right": (1, 1),
    "move_down_left": (-1, 1),
    "move_up_right": (1, -1),
    "move_up_left": (-1, -1),
}


@pytest.fixture(scope="module")
def novel(tmp_path_factory):
    return synthetic_dataset(NOVEL, root=tmp_path_factory.mktemp("novel"), progress=False, workers=2)


def _decode(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])


def _centroids(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Per-frame (x, y) centroid of the pixels well away from the background colour, from pixels alone."""
    diff = np.abs(frames.astype(np.int16) - background.astype(np.int16)).max(axis=-1) > 40  # [T, H, W]
    assert diff.any(axis=(1, 2)).all(), "a frame without the object"
    ys, xs = np.mgrid[0 : frames.shape[1], 0 : frames.shape[2]] + 0.5
    count = diff.sum(axis=(1, 2))
    return np.stack([(diff * xs).sum(axis=(1, 2)) / count, (diff * ys).sum(axis=(1, 2)) / count], axis=1)


def _centres(boxes: np.ndarray) -> np.ndarray:
    """Exact object centres [T, 2] from the boxes of a one-object render (its angle never changes, so
    the box centre is the object's centre plus a constant)."""
    x1, y1, x2, y2 = np.moveaxis(boxes[:, 0], -1, 0)
    return np.stack([(x1 + x2) / 2, (y1 + y2) / 2], axis=1)


def test_novel_set_has_six_new_classes_and_its_videos_decode(novel):
    assert NOVEL_CLASSES == tuple(sorted(NOVEL_CLASSES)) and len(NOVEL_CLASSES) == 6
    assert not set(NOVEL_CLASSES) & set(CLASSES)
    assert novel.classes == NOVEL_CLASSES == NOVEL.classes
    assert SyntheticSpec.from_config({"variant": "novel"}).classes == NOVEL_CLASSES
    assert novel.root.name == NOVEL.name and novel.root.name.startswith("novel-")
    assert (novel.root / "classes.txt").read_text().splitlines() == list(NOVEL_CLASSES)
    assert json.loads((novel.root / "manifest.json").read_text())["classes"] == list(NOVEL_CLASSES)
    for split in ("train", "val"):
        with open(novel.annotations(split), newline="") as f:
            rows = list(csv.DictReader(f))
        samples = novel.samples(split)
        assert len(rows) == len(samples) == len(NOVEL_CLASSES)
        assert sorted(row["label"] for row in rows) == list(NOVEL_CLASSES)
        for row, (path, label) in zip(rows, samples):
            assert NOVEL_CLASSES[label] == row["label"]
            assert path == novel.root / split / row["label"] / f"{row['youtube_id']}_000000_000001.mp4"
            assert _decode(path).shape == (16, 64, 64, 3)
    # a run's config naming the variant finds the same set, with its classes
    config = {
        "data": {
            "synthetic": {
                "variant": "novel",
                "train_per_class": 1,
                "val_per_class": 1,
                "size": [64, 64],
                "num_frames": 16,
                "background": "dark",
            }
        }
    }
    catalog = synthetic_catalog(config, split="val", root=str(novel.root.parent))
    assert catalog.classes == NOVEL_CLASSES and len(catalog.entries) == len(NOVEL_CLASSES)


def test_a_diagonal_clip_moves_diagonally_in_the_decoded_pixels(novel):
    video = novel.train[NOVEL_CLASSES.index("move_down_right")]
    assert NOVEL_CLASSES[video.label] == "move_down_right"
    frames = _decode(video.path)
    background = render_video(NOVEL, split="train", index=video.index).background
    track = _centroids(frames, background)
    step = np.diff(track, axis=0)
    assert (step[:, 0] > 0).all() and (step[:, 1] > 0).all(), f"not down and to the right: {track.round(1).tolist()}"
    dx, dy = track[-1] - track[0]
    assert dx > 10 and dy > 10  # both at least about half the 64-pixel frame's free range


@pytest.mark.parametrize("cls", sorted(DIAGONAL_SIGNS))
def test_every_diagonal_moves_both_ways_with_its_sign(cls):
    spec = dataclasses.replace(NOVEL, num_train_per_class=4)
    sx, sy = DIAGONAL_SIGNS[cls]
    for index in range(NOVEL_CLASSES.index(cls), spec.num_videos("train"), len(NOVEL_CLASSES)):
        video = render_video(spec, split="train", index=index)
        assert NOVEL_CLASSES[video.label] == cls
        track = _centroids(video.frames, video.background)
        dx, dy = track[-1] - track[0]
        assert sx * dx > 0.4 * abs(dy) and sy * dy > 0.4 * abs(dx), f"{cls}: moved by ({dx:.1f}, {dy:.1f})"
        assert (video.boxes[..., [0, 1]] >= 0).all() and (video.boxes[..., [2, 3]] <= 64).all()  # inside the frame


@pytest.mark.parametrize("cls,sign", [("orbit_cw", 1), ("orbit_ccw", -1)])
def test_orbits_go_round_a_fixed_centre_in_their_direction(cls, sign):
    spec = dataclasses.replace(NOVEL, num_train_per_class=4, num_frames=24)
    for index in range(NOVEL_CLASSES.index(cls), spec.num_videos("train"), len(NOVEL_CLASSES)):
        video = render_video(spec, split="train", index=index)
        path = _centres(video.boxes)
        # The circle through the path (x^2 + y^2 + D x + E y + F = 0, least squares) fits every point.
        a = np.column_stack([path, np.ones(len(path))])
        d, e, f = np.linalg.lstsq(a, -(path**2).sum(1), rcond=None)[0]
        centre = np.array([-d / 2, -e / 2])
        radius = np.sqrt(centre @ centre - f)
        assert np.abs(np.linalg.norm(path - centre, axis=1) - radius).max() < 1e-6
        assert 0.18 * 64 - 1e-9 <= radius <= 0.28 * 64 + 1e-9
        # Swept angle, with y down: increasing (clockwise on screen) for orbit_cw, decreasing for orbit_ccw.
        turn = np.diff(np.unwrap(np.arctan2(*(path - centre).T[::-1])))
        assert (sign * turn > 0).all()
        assert np.pi - 1e-6 <= abs(turn.sum()) <= 1.5 * np.pi + 1e-6
        # and from the pixels: the centroid turns the same way about the same centre
        seen = _centroids(video.frames, video.background) - centre
        assert (sign * np.diff(np.unwrap(np.arctan2(seen[:, 1], seen[:, 0]))) > 0).all()


def test_novel_reversal_pairs_play_the_forward_clip_backwards():
    assert NOVEL.reversal_pairs == NOVEL_REVERSAL_PAIRS and ("orbit_cw", "orbit_ccw") in NOVEL_REVERSAL_PAIRS
    assert sorted(c for pair in NOVEL_REVERSAL_PAIRS for c in pair) == list(NOVEL_CLASSES)
    assert SyntheticSpec().reversal_pairs == REVERSAL_PAIRS
    spec = dataclasses.replace(NOVEL, num_train_per_class=2)
    for forward, backward in NOVEL_REVERSAL_PAIRS:
        for index in range(NOVEL_CLASSES.index(backward), spec.num_videos("train"), len(NOVEL_CLASSES)):
            clip = render_video(spec, split="train", index=index)
            assert NOVEL_CLASSES[clip.label] == backward
            twin = render_video(spec, split="train", index=index, label=forward)
            assert NOVEL_CLASSES[twin.label] == forward
            assert np.array_equal(clip.frames, twin.frames[::-1])
            assert not np.array_equal(clip.frames, twin.frames)


def test_novel_labels_are_its_own_classes():
    with pytest.raises(ConfigError, match="unknown synthetic class 'grow'; the classes are move_down_left, "):
        render_video(NOVEL, split="train", index=0, label="grow")
    with pytest.raises(ConfigError, match=r"synthetic class index 6 out of range \(0..5\)"):
        render_video(NOVEL, split="train", index=0, label=6)


# ---------------------------------------------------------------------------------------------
# The other variants are untouched: same folders (so cached sets stay valid), same draws


def test_existing_variants_keep_their_folder_names_and_draws():
    # Folder names as they were before the novel variant existed (GENERATOR_VERSION 3).
    assert SyntheticSpec().name == "motion-0fb85b493f"
    assert SyntheticSpec(background="dark").name == "motion-2211667148"
    small = SyntheticSpec(num_train_per_class=2, num_val_per_class=1, size=(64, 64), num_frames=16)
    assert small.name == "motion-8eda2d7e07"
    assert SyntheticSpec(variant="long").name == "long-04e91da8e9"
    assert SyntheticSpec(variant="actors").name == "actors-14ea91b33d"
    assert SyntheticSpec().classes == CLASSES and SyntheticSpec(variant="actors").classes == CLASSES
    assert small.num_videos("train") == 2 * len(CLASSES)
    # Every draw of a few videos of each variant (labels, evidence windows, object boxes to 1e-3 px,
    # background colour), as the generator wrote them before: a change here changes cached sets, which
    # needs GENERATOR_VERSION bumped (and this digest and the names above updated).
    digest = hashlib.sha1()
    for variant in ("motion", "long", "actors"):
        spec = SyntheticSpec(
            variant=variant,
            num_train_per_class=1,
            num_val_per_class=1,
            size=(64, 64),
            num_frames=30,
            background="dark",
            evidence_s=(0.4, 0.8),
        )
        for split in ("train", "val"):
            for index in range(spec.num_videos(split)):
                v = render_video(spec, split=split, index=index)
                draws = (v.labels, v.evidence_frames, np.round(v.boxes, 3).tolist(), v.background[0, 0].tolist())
                digest.update(repr(draws).encode())
    assert digest.hexdigest() == "c2d2d0087917195cc5099f0c1246f82ef10c25f0"
