"""open_catalog's common ground: split names, argument errors, folder-per-class datasets, ``path label``
list files (mmaction2, PySlowFast) with their label maps, and the left/right mirror map."""

from __future__ import annotations

import json
import os

import pytest

from vidkit.data.catalog import DOWNLOADED, Catalog, VideoEntry, canonical_split, mirror_map, open_catalog
from vidkit.errors import ConfigError


@pytest.mark.parametrize(
    "given, canonical",
    [
        ("val", "val"),
        ("validate", "val"),
        ("Validation", "val"),
        ("valid", "val"),
        ("train", "train"),
        ("training", "train"),
        ("test", "test"),
        ("testing", "test"),
    ],
)
def test_split_synonyms(given, canonical):
    assert canonical_split(given) == canonical


def test_unknown_split_and_dataset_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="split 'dev'"):
        canonical_split("dev")
    with pytest.raises(ConfigError, match="kinetics500"):
        open_catalog("kinetics500", root=tmp_path)
    with pytest.raises(ConfigError, match="no such folder"):
        open_catalog("folder", root=tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="--annotations .*no such file"):
        open_catalog("list", annotations=tmp_path / "nope.txt", videos=tmp_path)
    for data in DOWNLOADED:
        if data != "list":
            with pytest.raises(ConfigError, match="--data-root"):
                open_catalog(data)


def test_catalog_views():
    entries = (VideoEntry("a", "/v/a.mp4", 0), VideoEntry("b", None, 1), VideoEntry("c", "/v/c.mp4", 1))
    catalog = Catalog("list", "val", ("x", "y"), entries, None, "/v")
    assert [e.key for e in catalog.found] == ["a", "c"]
    assert [e.key for e in catalog.missing] == ["b"]
    assert catalog.samples() == [("/v/a.mp4", 0), ("/v/c.mp4", 1)]


def test_mirror_map_swaps_left_and_right_words_only():
    classes = (
        "Pushing something from left to right",
        "Pushing something from right to left",
        "Leftovers",
        "Turning the camera left while filming something",
        "Turning the camera right while filming something",
        "Moving something left",
    )
    assert mirror_map(classes) == {0: 1, 1: 0, 3: 4, 4: 3}


# -- folder per class -----------------------------------------------------------------------------
def test_folder_per_class_recursive(tmp_path, put):
    put(tmp_path / "walk" / "a.mp4")
    put(tmp_path / "walk" / "day2" / "b.MKV")
    put(tmp_path / "jump" / "c.webm")
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "walk" / "notes.txt").write_text("not a video")
    put(tmp_path / "loose.mp4")
    catalog = open_catalog("folder", root=tmp_path, split="validation")
    assert catalog.classes == ("empty_class", "jump", "walk")
    assert [(e.key, e.label) for e in catalog.entries] == [
        ("jump/c.webm", 1),
        ("walk/a.mp4", 2),
        ("walk/day2/b.MKV", 2),
    ]
    assert all(os.path.isabs(p) for p, _ in catalog.samples())
    assert catalog.annotations is None and catalog.default_flip and catalog.flip_label_map == {}
    assert any("loose" in w or "no class folder" in w for w in catalog.warnings)


def test_folder_with_split_folders_takes_classes_from_train(tmp_path, put):
    for name in ("a", "b", "c"):
        put(tmp_path / "train" / name / "x.mp4")
    put(tmp_path / "validation" / "c" / "y.mp4")
    put(tmp_path / "validation" / "a" / "z.mp4")
    catalog = open_catalog("folder", root=tmp_path, split="val")
    assert catalog.classes == ("a", "b", "c")
    assert [(e.key, e.label) for e in catalog.entries] == [("validation/a/z.mp4", 0), ("validation/c/y.mp4", 2)]
    with pytest.raises(ConfigError, match="none for 'test'"):
        open_catalog("folder", root=tmp_path, split="test")
    put(tmp_path / "validation" / "d" / "w.mp4")
    with pytest.raises(ConfigError, match=r"validation/d: class 'd' has no folder"):
        open_catalog("folder", root=tmp_path, split="val")


