"""`vidkit train --model adaframe` on the long variant of the built-in data, then `vidkit eval` on
its checkpoint, as a user runs them: the candidate frames span the whole video in both."""

import json

import pytest

from vidkit.cli import main

TINY_LONG = {
    "data.synthetic.variant": "long",
    "data.synthetic.train_per_class": "1",
    "data.synthetic.val_per_class": "1",
    "data.synthetic.size": "[32,32]",
    "data.synthetic.num_frames": "60",
    "data.num_frames": "10",
    "data.crop_size": "32",
    "data.train_scale": "[32,36]",
    "data.test_scale": "32",
    "data.batch_size": "4",
    "model.options.memory_size": "16",
    "model.options.hidden": "16",
    "model.options.embed": "8",
    "model.options.steps": "3",
    "log_every_steps": "1",
}


def test_train_then_eval_adaframe_on_the_long_variant(tmp_path, capsys):
    args = [
        "train",
        "--model",
        "adaframe",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "run"),
        "--data-root",
        str(tmp_path / "data"),
        "--workers",
        "0",
    ]
    for key, value in TINY_LONG.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    start = next(r for r in records if r["event"] == "start")
    assert start["config"]["data"]["synthetic"]["variant"] == "long"
    assert start["config"]["model"]["options"]["backbone"] == "resnet18"  # the preset under the --set values
    epoch = next(r for r in records if r["event"] == "epoch")
    assert epoch["val_clips"] == 8 and epoch["skipped"] == 0
    capsys.readouterr()

    out = tmp_path / "eval"
    rc = main(
        [
            "eval",
            "--checkpoint",
            str(tmp_path / "run" / "best.pt"),
            "--data-root",
            str(tmp_path / "data"),
            "--workers",
            "0",
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["videos"]["evaluated"] == 8
    # one temporal view of 10 frames over the whole video (segment centres), whatever the preset's clip count
    assert results["views"]["clips"] == 1 and results["views"]["num_frames"] == 10
    # the early exit's cost: how many of the 10 candidates the policy looked at, per video and on average
    looked = [json.loads(line)["frames"] for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(looked) == 8 and all(1 <= f <= 3 for f in looked)  # at most its K = 3 steps
    assert results["frames_per_video"] == pytest.approx(sum(looked) / 8, abs=1e-3)
    assert "candidates looked at per video" in capsys.readouterr().err
