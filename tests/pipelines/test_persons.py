"""Person-action models as a user runs them: `vidkit train --model action_transformer --data
synthetic-actors` writes a run scored by frame mAP, `vidkit eval` reports per-class AP and writes AVA
predictions, on annotated boxes or a detection file; mismatched data is refused in one line."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from vidkit.data.synthetic import CLASSES, SyntheticSpec, synthetic_dataset

# 2 s clips (one keyframe, at 1 s), 2 videos per class: 16 train and 8 val keyframes.
ACTORS = {
    "data.synthetic.train_per_class": "2",
    "data.synthetic.val_per_class": "1",
    "data.synthetic.size": "[32,32]",
    "data.synthetic.num_frames": "50",
    "data.num_frames": "4",
    "data.interval_s": "0.08",
    "data.crop_size": "32",
    "data.train_scale": "[32,36]",
    "data.test_scale": "32",
    "data.batch_size": "4",
    "model.options.width": "4",
    "log_every_steps": "1",
}


SPEC = SyntheticSpec(
    variant="actors", num_train_per_class=2, num_val_per_class=1, size=(32, 32), num_frames=50, background="dark"
)


@pytest.fixture(scope="module")
def actors_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("actors")
    synthetic_dataset(SPEC, root=root, progress=False)
    return root


def _train_args(root, out, model="action_transformer", *extra):
    args = [
        "train",
        "--model",
        model,
        "--data",
        "synthetic-actors",
        "--epochs",
        "2",
        "--out",
        str(out),
        "--data-root",
        str(root),
        "--workers",
        "0",
    ]
    for key, value in ACTORS.items():
        args += ["--set", f"{key}={value}"]
    return args + list(extra)


@pytest.fixture(scope="module")
def trained(actors_root, tmp_path_factory, run_vidkit):
    out = tmp_path_factory.mktemp("run") / "at"
    result = run_vidkit(_train_args(actors_root, out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_train_scores_every_epoch_by_frame_map(trained):
    out, result = trained
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(epochs) == 2
    for e in epochs:
        assert 0.0 <= e["val_map"] <= 1.0 and e["val_clips"] == 8
        assert e["val_persons"] >= 16  # 2-3 objects on each of the 8 keyframes
        assert set(e["val_ap"]) == set(CLASSES)
        assert "val_top1" not in e
    assert "frame mAP" in result.stderr and "best val frame mAP" in result.stderr
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()


def test_resume_continues_a_person_run(trained, tmp_path, run_vidkit):
    out, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    result = run_vidkit(["train", "--resume", str(copy), "--epochs", "3"])
    assert result.returncode == 0, result.stderr[-3000:]
    epochs = [json.loads(line) for line in (copy / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs if e["event"] == "epoch"] == [1, 2, 3]


def test_eval_reports_per_class_ap_and_writes_ava_predictions(trained, tmp_path, actors_root, run_vidkit):
    out, _ = trained
    report_dir = tmp_path / "eval"
    result = run_vidkit(["eval", "--checkpoint", str(out / "best.pt"), "--out", str(report_dir), "--workers", "0"])
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["keyframes"] == 8 and report["boxes"] == "annotated"
    assert 0.0 <= report["map"] <= 1.0 and [r["class"] for r in report["per_class"]] == list(CLASSES)
    assert f"frame mAP@0.5 {report['map']:.4f}" in result.stdout
    with open(report_dir / "predictions.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == report["persons"] * len(CLASSES)
    assert {r[1] for r in rows} == {"0001"} and {int(r[6]) for r in rows} == set(range(1, 9))
    assert all(0.0 <= float(r[7]) <= 1.0 for r in rows)
    # The same boxes given as a detection file (each with a score) give the same mAP; the set read as AVA
    # as downloaded (--data ava: its CSVs, label map and videos found in the folder) is the same set.
    boxes = tmp_path / "boxes.csv"
    seen = sorted({tuple(r[:6]) for r in rows})
    boxes.write_text("".join(f"{','.join(r)},,0.9\n" for r in seen))
    again = run_vidkit(
        [
            "eval",
            "--checkpoint",
            str(out / "best.pt"),
            "--out",
            str(tmp_path / "eval2"),
            "--workers",
            "0",
            "--boxes",
            str(boxes),
            "--data",
            "ava",
            "--data-root",
            str(actors_root / SPEC.name),
        ]
    )
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads((tmp_path / "eval2" / "report.json").read_text())
    assert second["boxes"] == str(boxes) and second["map"] == pytest.approx(report["map"], abs=2e-3)


def test_models_and_data_that_do_not_fit_are_refused_in_one_line(actors_root, tmp_path, run_vidkit):
    result = run_vidkit(_train_args(actors_root, tmp_path / "x", "slowfast_r50"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "has person boxes" in result.stderr, result.stderr
    result = run_vidkit(
        [
            "train",
            "--model",
            "i3d_roi_head",
            "--data",
            "synthetic",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "y"),
            "--set",
            "data.synthetic.variant=motion",
        ]
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "classifies people by their boxes" in result.stderr, result.stderr


def test_tag_refuses_a_person_model_in_one_line(trained, actors_root, tmp_path, run_vidkit):
    out, _ = trained
    result = run_vidkit(
        ["tag", str(actors_root), "--checkpoint", str(out / "best.pt"), "--out", str(tmp_path / "t.jsonl")]
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "labels people by their boxes" in result.stderr, result.stderr
    assert not (tmp_path / "t.jsonl").exists()
