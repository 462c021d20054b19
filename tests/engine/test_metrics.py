"""Video-level metrics against values worked out by hand."""

import math

import numpy as np
import pytest
import torch

from vidkit.engine.metrics import aggregate, classification_report


def test_softmax_mean_over_views():
    logits = torch.tensor([[[0.0, 0.0], [math.log(3), 0.0]]])  # view 0: 50/50, view 1: 75/25
    assert torch.allclose(aggregate(logits), torch.tensor([[0.625, 0.375]]))
    assert torch.allclose(aggregate(logits, "logits"), torch.tensor([[math.log(3) / 2, 0.0]]))
    assert torch.allclose(aggregate(logits, "max"), torch.tensor([[0.75, 0.5]]))
    assert torch.allclose(aggregate(logits, views=[1]), torch.tensor([[0.75, 0.25]]))
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(logits, "median")


def test_report_by_hand():
    classes = ["a", "b", "c", "d", "e", "f"]
    # five labelled videos and one unlabelled; scores chosen so the rankings are clear
    scores = torch.tensor(
        [
            [0.9, 0.05, 0.02, 0.01, 0.01, 0.01],  # true a, top-1 a
            [0.1, 0.6, 0.2, 0.05, 0.03, 0.02],  # true a, top-1 b, a 3rd -> top-5 hit
            [0.0, 0.7, 0.3, 0.0, 0.0, 0.0],  # true b, top-1 b
            [0.5, 0.0, 0.1, 0.2, 0.15, 0.05],  # true f, ranked 5th of 6 -> top-5 hit, top-1 miss (a)
            [0.2, 0.1, 0.01, 0.3, 0.35, 0.04],  # true c, ranked 6th -> top-5 miss, top-1 e
            [0.2, 0.2, 0.2, 0.2, 0.1, 0.1],  # unlabelled
        ]
    )
    labels = [0, 0, 1, 5, 2, -1]
    r = classification_report(scores, labels, classes)
    assert r["videos"] == 5
    assert r["top1"] == pytest.approx(2 / 5)
    assert r["top5"] == pytest.approx(4 / 5)
    # per class top-1: a 1/2, b 1/1, c 0/1, f 0/1; d and e have no videos and are not averaged
    assert r["mean_class_accuracy"] == pytest.approx((0.5 + 1 + 0 + 0) / 4)
    per = {p["class"]: p for p in r["per_class"]}
    assert per["a"]["videos"] == 2 and per["a"]["top1"] == 0.5 and per["a"]["top5"] == 1.0
    assert per["d"]["videos"] == 0 and per["d"]["top1"] is None
    expected = np.zeros((6, 6), dtype=np.int64)
    expected[0, 0] = expected[0, 1] = expected[1, 1] = expected[5, 0] = expected[2, 4] = 1
    assert (r["confusion"] == expected).all()
    pairs = {(c["true"], c["predicted"]): c for c in r["top_confusions"]}
    assert set(pairs) == {("a", "b"), ("f", "a"), ("c", "e")}
    assert pairs[("a", "b")]["share"] == 0.5 and pairs[("c", "e")]["count"] == 1


def test_report_of_nothing_labelled_is_nan_not_an_error():
    r = classification_report(torch.rand(2, 3), [-1, -1], ["x", "y", "z"])
    assert r["videos"] == 0 and math.isnan(r["top1"]) and r["top_confusions"] == []
