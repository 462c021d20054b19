"""tools/action_transformer_table.py: a run's row comes from its log (last epoch, best epoch, curve),
the command is `vidkit train` with the actors data, and the table states the goal's verdict."""

import json
import subprocess

import pytest

from vidkit.data.synthetic import CLASSES


@pytest.fixture
def table(load_tool):
    return load_tool("action_transformer_table")


def _epoch(epoch, value):
    return {
        "event": "epoch",
        "epoch": epoch,
        "val_map": value,
        "val_ap": {c: value for c in CLASSES},
        "val_clips": 192,
        "val_persons": 480,
        "train_clips_per_s": 20.0,
    }


def test_a_row_is_read_from_the_runs_log(table, tmp_path, monkeypatch):
    calls = []

    def fake_run(command, check, cwd):
        calls.append(command)
        out = tmp_path / "run"
        (out / "log.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in [{"event": "start"}, _epoch(1, 0.5), _epoch(2, 0.9), _epoch(3, 0.85)])
        )

    monkeypatch.setattr(subprocess, "run", fake_run)
    row = table.run_model("action_transformer", epochs=3, overrides=["optim.lr=0.002"], out=tmp_path / "run")
    command = calls[0]
    assert command[command.index("--model") + 1] == "action_transformer"
    assert command[command.index("--data") + 1] == "synthetic-actors" and command[-2:] == ["--set", "optim.lr=0.002"]
    assert row["map"] == 0.85 and row["best_map"] == 0.9 and row["best_epoch"] == 2 and row["curve"] == [0.5, 0.9, 0.85]


def test_table_states_both_numbers_and_the_verdict(table, tmp_path):
    rows = {
        m: {
            "model": m,
            "epochs": 12,
            "overrides": [],
            "seconds": 61.0,
            "map": v,
            "best_map": v,
            "best_epoch": 12,
            "ap": {c: v for c in CLASSES},
            "clips_per_s": 20.0,
            "curve": [v],
        }
        for m, v in (("action_transformer", 0.91), ("i3d_roi_head", 0.62))
    }
    out = tmp_path / "t.md"
    table.write_table(rows, out)
    text = out.read_text()
    assert "| action_transformer |" in text and "| 0.910 |" in text and "| 0.620 |" in text
    assert "reaches the goal of frame mAP >= 0.8 (0.910)" in text
    rows["action_transformer"]["map"] = 0.7
    table.write_table(rows, out)
    assert "misses the goal" in out.read_text()
