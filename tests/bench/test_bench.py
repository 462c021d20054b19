"""`vidkit bench` in CI-sized form: every section measures, the models are checked against
pytorchvideo's with the same weights, JSON and --compare work, bad arguments are one line. (The
full bench is run by hand: `vidkit bench`, see docs/performance.md.)"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from vidkit.bench import decode_rates, decode_table
from vidkit.bench.decode import decode_skipped
from vidkit.cli import main
from vidkit.io.encode import write_video
from vidkit.io.torchcodec_reader import torchcodec_unavailable


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "clip.mp4"
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (48, 128, 3), dtype=np.uint8)
    write_video(path, (np.roll(texture, -2 * i, axis=1)[:, :64] for i in range(40)), fps=25.0)
    return path


def test_models_are_timed_beside_pytorchvideos_with_the_same_outputs(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                "--only",
                "models",
                "--models",
                "i3d_r50,tsm_r50",
                "--batch",
                "1",
                "--frames",
                "4",
                "--size",
                "32",
                "--repeats",
                "1",
                "--model-paths",
                "fp32,amp,checkpointing+channels_last+amp",
                "--json",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    rows = {(r["model"], r["impl"], r["path"]): r for r in printed["models"]}
    assert set(rows) == {
        ("i3d_r50", "pytorchvideo", "fp32"),
        ("tsm_r50", "vidkit", "fp32"),
        *((m, "vidkit", p) for m in ("i3d_r50", "tsm_r50") for p in ("fp32", "amp", "checkpointing+channels_last+amp")),
    }
    for row in rows.values():
        assert row["error"] is None and row["forward_clips_per_s"] > 0 and row["train_clips_per_s"] > 0
    peer, ours = rows["i3d_r50", "pytorchvideo", "fp32"], rows["i3d_r50", "vidkit", "fp32"]
    assert peer["max_abs_diff"] < 1e-4 and ours["max_abs_diff"] == 0.0  # the same network, the same weights
    assert (
        set(ours["ratio_vs_pytorchvideo"]) == {"forward", "train"} and peer["ratio_vs_pytorchvideo"]["forward"] == 1.0
    )
    assert rows["tsm_r50", "vidkit", "fp32"]["ratio_vs_pytorchvideo"] is None  # pytorchvideo has no TSM
    assert rows["tsm_r50", "vidkit", "amp"]["max_abs_diff"] < 0.5  # bf16 against fp32, same weights
    tsm = rows["tsm_r50", "vidkit", "checkpointing+channels_last+amp"]  # a path is any set of its parts
    assert tsm["max_abs_diff"] < 0.5 and tsm["ratio_vs_fp32"]["train"] > 0
    assert rows["tsm_r50", "vidkit", "fp32"]["ratio_vs_fp32"] == {"forward": 1.0, "train": 1.0}
    # what checkpointing is for: the training forward keeps less for the backward pass
    assert tsm["activations_mb"] < rows["tsm_r50", "vidkit", "amp"]["activations_mb"]


def test_decode_and_data_sections_and_a_comparison(clip, tmp_path, capsys):
    old = tmp_path / "old.json"
    assert (
        main(["bench", str(clip), "--only", "decode,data", "--workers", "0", "--repeats", "1", "--out", str(old)]) == 0
    )
    table = capsys.readouterr().out
    assert "stream: raw PyAV (baseline)" in table and "data loading" in table
    saved = json.loads(old.read_text())
    assert {r["reader"] for r in saved["decode"]} >= {"stream: vidkit pyav", "8 uniform frames: vidkit decord"}
    assert all(r["frames_per_s"] > 0 for r in saved["decode"])
    [data] = saved["data"]
    assert data["workers"] == 0 and data["clips"] > 0 and data["clips_per_s"] > 0
    assert main(["bench", str(clip), "--only", "decode", "--repeats", "1", "--compare", str(old)]) == 0
    compared = capsys.readouterr().out
    assert "new / old" in compared and "stream: vidkit pyav" in compared


def test_torchcodec_rows_where_it_decodes_and_the_reason_where_not(clip, monkeypatch):
    reason = torchcodec_unavailable()
    readers = {name for name, _, _ in decode_rates(str(clip), repeats=1)}
    torchcodec_rows = {r for r in readers if "torchcodec" in r}
    assert torchcodec_rows == (
        set()
        if reason
        else {
            "stream: raw torchcodec",
            "stream: vidkit torchcodec",
            "8 uniform frames: raw torchcodec",
            "8 uniform frames: vidkit torchcodec",
        }
    )
    assert decode_skipped() == ([f"torchcodec: {reason}"] if reason else [])
    # not installed: no rows, and the table says why
    monkeypatch.setitem(sys.modules, "torchcodec", None)
    torchcodec_unavailable.cache_clear()
    try:
        table = decode_table([str(clip)], repeats=1)
    finally:
        torchcodec_unavailable.cache_clear()
    assert "torchcodec" not in table.split("skipped")[0]
    assert "skipped torchcodec: backend 'torchcodec' is not installed (pip install -e '.[torchcodec]')" in table


def test_bad_arguments_are_one_line(tmp_path, capsys):
    assert main(["bench", "--only", "speed"]) == 1
    assert "unknown bench section(s) speed" in capsys.readouterr().err
    assert main(["bench", "--only", "models", "--model-paths", "fp16"]) == 1
    assert "unknown model path 'fp16'" in capsys.readouterr().err
    assert main(["bench", "--only", "decode", "--compare", str(tmp_path / "none.json")]) == 1
    assert "--compare" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["bench", "--device", "cuda"]) == 1
        assert "no CUDA device here" in capsys.readouterr().err


def test_end_to_end_trains_an_epoch_and_tags_with_its_checkpoint():
    from vidkit.bench.end_to_end import end_to_end_rows

    train, tag = end_to_end_rows(videos_per_class=2)  # 16 videos: one batch of the default run
    assert train.error is None and tag.error is None, (train.error, tag.error)
    assert train.job == "train 1 epoch" and train.clips_per_s > 0 and 0 < train.busy <= 1
    assert tag.job == "tag" and tag.videos == 16 and tag.clips_per_s > 0
