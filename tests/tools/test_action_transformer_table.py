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


def _row(model, value, overrides=()):
    return {
        "model": model,
        "epochs": 12,
        "overrides": list(overrides),
        "seconds": 61.0,
        "map": value,
        "best_map": value,
        "best_epoch": 12,
        "ap": {c: value for c in CLASSES},
        "clips_per_s": 20.0,
        "curve": [value],
    }


def test_the_light_head_is_its_own_row_and_a_changed_preset_is_trained_again(table, tmp_path, monkeypatch):
    """Three rows: the transformer, the paper's res5 I3D head (the default) and the light head (the same
    model with head=light), each counted as built; a saved row whose options no longer resolve the same
    (i3d_roi_head's from before the res5 head, recorded without options) is trained again."""
    out = tmp_path / "t.md"
    rows = {
        "action_transformer": _row("action_transformer", 0.91),
        "i3d_roi_head": _row("i3d_roi_head", 0.93),
        "i3d_roi_head_light": _row("i3d_roi_head", 0.92, ["model.options.head=light"]),
    }
    table.write_table(rows, out)
    text = out.read_text()
    assert "| i3d_roi_head | 1,724,376 | 0.930 |" in text  # res5 on the tubes: 512 channels at width 16
    assert "| i3d_roi_head, head=light | 651,736 | 0.920 |" in text
    assert "| 1m01s | - | 20.0 |" in text  # a row from before the median epoch was kept
    assert table._median([20.5, 300.0, 19.5, 21.0]) == 20.8 and table._median([20.0, None]) is None
    budget = next(line for line in text.splitlines() if line.startswith("Budget:"))
    assert "head=light" not in budget  # the light row's own override, not every row's

    trained = []

    def fake_run(model, *, epochs, overrides, out):
        trained.append((model, overrides, out.name))
        return _row(model, 0.5, overrides)

    monkeypatch.setattr(table, "run_model", fake_run)
    results = tmp_path / "r.json"
    light_options = {"head": "light", "width": 16}
    results.write_text(
        json.dumps(
            {
                "i3d_roi_head": _row("i3d_roi_head", 0.92),  # the light head's result, from before the option
                "i3d_roi_head_light": {
                    **_row("i3d_roi_head", 0.92, ["model.options.head=light"]),
                    "options": light_options,
                },
            }
        )
    )
    argv = ["--models", "i3d_roi_head,i3d_roi_head_light", "--results", str(results), "--out", str(out)]
    table.main([*argv, "--runs", str(tmp_path / "runs")])
    assert trained == [("i3d_roi_head", [], "i3d_roi_head")]
    saved = json.loads(results.read_text())
    assert saved["i3d_roi_head"]["options"] == {"head": "res5", "width": 16} and saved["i3d_roi_head"]["map"] == 0.5
    with pytest.raises(SystemExit, match="no row i3d_head"):
        table.main(["--models", "i3d_head", "--results", str(results), "--out", str(out)])
