"""tools/same_outputs.py compare: timings and the recording's own folder never count; a changed loss,
score past 1e-6, array or line does, and a missing output is reported."""

import json

import numpy as np


def _recording(root, *, loss=0.5, score=0.9, seconds=1.0, mv=0):
    (root / "run").mkdir(parents=True)
    (root / "eval").mkdir()
    log = [{"event": "step", "time": seconds, "loss": loss, "clips_per_s": 10 / seconds, "out": str(root / "run")}]
    (root / "run" / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    (root / "eval" / "results.json").write_text(json.dumps({"top1": 0.5, "seconds": seconds}))
    (root / "eval" / "manifest.jsonl").write_text("")
    (root / "tags.jsonl").write_text(json.dumps({"path": "/v/a.mp4", "labels": [{"label": "x", "score": score}]}))
    (root / "tags_seg.csv").write_text('path,labels\n/v/a.mp4,"[{""label"": ""x"", ""score"": 0.5}]"\n')
    np.savez(root / "eval" / "scores.npz", logits=np.zeros(3))
    np.savez(root / "mv.npz", mv=np.full(3, mv))
    (root / "eval" / "per_class.csv").write_text("index,class\n")
    for name in ("info.out", "info.err", "info_verify.out", "mv.err", "models.out"):
        (root / name).write_text(f"{root}/x\n")
    (root / "tag.err").write_text(f"vidkit tag: 1 tagged in {seconds} s (1.0 videos/s, 3.0 clips/s)\n")
    return root


def _verdicts(tool, a, b):
    return dict(tool.compare(a, b))


def test_timings_and_folders_do_not_count(load_tool, tmp_path):
    tool = load_tool("same_outputs")
    a, b = _recording(tmp_path / "a"), _recording(tmp_path / "b", seconds=2.0, score=0.9 + 1e-7)
    assert set(_verdicts(tool, a, b).values()) == {"same", "identical"}
    assert tool.main(["compare", str(a), str(b)]) == 0


def test_a_changed_output_is_named(load_tool, tmp_path):
    tool = load_tool("same_outputs")
    a = _recording(tmp_path / "a")
    b = _recording(tmp_path / "b", loss=0.5001, score=0.8, mv=1)
    (b / "models.out").write_text("another table\n")
    (b / "eval" / "manifest.jsonl").unlink()
    verdicts = _verdicts(tool, a, b)
    assert verdicts["run/log.jsonl"].startswith("DIFFERENT: [0].loss: 0.5 against 0.5001")
    assert verdicts["tags.jsonl"].startswith("DIFFERENT")
    assert verdicts["mv.npz"] == verdicts["models.out"] == "DIFFERENT"
    assert verdicts["eval/manifest.jsonl"] == "MISSING"
    assert verdicts["eval/results.json"] == "same"
    assert tool.main(["compare", str(a), str(b)]) == 1
