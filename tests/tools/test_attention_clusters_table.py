"""tools/attention_clusters_table.py: the within-pair accuracy of per-video predictions, and the page written
from saved results (the extraction and training it runs are vidkit extract's and vidkit.features', tested there)."""

import json

import pytest

CLASSES = ["grow", "move_down", "move_left", "move_right", "move_up", "rotate_ccw", "rotate_cw", "shrink"]


@pytest.fixture(scope="module")
def table(load_tool):
    return load_tool("attention_clusters_table")


def test_order_blind_predictions_are_half_right_within_pairs(table):
    truth = [CLASSES.index(c) for c in ("move_left", "move_left", "grow", "grow")]
    blind = [CLASSES.index(c) for c in ("move_left", "move_right", "shrink", "grow")]  # each pair: one of two
    assert table.pairs(truth, blind, CLASSES) == {"within_pair": 0.5, "pair": 1.0}
    off = [CLASSES.index(c) for c in ("move_left", "rotate_cw", "grow", "grow")]
    assert table.pairs(truth, off, CLASSES) == {"within_pair": 1.0, "pair": 0.75}


def test_the_page_has_a_row_per_result_and_the_guide(table, tmp_path):
    row = {"name": "novel", "what": "frozen features", "frames": 48, "train_videos": 800, "val_videos": 200}
    row |= {"top1": 0.35, "best_top1": 0.36, "within_pair": 0.5, "pair": 0.7, "date": "2026-12-06"}
    row |= {"pretrain_s": 1130.7, "extract_s": None, "head_s": 404.9}
    quoted = {"name": "end_to_end", "what": "end to end", "frames": 8, "top1": 0.47, "best_top1": 0.475}
    quoted |= {"within_pair": 0.48454, "pair": 0.97, "seconds": 513.8}
    results = {"_machine": {"description": "2 CPU cores"}, "novel": row, "end_to_end": quoted}
    table.write_page(json.loads(json.dumps(results)), tmp_path / "page.md")
    page = (tmp_path / "page.md").read_text()
    assert "vidkit.features.fit_attention_clusters(train, val" in page
    assert "| frozen features | 48 | 35.0% | 36.0% | 50.0% | 70.0% | 18m51s backbone pre-training, — extraction" in page
    assert "| end to end | 8 | 47.0% | 47.5% | 48.5% | 97.0% | 8m34s training |" in page
    assert "800 training and 200 validation videos" in page and "Measured on: 2 CPU cores (2026-12-06)." in page
