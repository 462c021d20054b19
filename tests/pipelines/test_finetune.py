"""Fine-tuning as a user runs it: a 400-class checkpoint trained onto a 5-class folder that has no
train/val folders — a new classifier said in one line, a seeded stratified split written into the run
directory and reused by `vidkit eval`, a frozen backbone that does not move (weights and BatchNorm
statistics) — and the options no run can use refused in one line before any work."""

import json
import shutil

import pytest
import torch

from vidkit.engine.checkpoint import load_checkpoint
from vidkit.models import build

CLASSES = ("grow", "move_left", "move_right", "rotate_cw", "shrink")


@pytest.fixture(scope="module")
def folder(tiny_root, tmp_path_factory):
    """Five class folders of three videos each, no train/val folders (the tiny set's train and val files)."""
    out = tmp_path_factory.mktemp("my_videos")
    for name in CLASSES:
        (out / name).mkdir()
        for video in sorted(tiny_root.glob(f"*/*/{name}/*.mp4")):
            shutil.copy(video, out / name / video.name)
    assert all(len(list((out / name).iterdir())) == 3 for name in CLASSES)
    return out


@pytest.fixture(scope="module")
def kinetics_checkpoint(tmp_path_factory, tiny):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "K400.pyth"
    torch.save(build(tiny.model, num_classes=400).state_dict(), path)
    return path


def _args(tiny, folder, out, *extra):
    args = tiny.args(out, "--data", "folder", "--data-root", str(folder), *extra, epochs=1)
    return args


def test_a_400_class_checkpoint_fine_tunes_onto_a_5_class_folder(tiny, folder, kinetics_checkpoint, tmp_path):
    out = tmp_path / "run"
    result = tiny.run(_args(tiny, folder, out, "--weights", str(kinetics_checkpoint), "--set", "model.freeze=backbone"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "a new classifier, from 400 to 5 classes" in result.stderr
    assert "held out for validation (seed 0)" in result.stderr

    # the split: stratified (one of each class's three videos held out), seeded, written as lists
    val = (out / "splits" / "val.txt").read_text().splitlines()
    train = (out / "splits" / "train.txt").read_text().splitlines()
    assert len(val) == 5 and len(train) == 10
    assert sorted(line.rsplit(" ", 1)[1] for line in val) == ["0", "1", "2", "3", "4"]
    assert not {line.rsplit(" ", 1)[0] for line in val} & {line.rsplit(" ", 1)[0] for line in train}
    again = tmp_path / "again"
    tiny.run(_args(tiny, folder, again, "--set", "optim.lr=1e-9"))
    assert (again / "splits" / "val.txt").read_text().splitlines() == val, "the same seed must give the same split"

    # the frozen backbone: every tensor but the new classifier's as loaded, BatchNorm statistics included
    loaded = torch.load(kinetics_checkpoint, weights_only=True)
    trained = load_checkpoint(out / "last.pt")["model"]
    assert trained["head.proj.weight"].shape == (5, loaded["head.proj.weight"].shape[1])
    moved = [k for k, v in trained.items() if not k.startswith("head.") and not torch.equal(v, loaded[k])]
    assert not moved, f"frozen tensors changed: {moved[:5]}"

    # `vidkit eval` tests the run's held-out videos, not the whole folder
    report_dir = tmp_path / "eval"
    result = tiny.run(["eval", "--checkpoint", str(out / "best.pt"), "--out", str(report_dir), "--workers", "0"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert str(out / "splits") in result.stderr
    records = [json.loads(line) for line in (report_dir / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["key"] for r in records if r["evaluated"]) == sorted(line.rsplit(" ", 1)[0] for line in val)
    assert json.loads((report_dir / "results.json").read_text())["videos"]["evaluated"] == 5

    # --resume reads the same lists: no new split, the same 10 / 5 videos, the start not announced again
    result = tiny.run(["train", "--resume", str(out), "--epochs", "2"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "held out" not in result.stderr and "a new classifier" not in result.stderr
    assert "(10 train / 5 val clips, 5 classes)" in result.stderr and "resuming at epoch 2" in result.stderr
    assert (out / "splits" / "val.txt").read_text().splitlines() == val


def test_training_on_a_folder_with_too_few_videos_in_a_class_says_so(tiny, folder, tmp_path):
    poor = tmp_path / "poor"
    shutil.copytree(folder, poor)
    for video in sorted((poor / "shrink").iterdir())[1:]:
        video.unlink()
    result = tiny.run(_args(tiny, poor, tmp_path / "run"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'shrink' has 1 video" in lines[0], result.stderr[-2000:]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (["optim.accumulate_steps=0"], "optim.accumulate_steps=0: must be at least 1"),
        (["model.freeze=[slow.res9]"], "model.freeze: 'slow.res9' names no parameter of slowfast_r50"),
        (["data.class_weights=balanced", "data.sampler=balanced"], "choose one"),
        (["optim.layer_decay=0.7", "model.name=attention_clusters"], "attention_clusters has no stages"),
        (["model.weights=/nonexistent/K400.pyth"], "model.weights /nonexistent/K400.pyth: no such file"),
    ],
)
def test_options_no_run_can_use_are_refused_in_one_line_before_any_work(tiny, folder, tmp_path, setting, message):
    out = tmp_path / "run"
    extra = [a for s in setting for a in ("--set", s)]
    result = tiny.run(_args(tiny, folder, out, *extra))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr[-2000:]
    assert not out.exists(), "refused, yet the run started"


def test_accumulated_steps_a_balanced_sampler_and_early_stopping(tiny, tmp_path):
    out = tmp_path / "run"
    extra = ["--set", "optim.accumulate_steps=2", "--set", "data.sampler=balanced", "--set", "optim.lr=1e-12"]
    extra += ["--set", "patience=1", "--set", "model.freeze=backbone"]  # frozen BN statistics: val cannot change
    result = tiny.run(tiny.args(out, *extra, epochs=4))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "batch 4 x 2 accumulated = 8 clips per optimiser step" in result.stderr
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    epochs = [r for r in log if r["event"] == "epoch"]
    # 16 training clips, 8 a step: 2 optimiser steps an epoch, the schedule's steps
    assert [r["step"] for r in epochs][:1] == [2]
    # a learning rate of 1e-12 learns nothing: no better score after epoch 1, so it stops after epoch 2 of 4
    assert len(epochs) == 2 and epochs[-1].get("stopped_early") is True
    assert "stopping early" in result.stderr
