"""Kinetics as released and as the usual downloaders lay it out: the official CSVs under their various
names, videos by split and label folder, flat, under ``videos/`` or in the CVDF layout, and
PySlowFast's ``path label`` lists in place of the CSVs."""

from __future__ import annotations

import pytest

from vidkit.data.catalog import open_catalog
from vidkit.errors import ConfigError

HEADER = "label,youtube_id,time_start,time_end,split"
TRAIN_CSV = f"""{HEADER},is_cc
abseiling,tr1,0,10,train,0
"passing American football (in game)",tr2,5,15,train,0
zumba,tr3,1,11,train,1
"""
VAL_CSV = f"""{HEADER}
"passing American football (in game)",pa1,10.0,20.0,validate
"cooking egg, fried",ce1,0,10,validate
abseiling,ab1,3,13,validate
abseiling,ab2,30,40,validate
zumba,dup,0,10,validate
"""
# Sorted class names over train + val: the index order of pytorchvideo's and PySlowFast's checkpoints.
CLASSES = ("abseiling", "cooking egg, fried", "passing American football (in game)", "zumba")


@pytest.fixture
def kinetics(tmp_path, put):
    """A Kinetics-400-style folder: CSVs at the top, ``train/`` and ``val/`` with label folders whose names
    the downloader changed (spaces to underscores, parentheses dropped)."""
    (tmp_path / "train.csv").write_text(TRAIN_CSV)
    (tmp_path / "validate.csv").write_text(VAL_CSV)
    put(tmp_path / "val" / "passing_American_football_in_game" / "pa1_000010_000020.mp4")
    put(tmp_path / "val" / "cooking egg, fried" / "ce1_000000_000010.mp4")
    put(tmp_path / "val" / "abseiling" / "ab2_000030_000040.mp4", "garbage")
    put(tmp_path / "train" / "zumba" / "dup_000000_000010.mp4")
    put(tmp_path / "val" / "zumba" / "dup_000000_000010.mkv")
    put(tmp_path / "train" / "abseiling" / "tr1_000000_000010.mp4")
    return tmp_path


def test_official_csv_and_split_label_folders(kinetics):
    catalog = open_catalog("kinetics400", root=kinetics, split="val")
    assert catalog.classes == CLASSES
    assert catalog.annotations == str(kinetics / "validate.csv") and catalog.videos_root == str(kinetics)
    assert [(e.key, e.label) for e in catalog.entries] == [
        ("pa1_000010_000020", 2),
        ("ce1_000000_000010", 1),
        ("ab1_000003_000013", 0),
        ("ab2_000030_000040", 0),
        ("dup_000000_000010", 3),
    ]
    assert [e.key for e in catalog.missing] == ["ab1_000003_000013"]
    paths = {e.key: e.path for e in catalog.found}
    assert paths["pa1_000010_000020"] == str(
        kinetics / "val" / "passing_American_football_in_game" / "pa1_000010_000020.mp4"
    )
    assert paths["dup_000000_000010"] == str(kinetics / "val" / "zumba" / "dup_000000_000010.mkv")  # the val copy wins
    assert catalog.warnings == ("kinetics400: 4 classes found, expected 400",)
    assert catalog.default_flip and catalog.flip_label_map == {}
    assert catalog.samples()[0] == (paths["pa1_000010_000020"], 2)
    # The training split gets the same indices, and prefers its own copy of a shared stem.
    train = open_catalog("kinetics", root=kinetics, split="training")
    assert train.classes == CLASSES and not train.warnings
    assert [(e.key, e.label) for e in train.entries] == [
        ("tr1_000000_000010", 0),
        ("tr2_000005_000015", 2),
        ("tr3_000001_000011", 3),
    ]


def test_flat_layout_under_videos_with_release_file_names(tmp_path, put):
    (tmp_path / "kinetics_700_2020_val.csv").write_text(
        f"{HEADER}\nzumba,zz1,10,20,val\nabseiling,bare1,0,10,val\nzumba,zz2,1,11,val\n"
    )
    put(tmp_path / "videos" / "validate" / "zz1_000010_000020.webm", "webm")
    put(tmp_path / "videos" / "validate" / "bare1.MP4")  # named by the bare youtube id
    catalog = open_catalog("kinetics700", root=tmp_path, split="validation")
    assert catalog.classes == ("abseiling", "zumba")  # only one CSV: its labels
    assert catalog.videos_root == str(tmp_path / "videos")
    assert [(e.key, e.label, e.path is not None) for e in catalog.entries] == [
        ("zz1_000010_000020", 1, True),
        ("bare1_000000_000010", 0, True),
        ("zz2_000001_000011", 1, False),
    ]
    assert catalog.entries[1].path == str(tmp_path / "videos" / "validate" / "bare1.MP4")
    assert catalog.warnings == ("kinetics700: 2 classes found, expected 700",)


