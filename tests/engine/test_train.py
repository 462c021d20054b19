"""`vidkit train` end to end on a tiny synthetic set: it runs, logs, checkpoints, and the
checkpoint loads without unpickling arbitrary objects."""

import json
import subprocess
import sys

import pytest
import torch

from pipelines.train import load_config, train
from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset
from vidkit.engine.checkpoint import load_checkpoint
from vidkit.errors import ConfigError
from vidkit.models import build


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    spec = SyntheticSpec(num_train_per_class=2, num_val_per_class=1, size=(32, 32), num_frames=16)
    return synthetic_dataset(spec, root=tmp_path_factory.mktemp("synthetic"), progress=False)


def test_train_runs_logs_and_checkpoints(tiny_set, tmp_path):
    config = load_config(model="mc3_18", epochs=2, batch_size=4, num_frames=4, interval_s=0.08, crop_size=32,
                         train_scale=(32, 36), test_scale=32, workers=0, out=str(tmp_path / "run"))
    result = train(config, dataset=tiny_set)
    lines = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines] == ["start", "epoch", "epoch", "end"]
    assert lines[1]["epoch"] == 1 and 0.0 <= lines[1]["val_top1"] <= 1.0
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")  # weights_only=True inside
    assert ckpt["model_name"] == "mc3_18" and ckpt["classes"] == list(tiny_set.classes)
    model = build("mc3_18", num_classes=len(tiny_set.classes))
    model.load_state_dict(ckpt["model"])
    assert result["best"]["top1"] == max(line["val_top1"] for line in lines if line["event"] == "epoch")


def test_config_rejects_unknown_keys_and_models(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochz: 3\n")
    with pytest.raises(ConfigError, match="epochz"):
        load_config(bad)
    with pytest.raises(ConfigError, match="did you mean 'r3d_18'"):
        build("r3d_81", num_classes=3)


def test_cli_reports_unknown_model_in_one_line():
    result = subprocess.run([sys.executable, "-m", "vidkit.cli", "train", "--model", "slowfats"], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "unknown model 'slowfats'" in result.stderr
