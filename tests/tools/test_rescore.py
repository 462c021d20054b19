"""tools/rescore.py: saved per-view scores re-aggregated by hand-checkable rules."""

import json
import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def rescore(load_tool):
    return load_tool("rescore").main


def _scores(path, logits, keys, labels):
    logits = np.asarray(logits, dtype=np.float32)
    views = np.arange(logits.shape[1])
    np.savez(
        path,
        logits=logits,
        keys=np.array(keys),
        labels=np.array(labels),
        classes=np.array(["a", "b"]),
        view_clip=views // 2,
        view_crop=views % 2,
    )
    return str(path)


def test_view_subsets_and_ensembles(tmp_path, rescore, capsys):
    big = math.log(9)  # softmax 0.9 / 0.1
    # video x (label a): clip 0 says a, clip 1 says b strongly; video y (label b): every view says b
    a = _scores(
        tmp_path / "a.npz", [[[big, 0], [big, 0], [0, 3 * big], [0, 3 * big]], [[0, big]] * 4], ["x", "y"], [0, 1]
    )
    assert rescore([a, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["top1"] == 0.5  # x's mean leans to b
    assert rescore([a, "--clips", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["top1"] == 1.0 and out["views"] == 2
    # a second run that only has video x, confidently right: the ensemble covers x alone
    b = _scores(tmp_path / "b.npz", [[[5 * big, 0]] * 4], ["x"], [0])
    assert rescore([a, b, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"] == 2 and out["videos"] == 1 and out["top1"] == 1.0
    assert rescore([a, "--crops", "7"]) == 1
