"""AVA annotations: label maps, CSV rows, keyframes, and person clips on the synthetic actors set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidkit.data.ava import (
    AvaRow,
    Keyframe,
    PersonClipDataset,
    collate_persons,
    find_ava_files,
    find_exclusions,
    group_keyframes,
    open_ava,
    read_ava_csv,
    read_label_map,
)
from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset
from vidkit.errors import AnnotationError, ConfigError
from vidkit.io import open_video

FPS = 25.0  # the synthetic set's frame rate


def _write(folder, name: str, text: str):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _raises(path, line: int, fragment: str, call):
    with pytest.raises(AnnotationError) as info:
        call()
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert fragment in str(info.value)


# ---- label maps ----


def test_label_map_reads_the_label_dialect_over_several_lines(tmp_path):
    path = _write(
        tmp_path,
        "ava_action_list_v2.2.pbtxt",
        '# AVA v2.2\nlabel {\n  name: "bend/bow (at the waist)"\n  label_id: 1\n  label_type: PERSON_MOVEMENT\n}\n'
        'label {\n  name: "crawl"\n  label_id: 2\n  label_type: PERSON_MOVEMENT\n}\n',
    )
    assert read_label_map(path) == {1: "bend/bow (at the waist)", 2: "crawl"}


def test_label_map_reads_the_item_dialect_on_one_line_and_keeps_file_order(tmp_path):
    path = _write(
        tmp_path,
        "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
        'item { name: "stand" id: 12 }\nitem {\n  id: 3\n  name: "crouch/kneel"\n}\nitem { name: "walk" id: 14 }\n',
    )
    labels = read_label_map(path)
    assert labels == {12: "stand", 3: "crouch/kneel", 14: "walk"}
    assert list(labels) == [12, 3, 14]


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ('label {\n  name: "a"\n  label_id: 1\n}\nlabel {\n  name: "b"\n}\n', 5, "entry without an id"),
        (
            'label {\n  name: "a"\n  label_id: 1\n}\n\nlabel { name: "b" label_id: 1 }\n',
            6,
            "duplicate id 1 ('a' has it too)",
        ),
        ('# header\nitem { name: "a" id: one }\n', 2, "id 'one' is not an integer"),
        ('item { name: "a" id: 1 }\nitem { id: 2 }\n', 2, "entry without a name"),
        ('item { name: "a" id: 1 }\nitem {\n  name: "b"\n', 2, "block not closed"),
        ('name: "a"\n', 1, "outside a block"),
        ("", 0, "the file is empty"),
        ("# only a comment\n", 0, "no label entries"),
    ],
)
def test_a_malformed_label_map_names_the_block(tmp_path, text, line, fragment):
    path = _write(tmp_path, "map.pbtxt", text)
    _raises(path, line, fragment, lambda: read_label_map(path))


def test_a_missing_label_map_is_an_error_about_the_whole_file(tmp_path):
    path = tmp_path / "nope.pbtxt"
    _raises(path, 0, "no such file", lambda: read_label_map(path))


# ---- CSV rows ----


def test_annotation_csv_with_header_blank_line_and_7_or_8_columns(tmp_path):
    path = _write(
        tmp_path,
        "ava_val.csv",
        "video_id,timestamp,x1,y1,x2,y2,action_id,person_id\n"
        "-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1\n"
        "\n"
        "-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,12,1\n"
        "abc,903.5,0.0,-0.0004,1.0005,1.0,3\n",
    )
    rows = read_ava_csv(path)
    assert rows[0] == AvaRow("-5KQ66BBWC4", 902.0, (0.077, 0.151, 0.283, 0.811), 80, 1, None, 2)
    assert [r.line for r in rows] == [2, 4, 5] and rows[1].action_id == 12
    assert rows[2] == AvaRow("abc", 903.5, (0.0, 0.0, 1.0, 1.0), 3, None, None, 5)  # slack clamped


def test_detection_csv_takes_an_empty_or_minus_one_action_and_keeps_the_score(tmp_path):
    path = _write(
        tmp_path,
        "ava_val_predicted_boxes.csv",
        "v,0902,0.1,0.2,0.3,0.4,,0.93\nv,0902,0.1,0.2,0.3,0.4,-1,0.5\nv,0903,0.5,0.2,0.7,0.9,7,0.25\n",
    )
    rows = read_ava_csv(path, detections=True)
    assert [(r.action_id, r.score, r.person_id) for r in rows] == [
        (None, 0.93, None),
        (None, 0.5, None),
        (7, 0.25, None),
    ]
    assert rows[2].box == (0.5, 0.2, 0.7, 0.9) and rows[2].time_s == 903.0


GOOD = "v,0902,0.1,0.2,0.3,0.4,1,0\n"


@pytest.mark.parametrize(
    "bad, fragment, detections",
    [
        ("v,0902,0.1,0.2,0.3,0.4", "6 fields, expected 7 or 8", False),
        ("v,0902,0.1,abc,0.3,0.4,1", "y1='abc' is not a number", False),
        ("v,0902,0.52,0.2,0.31,0.4,1", "x2=0.31 is not right of x1=0.52", False),
        ("v,0902,0.1,0.4,0.3,0.4,1", "y2=0.4 is not below y1=0.4", False),
        ("v,0902,0.1,0.2,1.5,0.4,1", "x2=1.5 is outside [0, 1]", False),
        ("v,0902,0.1,0.2,0.3,0.4,", "missing action_id", False),
        ("v,0902,0.1,0.2,0.3,0.4,run,1", "action_id='run' is not an integer", False),
        (",0902,0.1,0.2,0.3,0.4,1", "empty video_id", False),
        ("v,0902,0.1,0.2,0.3,0.4,,high", "score='high' is not a number", True),
        ("v,0902,0.1,0.2,0.3,0.4,1", "7 fields, expected 8", True),
    ],
)
def test_a_malformed_row_names_its_line(tmp_path, bad, fragment, detections):
    good = "v,0902,0.1,0.2,0.3,0.4,,0.9\n" if detections else GOOD
    path = _write(tmp_path, "ava_val.csv", good * 2 + "\n" + bad + "\n" + good)
    _raises(path, 4, fragment, lambda: read_ava_csv(path, detections=detections))


def test_a_missing_or_empty_csv_is_an_error_about_the_whole_file(tmp_path):
    _raises(tmp_path / "ava_val.csv", 0, "no such file", lambda: read_ava_csv(tmp_path / "ava_val.csv"))
    empty = _write(tmp_path, "empty.csv", "\n\n")
    _raises(empty, 0, "empty", lambda: read_ava_csv(empty))


# ---- keyframes ----


def _row(video, t, box, action, person=None, score=None):
    return AvaRow(video, t, box, action, person, score, 0)


A, B = (0.1, 0.1, 0.4, 0.9), (0.5, 0.1, 0.9, 0.9)


def test_two_actions_of_one_box_are_one_person_with_both_labels():
    [kf] = group_keyframes([_row("v", 902.0, A, 1), _row("v", 902.0, B, 2), _row("v", 902.0, A, 2)], label_ids=[1, 2])
    assert kf.key == ("v", 902.0)
    assert kf.labels == (frozenset({0, 1}), frozenset({1}))
    np.testing.assert_array_equal(kf.boxes, np.array([A, B], dtype=np.float32))
    assert kf.boxes.dtype == np.float32 and kf.scores.tolist() == [1.0, 1.0]


def test_person_ids_split_identical_boxes_and_order_the_persons():
    [kf] = group_keyframes(
        [_row("v", 1.0, A, 1, person=5), _row("v", 1.0, A, 2, person=2), _row("v", 1.0, A, 1, person=2)],
        label_ids=[1, 2],
    )
    assert kf.labels == (frozenset({0, 1}), frozenset({0}))  # person 2, then person 5


def test_an_action_outside_the_map_is_dropped_but_its_person_kept():
    # the 60-class map skips ids: id 3 is class index 1
    [kf] = group_keyframes([_row("v", 1.0, A, 2), _row("v", 1.0, B, 3)], label_ids=[1, 3])
    assert len(kf.boxes) == 2 and kf.labels == (frozenset(), frozenset({1}))


def test_keyframes_are_sorted_and_detections_are_one_person_per_row():
    kfs = group_keyframes(
        [
            _row("b", 2.0, A, 1),
            _row("a", 5.0, A, 1),
            _row("a", 1.0, A, None, score=0.8),
            _row("a", 1.0, A, 1, score=0.3),
        ],
        label_ids=[1],
    )
    assert [kf.key for kf in kfs] == [("a", 1.0), ("a", 5.0), ("b", 2.0)]
    assert kfs[0].labels == (frozenset(), frozenset()) and kfs[0].scores.tolist() == pytest.approx([0.8, 0.3])


# ---- the synthetic actors set ----


@pytest.fixture(scope="module")
def actors(tmp_path_factory):
    spec = SyntheticSpec(variant="actors", num_train_per_class=1, num_val_per_class=1, size=(64, 64), num_frames=75)
    return synthetic_dataset(spec, root=tmp_path_factory.mktemp("actors"), progress=False)


@pytest.fixture(scope="module")
def train(actors):
    return open_ava(*find_ava_files(actors.root, "train"))


def _all_frames(path) -> torch.Tensor:
    with open_video(path) as video:
        frames = torch.cat([chunk.data for chunk in video.stream()])
    assert frames.shape[0] == 75
    return frames


def test_open_ava_keyframes_match_the_synthetic_objects(actors, train):
    videos = {v.video_id: v for v in actors.videos("train")}
    assert train.classes == actors.classes and train.label_ids == tuple(range(1, len(actors.classes) + 1))
    assert train.missing == [] and train.dropped_rows == 0 and train.keyframes is train.ground_truth
    assert train.videos == {vid: v.path for vid, v in videos.items()}
    assert [kf.key for kf in train.ground_truth] == sorted((vid, t) for vid in videos for t in (1.0, 2.0))
    for kf in train.ground_truth:
        assert kf.labels == tuple(frozenset({label}) for label in videos[kf.video_id].labels)
        assert kf.scores.tolist() == [1.0] * len(kf.labels)


def test_person_clips_centre_on_the_keyframe_and_collate(actors, train):
    dataset = PersonClipDataset(
        train.keyframes, train.videos, num_classes=len(train.classes), num_frames=8, interval_s=2 / FPS
    )
    assert len(dataset) == len(train.keyframes)
    items = [dataset[0], dataset[1]]  # one video at 1 s and 2 s
    decoded = _all_frames(train.videos[train.keyframes[0].video_id])
    for item, kf in zip(items, train.keyframes[:2]):
        frames = item["frames"]
        assert frames.shape == (8, 64, 64, 3) and frames.dtype == torch.uint8 and frames.is_contiguous()
        centre = round(kf.time_s * FPS)
        assert torch.equal(frames[4], decoded[centre])  # frame T // 2 is the keyframe
        assert torch.equal(frames, decoded[centre - 8 : centre + 8 : 2])
        assert item["boxes"].dtype == torch.float32 and torch.equal(item["boxes"], torch.tensor(np.array(kf.boxes)))
        assert item["targets"].shape == (len(kf.labels), len(train.classes))
        assert [set(torch.nonzero(row).flatten().tolist()) for row in item["targets"]] == [set(s) for s in kf.labels]
    assert torch.equal(dataset[0]["frames"], items[0]["frames"])  # deterministic

    late = PersonClipDataset(
        [Keyframe(train.keyframes[0].video_id, 10.0, np.zeros((0, 4), np.float32), (), np.zeros(0, np.float32))],
        train.videos,
        num_classes=8,
        num_frames=8,
        interval_s=0.1,
    )[0]
    assert late.keys() == {"index", "error"}
    assert "keyframe at 10 s" in late["error"] and "past the end" in late["error"] and "3.000 s long" in late["error"]
    assert "time_offset_s=900" in late["error"] and late["error"].startswith(
        str(train.videos[train.keyframes[0].video_id])
    )

    batch = collate_persons([items[1], late, items[0]])
    persons = [len(train.keyframes[1].labels), len(train.keyframes[0].labels)]
    assert batch["errors"] == [late["error"]] and batch["frames"].shape == (2, 8, 64, 64, 3)
    assert batch["index"].tolist() == [1, 0] and batch["persons"].tolist() == persons
    assert batch["boxes"].shape == (sum(persons), 5) and batch["targets"].shape == (sum(persons), len(train.classes))
    assert batch["boxes"][:, 0].tolist() == [0.0] * persons[0] + [1.0] * persons[1]
    assert torch.equal(batch["boxes"][persons[0] :, 1:], items[0]["boxes"])
    assert collate_persons([late]) == {"errors": [late["error"]]}


def test_time_offset_and_clamping_at_the_video_start(train):
    kf = train.keyframes[0]
    moved = Keyframe(kf.video_id, kf.time_s + 900, kf.boxes, kf.labels, kf.scores)
    kwargs = dict(num_classes=len(train.classes), num_frames=5, interval_s=0.5)
    shifted = PersonClipDataset([moved], train.videos, time_offset_s=900, **kwargs)[0]
    plain = PersonClipDataset([kf], train.videos, **kwargs)[0]  # times 0, 0.5, 1, 1.5, 2
    assert torch.equal(shifted["frames"], plain["frames"])
    wide = PersonClipDataset([kf], train.videos, **{**kwargs, "num_frames": 7})[0]  # -0.5 clamped to 0
    assert torch.equal(wide["frames"][0], wide["frames"][1]) and torch.equal(wide["frames"][1:6], plain["frames"])


def test_dataset_refuses_keyframes_it_cannot_serve(train):
    with pytest.raises(ConfigError, match="no video file"):
        PersonClipDataset(train.keyframes, {}, num_classes=8, num_frames=4, interval_s=0.1)
    with pytest.raises(ConfigError, match="outside 0..1"):
        PersonClipDataset(train.keyframes, train.videos, num_classes=2, num_frames=4, interval_s=0.1)


def test_missing_videos_and_detected_boxes(actors, train, tmp_path):
    annotations, label_map, videos = find_ava_files(actors.root, "train")
    rows = annotations.read_text()
    csv = _write(tmp_path, "ava_train.csv", rows + "ghost,0001,0.1,0.1,0.5,0.5,1,0\nghost,0001,0.1,0.1,0.5,0.5,99,0\n")
    first = train.keyframes[0]
    detections = "".join(
        f"{first.video_id},{first.time_s:04.0f},{x1},{y1},{x2},{y2},,0.9\n"
        f"{first.video_id},{first.time_s:04.0f},{x1},{y1},{x2},{y2},-1,0.1\n"
        for x1, y1, x2, y2 in first.boxes.tolist()
    )
    detections += f"{first.video_id},0003,0.1,0.1,0.5,0.5,,0.9\n"  # not an annotated keyframe
    boxes = _write(tmp_path, "boxes.csv", detections)
    split = open_ava(csv, label_map, videos, boxes=boxes, min_score=0.5)
    assert split.missing == ["ghost"] and split.dropped_rows == 1 and "ghost" not in split.videos
    assert [kf.key for kf in split.ground_truth] == [kf.key for kf in train.ground_truth]
    assert [kf.key for kf in split.keyframes] == [kf.key for kf in train.ground_truth]
    got = split.keyframes[0]
    np.testing.assert_allclose(got.boxes, first.boxes, atol=1e-6)
    assert got.scores.tolist() == pytest.approx([0.9] * len(first.boxes))
    assert got.labels == (frozenset(),) * len(first.boxes)
    assert all(len(kf.boxes) == 0 and kf.boxes.shape == (0, 4) for kf in split.keyframes[1:])
    batch = collate_persons(
        [
            PersonClipDataset(split.keyframes, split.videos, num_classes=8, num_frames=2, interval_s=0.1)[i]
            for i in (1, 0)
        ]
    )
    assert batch["persons"].tolist() == [0, len(first.boxes)] and batch["boxes"][:, 0].tolist() == [1.0] * len(
        first.boxes
    )


# ---- finding the files ----


def test_find_ava_files_prefers_the_newest_csv_and_the_activitynet_map(tmp_path):
    for name in (
        "ava_val_v2.1.csv",
        "ava_val_v2.2.csv",
        "ava_val_excluded_timestamps_v2.2.csv",
        "ava_train_v2.2.csv",
        "ava_action_list_v2.2.pbtxt",
        "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
    ):
        _write(tmp_path, f"annotations/{name}", "")
    (tmp_path / "videos_15min").mkdir()
    ann = tmp_path / "annotations"
    assert find_ava_files(tmp_path, "val") == (
        ann / "ava_val_v2.2.csv",
        ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
        tmp_path / "videos_15min",
    )
    with pytest.raises(ConfigError, match="ava_test.csv"):
        find_ava_files(tmp_path, "test")
    assert find_exclusions(tmp_path, "val") == ann / "ava_val_excluded_timestamps_v2.2.csv"
    assert find_exclusions(tmp_path, "train") is None


def test_find_ava_files_on_the_synthetic_layout(actors):
    assert find_ava_files(actors.root, "val") == (
        actors.root / "ava_val.csv",
        actors.root / "ava_action_list.pbtxt",
        actors.root / "val",
    )


def test_excluded_keyframes_leave_the_split(actors, tmp_path):
    """AVA's excluded-timestamps file: its keyframes leave the ground truth and what the model sees."""
    annotations, label_map, videos = find_ava_files(actors.root, "train")
    whole = open_ava(annotations, label_map, videos)
    first, second = whole.ground_truth[0].key, whole.ground_truth[1].key
    exclusions = tmp_path / "ava_train_excluded_timestamps_v2.2.csv"
    exclusions.write_text(f"{first[0]},{first[1]:04.0f}\n{second[0]},{second[1]:g}\nnot_a_video,0902\n")
    split = open_ava(annotations, label_map, videos, excluded=exclusions)
    assert split.excluded_keyframes == 2
    assert {kf.key for kf in split.ground_truth} == {kf.key for kf in whole.ground_truth} - {first, second}
    assert [kf.key for kf in split.keyframes] == [kf.key for kf in split.ground_truth]
    exclusions.write_text("video,0902,extra\n")
    with pytest.raises(AnnotationError, match="3 fields, expected 2"):
        open_ava(annotations, label_map, videos, excluded=exclusions)
