"""Two processes under torchrun on the gloo backend (CPU): DDP training, rank-0 logging and
checkpoints, evaluation that counts every validation clip exactly once."""

import json
import sys

import pytest

from vidkit.engine.checkpoint import load_checkpoint


@pytest.mark.timeout(600)
def test_torchrun_two_processes_gloo(tiny, tmp_path):
    out = tmp_path / "ddp"
    args = tiny.args(out, "--set", "data.batch_size=2", epochs=1)
    result = tiny.run(
        args,
        prefix=(
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "vidkit.cli",
        ),
        env={"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    start = events[0]
    assert start["event"] == "start" and start["world_size"] == 2
    # 16 training clips, 2 per process per step: 4 steps, logged once (rank 0 only).
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]
    [epoch] = [e for e in events if e["event"] == "epoch"]
    assert epoch["val_clips"] == 8  # 8 validation clips, each counted once over both ranks
    assert result.stderr.count("epoch 1/1: train loss") == 1
    ckpt = load_checkpoint(out / "last.pt")
    assert not any(k.startswith("module.") for k in ckpt["model"])  # saved unwrapped: loads into a plain model


@pytest.mark.timeout(600)
def test_torchrun_accumulates_without_reducing_every_batch(tiny, tmp_path):
    """optim.accumulate_steps under DDP: the batches before a window's last one skip the all-reduce
    (no_sync), the last reduces the sum; the schedule counts the optimiser steps of all processes' batches."""
    out = tmp_path / "ddp"
    args = tiny.args(out, "--set", "data.batch_size=2", "--set", "optim.accumulate_steps=2", epochs=1)
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
    result = tiny.run(args, prefix=(*torchrun, "-m", "vidkit.cli"), env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "batch 2 x 2 accumulated x 2 processes = 8 clips per optimiser step" in result.stderr
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    # 16 training clips, 8 an optimiser step: 2 steps
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1]