# -- list files -----------------------------------------------------------------------------------
def test_mmaction2_list_with_label_map(tmp_path, put):
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "label_map_k400.txt").write_text("abseiling\nair drumming\nzumba\n")
    (ann / "kinetics400_val_list_videos.txt").write_text(
        "abseiling/aa_000010_000020.mp4 0\nzumba/zz_000001_000011.mp4 2\nair drumming/gone_000000_000010.mp4 1\n\n"
    )
    videos = tmp_path / "videos"
    put(videos / "abseiling" / "aa_000010_000020.mp4")
    put(videos / "zumba_renamed" / "zz_000001_000011.mp4")  # found by its stem though the folder differs
    catalog = open_catalog("list", annotations=ann / "kinetics400_val_list_videos.txt", videos=videos)
    assert catalog.name == "list" and catalog.classes == ("abseiling", "air drumming", "zumba")
    assert [(e.key, e.label) for e in catalog.entries] == [
        ("abseiling/aa_000010_000020.mp4", 0),
        ("zumba/zz_000001_000011.mp4", 2),
        ("air drumming/gone_000000_000010.mp4", 1),
    ]
    assert [e.path for e in catalog.entries] == [
        str(videos / "abseiling" / "aa_000010_000020.mp4"),
        str(videos / "zumba_renamed" / "zz_000001_000011.mp4"),
        None,
    ]
    # The same file read as Kinetics-400: the format is detected, and the class count checked.
    k400 = open_catalog("kinetics400", annotations=ann / "kinetics400_val_list_videos.txt", videos=videos)
    assert k400.name == "kinetics400" and k400.classes == catalog.classes
    assert "kinetics400: 3 classes found, expected 400" in k400.warnings


def test_pyslowfast_list_with_classids_and_spaces_in_paths(tmp_path, put):
    (tmp_path / "classids.json").write_text(json.dumps({"b class": 1, "a class": 0}))
    put(tmp_path / "clips" / "my video.mp4")
    (tmp_path / "val.csv").write_text(f"clips/my video.mp4 1\n{tmp_path}/clips/absent.mp4 0\n")
    catalog = open_catalog("list", annotations=tmp_path / "val.csv")
    assert catalog.classes == ("a class", "b class")
    assert [(e.key, e.path, e.label) for e in catalog.entries] == [
        ("clips/my video.mp4", str(tmp_path / "clips" / "my video.mp4"), 1),
        (f"{tmp_path}/clips/absent.mp4", None, 0),
    ]


def test_list_without_label_map_numbers_the_classes(tmp_path, put):
    put(tmp_path / "v" / "a.mp4")
    (tmp_path / "train.txt").write_text("a.mp4 3\n")
    catalog = open_catalog("list", annotations=tmp_path / "train.txt", videos=tmp_path / "v", split="train")
    assert catalog.classes == ("0", "1", "2", "3") and catalog.entries[0].label == 3
    k700 = open_catalog("kinetics700", annotations=tmp_path / "train.txt", videos=tmp_path / "v", split="train")
    assert len(k700.classes) == 700 and not any("expected 700" in w for w in k700.warnings)


def test_list_errors_name_file_and_line(tmp_path):
    (tmp_path / "val.txt").write_text("a.mp4 0\nb.mp4 zero\n")
    with pytest.raises(ConfigError, match=r"val\.txt:2: expected '<path> <label>'") as e:
        open_catalog("list", annotations=tmp_path / "val.txt", videos=tmp_path)
    assert "\n" not in str(e.value)
    (tmp_path / "label_map_k400.txt").write_text("a\nb\n")
    (tmp_path / "val.txt").write_text("a.mp4 0\n\nb.mp4 2\n")
    with pytest.raises(ConfigError, match=r"val\.txt:3: label 2 is out of range: .*label_map_k400\.txt has 2 classes"):
        open_catalog("list", annotations=tmp_path / "val.txt", videos=tmp_path)
    (tmp_path / "label_map_k400.txt").write_text("a\n\nb\n")
    with pytest.raises(ConfigError, match=r"label_map_k400\.txt:2: empty class name"):
        open_catalog("list", annotations=tmp_path / "val.txt", videos=tmp_path)
    (tmp_path / "label_map_k400.txt").unlink()
    (tmp_path / "classids.json").write_text('{"a": 0, "b": 2}')
    with pytest.raises(ConfigError, match=r"classids\.json: indices must run 0\.\.1; 1 is missing"):
        open_catalog("list", annotations=tmp_path / "val.txt", videos=tmp_path)