def test_cvdf_layout_with_annotations_folder_and_unlabelled_test(tmp_path, put):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "train.csv").write_text(TRAIN_CSV)
    (tmp_path / "annotations" / "val.csv").write_text(VAL_CSV)
    (tmp_path / "annotations" / "test.csv").write_text(
        "youtube_id,time_start,time_end,split\nte1,0,10,test\nte2,4,14,test\n"
    )
    put(tmp_path / "test_256" / "te1_000000_000010.mp4")
    put(tmp_path / "val_256" / "abseiling" / "ab1_000003_000013.mp4")
    test = open_catalog("kinetics400", root=tmp_path, split="test")
    assert test.classes == CLASSES
    assert [(e.key, e.label, e.path is not None) for e in test.entries] == [
        ("te1_000000_000010", -1, True),
        ("te2_000004_000014", -1, False),
    ]
    # --annotations (a folder) and --videos override what the root holds.
    val = open_catalog("kinetics400", annotations=tmp_path / "annotations", videos=tmp_path / "val_256", split="val")
    assert val.classes == CLASSES and val.videos_root == str(tmp_path / "val_256")
    assert [e.key for e in val.found] == ["ab1_000003_000013"]
    # --annotations (one file): the other CSVs next to it still fix the class order.
    val = open_catalog("kinetics400", annotations=tmp_path / "annotations" / "val.csv", root=tmp_path, split="val")
    assert val.classes == CLASSES and [e.key for e in val.found] == ["ab1_000003_000013"]


def test_choosing_among_annotation_files(tmp_path):
    (tmp_path / "kinetics_400_val.csv").write_text(VAL_CSV)
    (tmp_path / "kinetics-400_validate.csv").write_text(VAL_CSV)
    (tmp_path / "label_map_val.txt").write_text("ignored\n")
    with pytest.raises(
        ConfigError,
        match=r"several annotation files for split 'val': .*kinetics-400_validate\.csv, "
        r".*kinetics_400_val\.csv; choose one with --annotations",
    ):
        open_catalog("kinetics400", root=tmp_path)
    (tmp_path / "val.csv").write_text(VAL_CSV)  # an exact name wins
    assert open_catalog("kinetics400", root=tmp_path).annotations == str(tmp_path / "val.csv")
    with pytest.raises(ConfigError, match=r"no annotation file for split 'train' in .*; pass --annotations"):
        open_catalog("kinetics400", root=tmp_path, split="train")


@pytest.mark.parametrize(
    "text, message",
    [
        (
            f"{HEADER}\nabseiling,a1,0,10,val\ncooking egg, fried,ce1,0,10,val\n",
            r"val\.csv:3: 6 fields, the header has 5 \(a label with a comma must be quoted\)",
        ),
        (
            f"{HEADER}\nabseiling,a1,0,10,val\n\nabseiling,a2,ten,20,val\n",
            r"val\.csv:4: time_start 'ten' is not a number",
        ),
        (f"{HEADER}\nabseiling,,0,10,val\n", r"val\.csv:2: empty youtube_id"),
        (
            "label,id,start,end\nabseiling,a1,0,10\n",
            r"val\.csv:1: not a Kinetics CSV: .* lacks youtube_id, time_start, time_end",
        ),
    ],
)
def test_malformed_csv_rows_name_file_and_line(tmp_path, text, message):
    (tmp_path / "val.csv").write_text(text)
    with pytest.raises(ConfigError, match=message) as e:
        open_catalog("kinetics400", root=tmp_path)
    assert "\n" not in str(e.value) and str(tmp_path / "val.csv") in str(e.value)


def test_pyslowfast_list_in_place_of_the_csv(tmp_path, put):
    """PySlowFast's ``val.csv`` is ``<path> <label>`` without a header: detected and read as a list."""
    (tmp_path / "classids.json").write_text('{"abseiling": 0, "zumba": 1}')
    (tmp_path / "val.csv").write_text(
        f"{tmp_path}/val/zumba/z1_000000_000010.mp4 1\nval/abseiling/a1_000000_000010.mp4 0\n"
    )
    put(tmp_path / "val" / "zumba" / "z1_000000_000010.mp4")
    catalog = open_catalog("kinetics400", root=tmp_path, split="val")
    assert catalog.classes == ("abseiling", "zumba")
    assert [(e.label, e.path is not None) for e in catalog.entries] == [(1, True), (0, False)]
    assert "kinetics400: 2 classes found, expected 400" in catalog.warnings


def test_byte_order_mark_empty_test_labels_and_an_unreadable_train_csv(tmp_path):
    (tmp_path / "val.csv").write_text("\ufeff" + VAL_CSV, encoding="utf-8")
    (tmp_path / "test.csv").write_text(f"{HEADER}\n,te1,0,10,test\n")  # a label column left empty
    (tmp_path / "train_stats.csv").write_text("class,count\nabseiling,3\n")  # not Kinetics: only warned about
    val = open_catalog("kinetics400", root=tmp_path)
    assert val.classes == CLASSES and val.entries[0].label == 2
    assert any(
        "without the train split's annotations" in w and "train_stats.csv:1: not a Kinetics CSV" in w
        for w in val.warnings
    )
    assert [e.label for e in open_catalog("kinetics400", root=tmp_path, split="test").entries] == [-1]
    (tmp_path / "val.csv").write_text(f"{HEADER}\n,a1,0,10,val\n")
    with pytest.raises(ConfigError, match=r"val\.csv:2: no label \(only the test split may be unlabelled\)"):
        open_catalog("kinetics400", root=tmp_path)
