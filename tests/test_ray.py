"""Tagging and extraction on Ray Data give what local runs give: one record per input, the same labels,
scores within 1e-4, the same errors, resume; a decoder that crashes is that file's error row. On Ray's
local cluster (2 CPUs, no dashboard, no usage stats); skipped where ray is absent (pip install -e '.[ray]')."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch

from vidkit.cli import main
from vidkit.io.encode import write_video

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")

CLIP = ["--num-frames", "4", "--interval-s", "0.1", "--crop-size", "32"]


@pytest.fixture(scope="module")
def cluster():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import vidkit.ray

    vidkit.ray.start(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray_videos")
    g = torch.Generator().manual_seed(0)
    for name in ["a.mp4", "b.mkv", "nested/c.mp4", "long.mp4"]:
        frames = torch.randint(0, 256, (40 if name != "long.mp4" else 60, 32, 48, 3), dtype=torch.uint8, generator=g)
        write_video(root / name, frames, fps=10)
    (root / "notes.mp4").write_text("not a video\n")
    (root / "empty.mp4").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def weights(c2d_weights):
    return c2d_weights


def _records(path):
    return {r["path"]: r for r in (json.loads(line) for line in path.read_text().splitlines())}


def _same(ray_records: dict, local_records: dict) -> None:
    assert sorted(ray_records) == sorted(local_records)
    for path, local in local_records.items():
        mine = ray_records[path]
        assert mine["error"] == local["error"], path
        assert [x["label"] for x in mine["labels"]] == [x["label"] for x in local["labels"]]
        assert np.allclose([x["score"] for x in mine["labels"]], [x["score"] for x in local["labels"]], atol=1e-4)
        for a, b in zip(mine.get("segments", []), local.get("segments", [])):
            assert (a["start_s"], a["end_s"]) == (b["start_s"], b["end_s"])
            assert np.allclose([x["score"] for x in a["labels"]], [x["score"] for x in b["labels"]], atol=1e-4)


def test_tag_on_ray_equals_local_and_resumes(cluster, folder, weights, tmp_path, capsys):
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    args = [str(folder), *weights, *CLIP, "--segments", "2", "--workers", "1"]
    assert main(["tag", *args, "--out", str(local)]) == 0
    first = sorted(_records(local))[:2]  # a run that stopped after two files
    on_ray.write_text("".join(json.dumps(_records(local)[p]) + "\n" for p in first))
    capsys.readouterr()
    assert main(["tag", *args, "--out", str(on_ray), "--engine", "ray"]) == 0
    err = capsys.readouterr().err
    assert "2 already in" in err and "4 to tag" in err and "Ray cluster (local)" in err
    _same(_records(on_ray), _records(local))
    assert len(on_ray.read_text().splitlines()) == 6  # one record per input, none twice


def test_extract_on_ray_equals_local(cluster, folder, weights, tmp_path):
    model = weights[:4]  # extract takes no class names
    args = [str(folder), *model, *CLIP, "--workers", "1"]
    assert main(["extract", *args, "--out", str(tmp_path / "local")]) == 0
    assert main(["extract", *args, "--out", str(tmp_path / "ray"), "--engine", "ray"]) == 0
    import vidkit.features

    a, b = vidkit.features.load(tmp_path / "local"), vidkit.features.load(tmp_path / "ray")
    assert sorted(a.paths) == sorted(b.paths) and a.errors == b.errors and len(a.paths) == 4
    mine = dict(zip(b.paths, b.arrays))
    for path, array in zip(a.paths, a.arrays):
        assert np.allclose(array, mine[path], atol=1e-4)


def test_the_python_api_returns_datasets(cluster, folder, weights, tmp_path):
    import vidkit.ray

    paths = [str(folder / "a.mp4"), str(folder / "notes.mp4")]
    clip = {"num_frames": 4, "interval_s": 0.1, "crop_size": 32}
    rows = vidkit.ray.tag(
        paths, model="c2d_r50", weights=weights[3], classes=weights[5], views="1x1", top_k=2, clip=clip
    ).take_all()
    records = {row["path"]: json.loads(row["record"]) for row in rows}
    assert records[paths[0]]["error"] is None and len(records[paths[0]]["labels"]) == 2
    assert records[paths[1]]["error"].startswith("not a video file")
    source = ray.data.from_items([{"path": paths[0]}])
    features = vidkit.ray.extract(source, model="c2d_r50", weights=weights[3], clip=clip).take_all()
    assert features[0]["features"].shape == (1, 2048) and features[0]["error"] is None


def _crash(path, beat):
    os.kill(os.getpid(), signal.SIGSEGV)
    yield  # a generator, as the decoding workers are


def test_a_decoder_that_crashes_is_that_files_error_row():
    import pickle

    from vidkit.ray import DecodeStage  # the stage itself: no Ray needed to run one row

    row = DecodeStage(_crash, timeout_s=5.0)({"path": "clip.mp4"})
    [(kind, value)] = pickle.loads(row["events"])
    assert row["path"] == "clip.mp4" and kind == "failed" and "SIGSEGV" in str(value)
