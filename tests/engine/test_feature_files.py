"""The npy feature writer: names that never collide and are always safe, a write that is never
visible half-done, and the temporaries of a killed run removed."""

import os

import numpy as np

from vidkit.engine.feature_files import NpyWriter, feature_name


def test_names_are_safe_and_distinct_for_the_same_name_in_two_folders():
    a, b = feature_name("/x/clip.mp4"), feature_name("/y/clip.mp4")
    assert a != b and a.startswith("clip-") and b.startswith("clip-") and a.endswith(".npy")
    odd = feature_name(os.fsdecode(b"/x/../odd \xff/\n\xfe;rm -rf.mp4"))
    assert odd.startswith("rm_-rf-") and "/" not in odd and odd.isascii()
    assert feature_name("/x/ü€.mp4").startswith("video-")  # nothing readable left: a placeholder stem


def test_a_record_comes_back_once_its_file_is_complete(tmp_path):
    features = tmp_path / "features"
    features.mkdir()
    (features / ".clip-0123.npy.99.tmp").write_bytes(b"half")  # a killed run's
    (features / "kept.npy").write_bytes(b"x")  # a finished file is not touched
    writer = NpyWriter(tmp_path, dtype="float16")
    assert sorted(os.listdir(features)) == ["kept.npy"]
    [record] = writer.add({"path": "/v/clip.mp4", "features": None, "error": None}, np.ones((2, 5)))
    assert list(record) == ["path", "features", "error", "rows", "shape"]
    assert record["shape"] == [2, 5] and record["rows"] is None
    array = np.load(tmp_path / record["features"])
    assert array.dtype == np.float16 and array.shape == (2, 5)
    assert sorted(os.listdir(features)) == sorted(["kept.npy", record["features"].split("/")[1]])
    assert writer.close() == []
