"""``vidkit train --resume`` continues with the builder options the weights were trained with: an i3d_r50 run
from before vidkit recorded the temporal padding goes on with replicate (its default then), not zeros."""

import argparse

import torch

from vidkit.engine.config import to_dict
from vidkit.models import build
from vidkit.pipelines import train as train_job


def _resumed_options(tmp_path, monkeypatch, **recorded) -> dict:
    config = train_job.load_train_config([], model="i3d_r50", values={}, overrides=[])
    model = build("i3d_r50", num_classes=3, temporal_padding="replicate")
    saved = {"model": model.state_dict(), "model_name": "i3d_r50", "num_classes": 3, "config": to_dict(config)}
    torch.save({**saved, **recorded}, tmp_path / "last.pt")
    seen = {}
    monkeypatch.setattr(train_job, "train", lambda config, resume=None: seen.update(config=config))
    parser = argparse.ArgumentParser()
    train_job.add_arguments(parser)
    train_job.run(parser.parse_args(["--resume", str(tmp_path)]))
    return dict(seen["config"].model.options)


def test_an_old_i3d_run_resumes_with_replicate_padding(tmp_path, monkeypatch):
    assert _resumed_options(tmp_path, monkeypatch) == {"temporal_padding": "replicate"}


def test_a_run_resumes_with_the_padding_it_records(tmp_path, monkeypatch):
    recorded = {"model_options": {"temporal_padding": "zeros"}}
    assert _resumed_options(tmp_path, monkeypatch, **recorded) == {"temporal_padding": "zeros"}
