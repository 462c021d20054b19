"""A run killed with SIGKILL mid-epoch and resumed with --resume ends with exactly the weights of a
run that was never stopped; checkpoints on disk are always loadable."""

import os
import signal
import subprocess
import sys
import time

import torch

from vidkit.engine.checkpoint import load_checkpoint


def _weights(path):
    return load_checkpoint(path)["model"]


def test_resume_after_sigkill_matches_the_uninterrupted_run(tiny, tmp_path):
    # Workers decode in their own processes here, as in a real run: the kill takes them down too.
    extra = ("--set", "checkpoint_every_steps=1")
    whole = tmp_path / "whole"
    result = tiny.run(tiny.args(whole, *extra, workers=1))
    assert result.returncode == 0, result.stderr[-2000:]

    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidkit.cli", *tiny.args(cut, *extra, workers=1)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while not (cut / "last.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stopped = load_checkpoint(cut / "last.pt")
    position = stopped["position"]
    assert (position["epoch"], position["step"]) < (2, 0), "the run finished before it could be killed"

    result = tiny.run(["train", "--resume", str(cut)])
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming at epoch {position['epoch'] + 1} step {position['step']}" in result.stderr
    a, b = _weights(whole / "last.pt"), _weights(cut / "last.pt")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run's"
    assert load_checkpoint(cut / "last.pt")["position"]["epoch"] == 2
    assert not list(cut.glob(".*.pt.*")), "a temporary checkpoint file was left behind"
