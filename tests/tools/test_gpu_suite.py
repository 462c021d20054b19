"""tools/gpu_suite.py: a rerun finishes what a run left (and skips what succeeded), the budget stops
steps rather than the machine's limit, a failing step is reported with its reason while the rest go on,
and the summary judges the issue's goals on real runs only. (Every step at toy size is CI's
`python tools/gpu_suite.py --dry-run`, in .ci/run; here one quick step runs.)"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _suite(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gpu_suite.py"), "--dry-run", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def test_a_rerun_skips_what_succeeded_and_the_budget_leaves_steps_for_the_next(tmp_path):
    out = tmp_path / "out"
    first = _suite("--out", str(out), "--only", "tag")
    assert first.returncode == 0, first.stdout + first.stderr
    results = json.loads((out / "gpu-suite.json").read_text())
    tag = results["steps"]["tag"]
    assert tag["ok"] and tag["result"]["videos"] == 4 and tag["result"]["tagging_clips_per_s"] > 0
    assert results["dry_run"] and results["machine"]["torch"]
    assert "[tag] ok" in (out / "summary.txt").read_text()

    second = _suite("--out", str(out), "--only", "tag,train", "--budget", "0")
    assert second.returncode == 1  # train was asked for and not done
    assert "[tag] done in an earlier run" in second.stdout
    assert "[train] not run: out of the budget" in second.stdout
    results = json.loads((out / "gpu-suite.json").read_text())
    assert results["steps"]["tag"] == tag  # kept as measured
    assert results["steps"]["train"]["error"] == "out of the budget: run again to do it"

    # a fresh machine: an empty OUT, the returned file named instead
    fresh = tmp_path / "fresh"
    third = _suite("--out", str(fresh), "--resume", str(out / "gpu-suite.json"), "--only", "tag,train", "--budget", "0")
    assert "[tag] done in an earlier run" in third.stdout
    assert json.loads((fresh / "gpu-suite.json").read_text())["steps"]["tag"] == tag


def test_a_failing_step_leaves_its_reason(load_tool, tmp_path, monkeypatch):
    suite = load_tool("gpu_suite")

    def broken(sizes, work):
        raise RuntimeError("bench_tag.py failed: clip.mp4: moov atom not found")

    monkeypatch.setitem(suite.STEP_FUNCTIONS, "tag", broken)
    assert suite._child("tag", suite.DRY, tmp_path) == 1
    outcome = json.loads((tmp_path / "tag.json").read_text())
    assert outcome == {"result": None, "error": "RuntimeError: bench_tag.py failed: clip.mp4: moov atom not found"}
    text = suite.format_summary(
        {"dry_run": False, "machine": None, "steps": {"tag": {"ok": False, "seconds": 3.0, **outcome}}}
    )
    assert "[tag] FAILED in 3 s\n  RuntimeError: bench_tag.py failed" in text


def test_bad_steps_are_one_line(load_tool, tmp_path, capsys):
    suite = load_tool("gpu_suite")
    with pytest.raises(SystemExit) as stop:
        suite.main(["--out", str(tmp_path), "--dry-run", "--only", "tests,speed"])
    assert stop.value.code == 2 and "unknown step(s) speed; the steps: tests, models" in capsys.readouterr().err


def _row(model, impl, path, train, peer=None, own=None):
    return {
        "model": model,
        "impl": impl,
        "path": path,
        "forward_clips_per_s": 2 * train,
        "train_clips_per_s": train,
        "peak_memory_mb": 1000.0,
        "ratio_vs_pytorchvideo": None if peer is None else {"forward": peer, "train": peer},
        "ratio_vs_fp32": None if own is None else {"forward": own, "train": own},
        "error": None,
    }


def test_the_summary_judges_the_goals_on_a_real_run_only(load_tool):
    suite = load_tool("gpu_suite")
    models = {
        "rows": [
            _row("slowfast_r50", "pytorchvideo", "fp32", 10.0, peer=1.0),
            _row("slowfast_r50", "vidkit", "amp+channels_last", 23.0, peer=2.3, own=2.2),
            _row("i3d_r50", "pytorchvideo", "fp32", 10.0, peer=1.0),
            _row("i3d_r50", "vidkit", "amp+channels_last", 15.0, peer=1.5, own=1.4),
        ]
    }
    lines = "\n".join(suite.summarise("models", models))
    assert "slowfast_r50 AMP + channels-last trains 2.30x pytorchvideo's fp32 eager (>= 2: met)" in lines
    assert "i3d_r50 AMP + channels-last trains 1.50x pytorchvideo's fp32 eager (>= 2: NOT met)" in lines
    assert "not judged" in "\n".join(suite.summarise("models", models, dry_run=True))
    run = {
        "workers": 14,
        "clips": 512,
        "clips_per_s": 80.0,
        "busy": 0.85,
        "epoch_s": 6.4,
        "data_wait_s": 0.96,
        "first_batch_wait_s": 0.8,
        "busy_after_first_batch": 0.97,
    }
    epoch = "\n".join(suite.summarise("epoch", {"runs": [run], "bytes_per_video": 2_000_000, "generated_s": 9.0}))
    assert "14 workers: 80.0 clips/s, busy 85% (goal >= 90%: NOT met)" in epoch
    assert "past the first batch (0.8 s) busy 97%" in epoch
    steps = {
        "models": {"ok": True, "seconds": 40.0, "result": models},
        "epoch": {"ok": True, "seconds": 60.0, "result": {"runs": [run], "bytes_per_video": 1, "generated_s": 9.0}},
    }
    text = suite.format_summary({"dry_run": False, "machine": None, "steps": steps})
    assert "against SlowFast's training step alone at the same batch (23.0 clips/s): 14 workers 3.48" in text
    assert "[tests] not run" in text
