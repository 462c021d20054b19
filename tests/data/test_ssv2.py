"""Something-Something-v2 in its official JSON files with VP9 ``.webm`` videos: template -> class,
the left/right mirror map for flips, the unlabelled test split, and errors that name the entry."""

from __future__ import annotations

import json

import pytest

from vidkit.data.catalog import open_catalog
from vidkit.errors import ConfigError

LABELS = {
    "Approaching something with your camera": "0",
    "Holding something next to something": "1",
    "Pushing something from left to right": "2",
    "Pushing something from right to left": "3",
    "Turning the camera left while filming something": "4",
    "Turning the camera right while filming something": "5",
    "Putting something on a surface": "6",
}
TRAIN = [
    {
        "id": "78687",
        "label": "holding potato next to vicks vaporub bottle",
        "template": "Holding [something] next to [something]",
        "placeholders": ["potato", "vicks vaporub bottle"],
    },
    {
        "id": "42326",
        "label": "pushing a pen from left to right",
        "template": "Pushing [something] from left to right",
        "placeholders": ["a pen"],
    },
]
VALIDATION = [
    {
        "id": "74225",
        "label": "turning the camera left while filming a cup",
        "template": "Turning the camera left while filming [something]",
        "placeholders": ["a cup"],
    },
    {
        "id": "116154",
        "label": "putting a book on a surface",
        "template": "putting [something] on a surface",
        "placeholders": ["a book"],
    },  # differs from the class by case only
    {
        "id": "1",
        "label": "approaching a tree with your camera",
        "template": "Approaching [something] with your camera",
        "placeholders": ["a tree"],
    },
]
TEST = [{"id": "1420"}, {"id": "74225"}]


def _write(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(data))


@pytest.fixture
def ssv2(tmp_path, put):
    for name, data in (("labels", LABELS), ("train", TRAIN), ("validation", VALIDATION), ("test", TEST)):
        _write(tmp_path, f"something-something-v2-{name}.json", data)
    for video_id in ("78687", "42326", "74225", "116154"):
        put(tmp_path / "20bn-something-something-v2" / f"{video_id}.webm", "webm")
    return tmp_path


def test_validation_split_classes_and_videos(ssv2):
    catalog = open_catalog("ssv2", root=ssv2, split="validation")
    assert catalog.name == "ssv2" and catalog.split == "val"
    assert catalog.classes == tuple(LABELS)  # index order = the numbers in the labels file
    assert [(e.key, e.label) for e in catalog.entries] == [("74225", 4), ("116154", 6), ("1", 0)]
    assert [e.key for e in catalog.missing] == ["1"]
    assert catalog.found[0].path == str(ssv2 / "20bn-something-something-v2" / "74225.webm")
    assert catalog.annotations == str(ssv2 / "something-something-v2-validation.json")
    assert catalog.videos_root == str(ssv2 / "20bn-something-something-v2")
    assert catalog.warnings == ("ssv2: 7 classes found, expected 174",)


def test_flip_label_map_pairs_left_and_right(ssv2):
    catalog = open_catalog("ssv2", root=ssv2, split="train")
    assert catalog.default_flip is False
    assert catalog.flip_label_map == {2: 3, 3: 2, 4: 5, 5: 4}
    assert [(e.key, e.label) for e in catalog.entries] == [("78687", 1), ("42326", 2)]


def test_unlabelled_test_split(ssv2):
    catalog = open_catalog("ssv2", root=ssv2, split="test")
    assert [(e.key, e.label, e.path is not None) for e in catalog.entries] == [("1420", -1, False), ("74225", -1, True)]


def test_short_names_under_annotations_and_videos_folder(tmp_path, put):
    for name, data in (("labels", LABELS), ("validation", VALIDATION)):
        _write(tmp_path / "annotations", f"{name}.json", data)
    put(tmp_path / "videos" / "116154.mp4")
    catalog = open_catalog("ssv2", root=tmp_path)
    assert [e.key for e in catalog.found] == ["116154"]
    # --annotations (the split file) and --videos in place of a root.
    catalog = open_catalog("ssv2", annotations=tmp_path / "annotations" / "validation.json", videos=tmp_path / "videos")
    assert catalog.classes == tuple(LABELS) and [e.key for e in catalog.found] == ["116154"]


def test_errors_name_the_file_and_entry(ssv2):
    bad = VALIDATION + [{"id": "999", "template": "Dancing with [something]"}]
    _write(ssv2, "something-something-v2-validation.json", bad)
    with pytest.raises(
        ConfigError,
        match=r"validation\.json: entry 3 \(id 999\): template 'Dancing with \[something\]' "
        r"matches no class in .*labels\.json",
    ) as e:
        open_catalog("ssv2", root=ssv2)
    assert "\n" not in str(e.value)
    _write(ssv2, "something-something-v2-validation.json", [{"id": "5"}])
    with pytest.raises(ConfigError, match=r"entry 0 \(id 5\): no 'template'"):
        open_catalog("ssv2", root=ssv2)
    (ssv2 / "something-something-v2-validation.json").write_text('[\n{"id": "5",\n')
    with pytest.raises(ConfigError, match=r"validation\.json: line 3: not valid JSON"):
        open_catalog("ssv2", root=ssv2)
    _write(ssv2, "something-something-v2-labels.json", {"a": "0", "b": "one"})
    with pytest.raises(ConfigError, match=r"labels\.json: entry 'b': index 'one' is not an integer"):
        open_catalog("ssv2", root=ssv2, split="test")
    (ssv2 / "something-something-v2-labels.json").unlink()
    with pytest.raises(ConfigError, match=r"ssv2: no file for the labels in .*something-something-v2-labels\.json"):
        open_catalog("ssv2", root=ssv2, split="test")
