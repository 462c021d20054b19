"""tools/finetune_table.py: the table and its findings, from saved results (the runs themselves take minutes)."""

import json


def _run(row, seed, top1):
    return {
        "row": row,
        "seed": seed,
        "epochs": 10,
        "settings": [],
        "top1": top1,
        "best_top1": top1,
        "top1_by_epoch": [top1],
        "seconds": 90.0,
        "date": "2026-12-06",
    }


def test_the_table_gives_each_row_per_seed_and_says_where_fine_tuning_wins(load_tool, tmp_path):
    tool = load_tool("finetune_table")
    results = {
        "pretrain": {"top1": 0.95, "epochs": 4},
        "_machine": {"description": "2 CPU cores"},
        "runs": [
            _run("scratch", 0, 0.30),
            _run("scratch", 1, 0.40),
            _run("full", 0, 0.80),
            _run("full", 1, 0.90),
            _run("frozen", 0, 0.60),
            _run("frozen", 1, 0.60),
        ],
    }
    saved = tmp_path / "finetune.json"
    saved.write_text(json.dumps(results))
    out = tmp_path / "finetune.md"
    assert tool.main(["--table-only", "--results", str(saved), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| from scratch | - | 30.0% / 40.0% | 35.0% |" in text
    assert "| fine-tuned, every layer | - | 80.0% / 90.0% | 85.0% |" in text
    assert "The best start is *fine-tuned, every layer*: 85.0%, +50.0 points over scratch" in text
    assert "frozen backbone (a linear probe): 60.0% (+25.0 points over scratch)" in text
    assert "95.0% held-out top-1 there" in text
