"""tools/zoo_table.py: the within-pair accuracy that tells order-blind models apart, and the table."""

import pytest

CLASSES = ["grow", "move_down", "move_left", "move_right", "move_up", "rotate_ccw", "rotate_cw", "shrink"]


@pytest.fixture(scope="module")
def zoo(load_tool):
    return load_tool("zoo_table")


def _confusion(right: int, swapped: int, elsewhere: int = 0) -> list[list[int]]:
    """Every class: ``right`` clips correct, ``swapped`` taken for its pair partner, ``elsewhere`` for another pair."""
    partner = {
        "move_left": "move_right",
        "move_right": "move_left",
        "move_up": "move_down",
        "move_down": "move_up",
        "rotate_cw": "rotate_ccw",
        "rotate_ccw": "rotate_cw",
        "grow": "shrink",
        "shrink": "grow",
    }
    rows = []
    for c in CLASSES:
        row = [0] * 8
        row[CLASSES.index(c)] += right
        row[CLASSES.index(partner[c])] += swapped
        row[CLASSES.index("grow" if c in ("move_up", "move_down") else "move_up")] += elsewhere
        rows.append(row)
    return rows


def test_order_blind_predictions_are_half_right_within_pairs(zoo):
    blind = zoo.pair_accuracy(_confusion(10, 10), CLASSES)
    assert blind == {"within_pair": 0.5, "pair": 1.0}
    sharp = zoo.pair_accuracy(_confusion(18, 2, elsewhere=5), CLASSES)
    assert sharp["within_pair"] == pytest.approx(0.9) and sharp["pair"] == pytest.approx(0.8)
    assert zoo.pair_accuracy(None, CLASSES) == {"within_pair": None, "pair": None}


def test_table_lists_saved_results_in_the_zoo_order(zoo, tmp_path):
    row = {
        "epochs": 4,
        "overrides": ["data.num_frames=8"],
        "seconds": 61.0,
        "top1": 0.5,
        "best_top1": 0.55,
        "clips_per_s": 9.5,
        "val_clips": 200,
        "within_pair": 0.5,
        "pair": 0.99,
    }
    results = {
        "tsm_r50": {**row, "model": "tsm_r50", "top1": 0.9},
        "c2d_r50": {**row, "model": "c2d_r50"},
        "_machine": {"description": "test box", "date": "2026-11-23"},
    }
    out = tmp_path / "zoo.md"
    zoo.write_table(results, out)
    text = out.read_text()
    lines = [line for line in text.splitlines() if line.startswith("| c2d_r50") or line.startswith("| tsm_r50")]
    assert lines[0].startswith("| c2d_r50 | 23,524,424 | 4 | 50.0% | 55.0% | 50.0% | 99.0% | no | 1m01s | 9.5 |")
    assert lines[1].startswith("| tsm_r50 |") and "| 90.0% |" in lines[1] and "| yes |" in lines[1]
    assert "--epochs 4 --set data.num_frames=8" in text and "test box" in text
    assert "†" not in text and "Not one budget" not in text


def test_table_marks_rows_of_another_budget(zoo, tmp_path):
    # a re-run with more epochs under way: the table says which rows are not comparable yet
    row = {
        "overrides": ["data.num_frames=8"],
        "seconds": 61.0,
        "top1": 0.5,
        "best_top1": 0.55,
        "clips_per_s": 9.5,
        "val_clips": 200,
        "within_pair": 0.5,
        "pair": 0.99,
    }
    results = {
        "gst_r50": {**row, "model": "gst_r50", "epochs": 12},
        "tsm_r50": {**row, "model": "tsm_r50", "epochs": 12},
        "c2d_r50": {**row, "model": "c2d_r50", "epochs": 4},
    }
    out = tmp_path / "zoo.md"
    zoo.write_table(results, out)
    text = out.read_text()
    assert "--epochs 12 --set data.num_frames=8" in text and "Not one budget" in text
    assert "| c2d_r50 † | 23,524,424 | 4 |" in text and "| gst_r50 | " in text and "| gst_r50 †" not in text


def test_goal_check_names_the_misses_and_what_is_known_of_them(zoo):
    row = {"epochs": 12, "overrides": [], "within_pair": 0.9, "pair": 1.0}
    rows = [
        {**row, "model": "tsm_r50", "top1": 0.95},
        {**row, "model": "cost_a_r50", "top1": 0.875},
        {**row, "model": "c2d_r50", "top1": 0.4, "within_pair": 0.47},
        {**row, "model": "tsn_r50", "top1": 0.4, "within_pair": 0.75},
    ]
    text = "\n".join(zoo.goal_check(rows))
    assert "at least 90%: tsm_r50 (95.0%)" in text
    assert "**missed**: cost_a_r50 (87.5%)" in text and "  - cost_a_r50: " in text  # with its diagnosis
    assert "near chance within pairs: c2d_r50 (47.0%)" in text
    assert "**order-blind, not near chance**: tsn_r50 (75.0%)" in text
    assert "missed" not in "\n".join(zoo.goal_check(rows[:1]))


def test_saved_results_of_the_same_settings_are_kept_unless_retrain(zoo, tmp_path, monkeypatch):
    trained = []

    def train(model, *, epochs, overrides, out):
        trained.append(model)
        return {
            "model": model,
            "epochs": epochs,
            "overrides": overrides,
            "seconds": 1.0,
            "top1": 0.95,
            "best_top1": 0.95,
            "clips_per_s": 1.0,
            "val_clips": 200,
            "within_pair": 0.95,
            "pair": 1.0,
        }

    monkeypatch.setattr(zoo, "train", train)
    results = tmp_path / "zoo.json"
    argv = ["--models", "tsm_r50,gst_r50", "--results", str(results), "--out", str(tmp_path / "zoo.md")]
    assert zoo.main(argv) == 0 and trained == ["tsm_r50", "gst_r50"]
    assert zoo.main(argv) == 0 and trained == ["tsm_r50", "gst_r50"]  # both saved with these settings
    assert zoo.main([*argv, "--epochs", "3"]) == 0 and trained[2:] == ["tsm_r50", "gst_r50"]  # other settings
    assert zoo.main([*argv[:1], "gst_r50", *argv[2:], "--epochs", "3", "--retrain"]) == 0
    assert trained[4:] == ["gst_r50"]
