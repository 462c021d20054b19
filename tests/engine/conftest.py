"""Fixtures for the engine tests: a tiny synthetic set, and `vidkit train` run on it as a user would."""

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset

# SlowFast R50 is the model the default run trains; at 32x32 and 8 frames a step takes well under a second.
MODEL = "slowfast_r50"
TINY = {
    "data.synthetic.train_per_class": "2",
    "data.synthetic.val_per_class": "1",
    "data.synthetic.size": "[32,32]",
    "data.synthetic.num_frames": "16",
    "data.num_frames": "8",
    "data.interval_s": "0.04",
    "data.crop_size": "32",
    "data.train_scale": "[32,36]",
    "data.test_scale": "32",
    "data.batch_size": "4",
    "optim.warmup_epochs": "0.5",
    "log_every_steps": "1",
}


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    """The tiny set, generated once; runs that name it with data.root reuse it."""
    root = tmp_path_factory.mktemp("synthetic")
    spec = SyntheticSpec(num_train_per_class=2, num_val_per_class=1, size=(32, 32), num_frames=16)
    synthetic_dataset(spec, root=root, progress=False)
    return root


def _args(root, out, *extra, epochs=2, workers=0):
    args = [
        "train",
        "--model",
        MODEL,
        "--epochs",
        str(epochs),
        "--out",
        str(out),
        "--data-root",
        str(root),
        "--workers",
        str(workers),
    ]
    for key, value in TINY.items():
        args += ["--set", f"{key}={value}"]
    return args + list(extra)


def _run(args, *, env=None, prefix=(sys.executable, "-m", "vidkit.cli"), timeout=300):
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}  # None in env: unset it
    return subprocess.run([*prefix, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


@pytest.fixture
def tiny(tiny_root):
    """``tiny.args(out, *extra)``: CLI arguments training MODEL on the tiny set; ``tiny.run(args)``:
    run ``vidkit`` in a fresh process; ``tiny.overrides``: the same settings as ``--set`` strings."""
    return SimpleNamespace(
        model=MODEL,
        root=tiny_root,
        run=_run,
        args=lambda out, *extra, **kw: _args(tiny_root, out, *extra, **kw),
        overrides=[f"{k}={v}" for k, v in TINY.items()],
    )
