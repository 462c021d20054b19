"""`vidkit train` as a user runs it: a run directory with the resolved config, metrics, curves and
checkpoints that load without unpickling arbitrary objects; clear one-line errors."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from vidkit.engine.checkpoint import load_checkpoint
from vidkit.models import build


def test_cli_train_writes_a_complete_run_directory(tiny, tmp_path):
    out = tmp_path / "run"
    result = tiny.run(tiny.args(out, "--set", "optim.name=adamw", "--set", "optim.lr=0.001"))
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds.count("epoch") == 2 and kinds.count("step") == 8
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for e in epochs:
        assert 0.0 <= e["val_top1"] <= e["val_top5"] <= 1.0 and e["val_clips"] == 8
        assert 0.0 < e["busy"] <= 1.0 and 0.0 <= e["data_wait_s"] < e["epoch_s"]  # time computing vs waiting for data
        assert 0.0 <= e["first_batch_wait_s"] <= e["data_wait_s"]  # the workers' start-up, part of the wait
        confusion = e["val_confusion"]  # 8 classes: row = true, column = predicted
        assert len(confusion) == 8 and sum(map(sum, confusion)) == 8
        assert sum(confusion[i][i] for i in range(8)) / 8 == e["val_top1"]
    steps = [e for e in events if e["event"] == "step"]
    assert steps[0]["lr"] < steps[2]["lr"]  # warm-up
    assert steps[-1]["lr"] < max(s["lr"] for s in steps)  # then cosine decay
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["optim"]["name"] == "adamw" and saved["data"]["root"] == str(tiny.root)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    best = load_checkpoint(out / "best.pt")  # weights_only=True inside
    assert best["model_name"] == tiny.model and len(best["classes"]) == 8 and best["config"] == saved
    model = build(tiny.model, num_classes=8)
    model.load_state_dict(best["model"])
    assert best["metrics"]["val_top1"] == max(e["val_top1"] for e in epochs)
    last = load_checkpoint(out / "last.pt")
    assert last["epoch"] == 2 and {"optimizer", "scheduler", "position"} <= set(last)
    assert "best val top-1" in result.stderr and f"--checkpoint {out / 'best.pt'}" in result.stderr


def test_cli_errors_are_one_line(tiny, tmp_path):
    for args, message in [
        (["train", "--model", "slowfats"], "unknown model 'slowfats' — did you mean 'slowfast'?"),
        (["train", "--set", "optim.lrr=1"], "did you mean 'optim.lr'?"),
        (["train", "--resume", str(tmp_path)], "no checkpoint there"),
    ]:
        result = tiny.run(args)
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().count("\n") == 0 and message in result.stderr, result.stderr


def test_same_seed_same_weights_on_cpu(tiny, tmp_path):
    from vidkit.pipelines.train import load_train_config, train

    def weights(out, *extra):
        config = load_train_config(
            model=tiny.model,
            overrides=[*tiny.overrides, *extra],
            values={"epochs": 1, "out": str(out), "data": {"root": str(tiny.root), "workers": 0}},
        )
        train(config)
        return load_checkpoint(out / "last.pt")["model"]

    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Recomputing the blocks in the backward pass changes nothing but memory: the same weights and BN statistics.
    c = weights(tmp_path / "c", "activation_checkpointing=true")
    assert all(torch.allclose(a[k].float(), c[k].float(), atol=1e-6) for k in a)


def test_zoo_models_train_from_the_cli_and_their_best_checkpoint_loads(tiny, tmp_path):
    """`vidkit train --model NAME` for models of the zoo other than SlowFast: a temporal one and the order-blind
    head."""
    from vidkit.models import build

    for model in ("tsm_r50", "attention_clusters"):
        out = tmp_path / model
        args = tiny.args(out, epochs=1)
        args[args.index("--model") + 1] = model
        result = tiny.run(args)
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"vidkit train: {model} on synthetic" in result.stderr
        loaded = build(model, num_classes=8, weights=out / "best.pt")
        assert type(loaded).__name__ in ("TSM", "AttentionClusterNet")


def test_coviar_trains_from_the_cli_on_the_set_in_coviar_format(tiny, tmp_path):
    """`vidkit train --model coviar`: the synthetic set is re-encoded to MPEG-4 GOP 12 beside itself
    once, and the model trains on I-frames, accumulated vectors and residuals with its per-stream losses."""
    from vidkit.io import probe
    from vidkit.models import build

    out = tmp_path / "coviar"
    args = tiny.args(
        out, "--set", "data.num_frames=3", "--set", "model.options.iframe_arch=resnet18", epochs=1, workers=1
    )
    args[args.index("--model") + 1] = "coviar"
    result = tiny.run(args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "vidkit train: coviar on synthetic" in result.stderr
    copies = sorted(Path(tiny.root).glob("*-coviar/**/*.avi"))
    assert len(copies) == 8 * 3 and probe(copies[0]).codec == "mpeg4"
    loaded = build("coviar", num_classes=8, iframe_arch="resnet18", weights=out / "best.pt")
    assert type(loaded).__name__ == "CoViAR"
    # eval and tag decode RGB clips: they say so in one line rather than feed RGB to CoViAR
    refused = tiny.run(["eval", "--checkpoint", str(out / "best.pt"), "--data-root", str(tiny.root)])
    assert refused.returncode == 1 and "reads the compressed domain" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_coviar_validates_on_the_papers_25_segments_and_other_models_refuse_test_frames(tmp_path):
    """CoViAR trains on 3 TSN segments and tests on 25 (its card's test_frames; data.test_frames
    overrides); a model that validates on clips of num_frames refuses the key rather than ignore it."""
    from vidkit.errors import ConfigError
    from vidkit.pipelines.config import load_train_config
    from vidkit.pipelines.train import build_data

    for split in ("train", "val"):
        for label in ("a", "b"):
            (tmp_path / split / label).mkdir(parents=True)
            (tmp_path / split / label / "0.avi").write_bytes(b"not read until an item is asked for")

    def data(model, *overrides):
        config = load_train_config(model=model, overrides=["data.name=folder", f"data.root={tmp_path}", *overrides])
        _, train_set, val_set, _ = build_data(config)
        return train_set, val_set

    train_set, val_set = data("coviar", "data.num_frames=3")
    assert train_set.sampler.num_segments == 3 and val_set.sampler.num_segments == 25
    assert data("coviar", "data.num_frames=3", "data.test_frames=10")[1].sampler.num_segments == 10
    with pytest.raises(ConfigError, match="data.test_frames=10: c2d_r50 validates on clips"):
        data("c2d_r50", "data.test_frames=10")
