"""A folder of class sub-folders without splits: the stratified, seeded validation split, its lists, and
reading them back as the folder's splits."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from vidkit.data.catalog import open_catalog
from vidkit.data.lists import read_list
from vidkit.data.split import split_folder, stratified_split
from vidkit.errors import ConfigError

CLASSES = ("clap", "jump", "wave", "zoom")
COUNTS = {"clap": 20, "jump": 10, "wave": 2, "zoom": 3}


def _samples(counts: dict[str, int] = COUNTS) -> list[tuple[str, int]]:
    return [(f"{name}/v{i:02d}.mp4", label) for label, (name, n) in enumerate(counts.items()) for i in range(n)]


def _folder(root: Path, counts: dict[str, int] = COUNTS) -> Path:
    """``root/<class>/v<i>.mp4`` (every third one a level deeper): empty files, which a catalog lists
    without decoding."""
    for name, n in counts.items():
        for i in range(n):
            path = root / name / ("day2" if i % 3 == 2 else "") / f"v{i:02d}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    return root


# -- stratified_split ------------------------------------------------------------------------------
def test_stratified_every_class_gets_its_share_and_keeps_one_to_train():
    samples = _samples()
    for fraction, expected in ((0.1, [2, 1, 1, 1]), (0.5, [10, 5, 1, 2]), (0.9, [18, 9, 1, 2])):
        train, val = stratified_split(samples, CLASSES, val_fraction=fraction, seed=0)
        assert [sum(label == k for _, label in val) for k in range(4)] == expected
        assert all(any(label == k for _, label in train) for k in range(4))
        assert sorted(train + val) == sorted(samples) and not set(train) & set(val)
        assert train == sorted(train) and val == sorted(val)


def test_stratified_is_reproducible_and_the_seed_changes_it():
    samples = _samples()
    first = stratified_split(samples, CLASSES, val_fraction=0.25, seed=0)
    assert stratified_split(list(reversed(samples)), CLASSES, val_fraction=0.25, seed=0) == first
    other = stratified_split(samples, CLASSES, val_fraction=0.25, seed=1)
    assert other != first
    clap = lambda split: [p for p, label in split[1] if label == 0]  # noqa: E731
    assert clap(other) != clap(first)


def test_a_class_added_elsewhere_does_not_reshuffle_the_others():
    _, val = stratified_split(_samples(), CLASSES, val_fraction=0.3, seed=3)
    more = {"aaa": 7, **COUNTS}  # a new class first: every label moves by one
    _, val_more = stratified_split(_samples(more), ("aaa", *CLASSES), val_fraction=0.3, seed=3)
    assert {p for p, _ in val} == {p for p, label in val_more if label > 0}


@pytest.mark.parametrize("n", [0, 1])
def test_a_class_with_too_few_videos_is_one_clear_line(n):
    counts = {"clap": 5, "jump": 4, "wave": n}
    with pytest.raises(ConfigError) as e:
        stratified_split(_samples(counts), ("clap", "jump", "wave"), where="/data/x")
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"folder: /data/x: class 'wave' has {n} video{'' if n == 1 else 's'}; ")
    assert "at least 2 a class" in message and "train/ and val/ sub-folders" in message


@pytest.mark.parametrize("fraction", [0, 1, 1.0, -0.1, 1.5, math.nan, True, "0.1"])
def test_val_fraction_outside_0_1_is_refused(fraction, tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.val_fraction: .* is not between 0 and 1"):
        stratified_split(_samples(), CLASSES, val_fraction=fraction)
    with pytest.raises(ConfigError, match=r"^data\.val_fraction"):
        split_folder(_folder(tmp_path / "videos"), out_dir=tmp_path / "splits", val_fraction=fraction)
    assert not (tmp_path / "splits").exists()


# -- split_folder and the folder's lists -------------------------------------------------------------
def test_lists_round_trip_through_open_catalog(tmp_path):
    folder = _folder(tmp_path / "videos")
    out = split_folder(folder, out_dir=tmp_path / "run" / "splits", val_fraction=0.2, seed=5)
    assert out == str(tmp_path / "run" / "splits")
    whole = open_catalog("folder", root=folder)
    keys = [e.key for e in whole.entries]
    expected_train, expected_val = stratified_split(
        [(e.key, e.label) for e in whole.entries], whole.classes, val_fraction=0.2, seed=5
    )
    parts = {}
    for split, expected in (("train", expected_train), ("val", expected_val)):
        catalog = open_catalog("folder", root=folder, annotations=out, split=split)
        assert catalog.classes == whole.classes == CLASSES
        assert [(e.key, e.label) for e in catalog.entries] == expected
        assert catalog.samples() == [(str(folder / key), label) for key, label in expected]
        assert catalog.annotations == os.path.join(out, f"{split}.txt") and not catalog.missing
        parts[split] = catalog.samples()
    assert sorted(parts["train"] + parts["val"]) == sorted(whole.samples())
    assert not set(parts["train"]) & set(parts["val"])
    assert (Path(out) / "classes.txt").read_text().splitlines() == list(CLASSES)
    # the lists are the ``path label`` lists --data list reads (the label map beside them is classes.txt)
    assert [(p, label) for _, p, label in read_list(Path(out) / "val.txt")] == expected_val
    assert sorted(keys) == sorted(p for p, _ in expected_train + expected_val)
    summary = json.loads((Path(out) / "split.json").read_text())
    assert summary["folder"] == str(folder) and summary["seed"] == 5 and summary["val_fraction"] == 0.2
    assert summary["classes"]["clap"] == {"train": 16, "val": 4} and summary["val"] == len(expected_val)
    with pytest.raises(ConfigError, match=r"has split lists \(train.txt, val.txt\) but none for 'test'"):
        open_catalog("folder", root=folder, annotations=out, split="test")


def test_lists_hold_paths_relative_to_the_folder_and_a_gone_file_is_missing(tmp_path):
    out = split_folder(_folder(tmp_path / "videos"), out_dir=tmp_path / "splits", val_fraction=0.5)
    val = open_catalog("folder", root=tmp_path / "videos", annotations=out, split="val")
    moved = tmp_path / "mounted" / "elsewhere"
    moved.parent.mkdir()
    shutil.move(tmp_path / "videos", moved)
    again = open_catalog("folder", root=moved, annotations=out, split="val")
    assert [(e.key, e.label) for e in again.entries] == [(e.key, e.label) for e in val.entries]
    assert not again.missing and all(p.startswith(str(moved)) for p, _ in again.samples())
    gone = again.entries[0]
    os.remove(gone.path)
    # other classes hold files of the same name: none is taken in the gone file's place
    assert any(p.name == os.path.basename(gone.key) for p in moved.rglob("*.mp4"))
    after = open_catalog("folder", root=moved, annotations=out, split="val")
    assert [e.key for e in after.missing] == [gone.key] and len(after.entries) == len(again.entries)


def test_a_folder_with_its_own_splits_keeps_them(tmp_path):
    for split in ("train", "val"):
        _folder(tmp_path / "videos" / split, {"clap": 3, "jump": 3})
    assert split_folder(tmp_path / "videos", out_dir=tmp_path / "splits") is None
    assert not (tmp_path / "splits").exists()
    _folder(tmp_path / "other", {"clap": 3, "validation": 2})  # a split folder's name among the classes
    assert split_folder(tmp_path / "other", out_dir=tmp_path / "splits") is None
    # and a folder without splits, given no lists, is read whole for either split, as before
    plain = _folder(tmp_path / "plain")
    assert open_catalog("folder", root=plain, split="train").samples() == open_catalog("folder", root=plain).samples()


def test_the_lists_are_written_whole_leaving_no_temporary_files(tmp_path):
    folder = _folder(tmp_path / "videos")
    out = Path(split_folder(folder, out_dir=tmp_path / "splits", seed=1))
    first = {n: (out / n).read_bytes() for n in os.listdir(out)}
    assert set(first) == {"classes.txt", "train.txt", "val.txt", "split.json"}
    assert split_folder(folder, out_dir=out, seed=2) == str(out)  # written over: still nothing else there
    assert sorted(os.listdir(out)) == ["classes.txt", "split.json", "train.txt", "val.txt"]
    assert (out / "val.txt").read_bytes() != first["val.txt"] and (out / "classes.txt").read_bytes() == first[
        "classes.txt"
    ]
    for name in ("train.txt", "val.txt", "classes.txt"):
        assert (out / name).read_bytes().endswith(b"\n")


def test_too_few_videos_in_a_folder_writes_nothing(tmp_path):
    folder = _folder(tmp_path / "videos", {"clap": 4, "wave": 1})
    with pytest.raises(ConfigError, match=re.escape(f"folder: {folder}: class 'wave' has 1 video; ")):
        split_folder(folder, out_dir=tmp_path / "splits")
    assert not (tmp_path / "splits").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="file names as bytes: Linux file systems")
def test_a_space_and_a_non_utf8_name_round_trip(tmp_path):
    folder = _folder(tmp_path / "my videos", {"hand wave": 3, "jump": 2})
    latin1 = os.fsencode(folder / "hand wave") + b"/caf\xe9 clip.mp4"  # Latin-1, as an old camera names it
    try:
        with open(latin1, "wb"):
            pass
    except OSError as e:
        pytest.skip(f"the file system refuses a non-UTF-8 name ({e.strerror})")
    (folder / "jump" / "two  spaces 7.mp4").write_bytes(b"")
    out = split_folder(folder, out_dir=tmp_path / "splits", val_fraction=0.5)
    whole = open_catalog("folder", root=folder)
    assert os.fsdecode(latin1) in {p for p, _ in whole.samples()}
    found = []
    for split in ("train", "val"):
        catalog = open_catalog("folder", root=folder, annotations=out, split=split)
        assert not catalog.missing
        found += catalog.samples()
        # --data list reads the same lists (classes.txt is its label map)
        listed = open_catalog("list", root=folder, annotations=os.path.join(out, f"{split}.txt"), split=split)
        assert listed.samples() == catalog.samples()
    assert sorted(found) == sorted(whole.samples())
    assert b"caf\xe9 clip.mp4 0" in (Path(out) / "train.txt").read_bytes() + (Path(out) / "val.txt").read_bytes()


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda root: _folder(root, {" clap": 2}), "class folder ' clap' begins or ends with a space"),
        (lambda root: (root / "clap" / "a\nb.mp4").write_bytes(b""), "a line break in the file name"),
    ],
)
def test_names_a_list_cannot_hold_are_refused_before_writing(tmp_path, make, says):
    folder = _folder(tmp_path / "videos", {"clap": 3, "jump": 3})
    make(folder)
    with pytest.raises(ConfigError, match=re.escape(says)):
        split_folder(folder, out_dir=tmp_path / "splits")
    assert not (tmp_path / "splits").exists()
