"""`vidkit eval`: the multi-view scores are the model's scores of each view on its own, and the CLI
evaluates a Kinetics-layout folder with missing and corrupt videos, writing every report file."""

import csv
import json
import shutil
import sys

import numpy as np
import pytest
import torch

from vidkit.cli import main
from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset
from vidkit.data.transforms import ClipTransform
from vidkit.data.views import VideoViews, ViewSpec, crop_views
from vidkit.engine.evaluator import predict_views
from vidkit.engine.metrics import aggregate, classification_report
from vidkit.io.encode import write_video
from vidkit.models import build


def _video(path, n, seed):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (n, 36, 60, 3), dtype=torch.uint8, generator=g)
    return write_video(path, frames, fps=25)


def test_multi_view_scores_equal_each_view_run_alone(tmp_path):
    torch.manual_seed(0)
    model = build("tsn_r50", num_classes=5).eval()
    spec = ViewSpec(num_clips=3, num_crops=3, num_frames=4, interval_s=0.12, crop_size=32, test_scale=32)
    samples = [(_video(tmp_path / "a.mp4", 30, 0), 1), (None, 2), (_video(tmp_path / "b.mp4", 45, 1), 3)]
    transform = ClipTransform()
    once = VideoViews(samples, spec)
    # batches of 4 clips: the 9 views of a video are split over batches and share some with the next video
    results = list(
        predict_views(
            model,
            (once[i] for i in range(3)),
            transform=transform,
            crop_size=32,
            device=torch.device("cpu"),
            batch_size=4,
        )
    )
    assert [r.index for r in results] == [0, 1, 2]
    assert results[1].error.startswith("missing") and results[1].logits is None
    apart = VideoViews(samples, spec, per_view=True)
    for i in (0, 2):
        item = apart[i]  # every view decoded on its own, then run through the model alone
        views = crop_views(item["clips"], item["clip_of_view"], item["boxes"], 32)
        with torch.inference_mode():
            alone = torch.cat([model(transform.normalize(views[v : v + 1])) for v in range(len(views))])
        assert results[i].logits.shape == (9, 5)
        torch.testing.assert_close(results[i].logits, alone, atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny):
    """A tiny SlowFast checkpoint trained by `vidkit train` on the tiny synthetic set."""
    out = tmp_path_factory.mktemp("eval-run")
    result = tiny.run(tiny.args(out, epochs=1))
    assert result.returncode == 0, result.stderr[-2000:]
    return out / "best.pt"


@pytest.fixture
def kinetics_root(tmp_path, tiny_root):
    """The tiny set laid out as a Kinetics download: annotations/ with the official CSVs, videos under
    val/<label>/; one listed video deleted, one overwritten with garbage."""
    spec = SyntheticSpec(num_train_per_class=2, num_val_per_class=1, size=(32, 32), num_frames=16)  # conftest's
    synthetic = synthetic_dataset(spec, root=tiny_root, progress=False).root
    root = tmp_path / "k"
    (root / "annotations").mkdir(parents=True)
    for name in ("train.csv", "val.csv"):
        shutil.copy(synthetic / name, root / "annotations" / name.replace("val", "validate"))
    shutil.copytree(synthetic / "val", root / "val")
    videos = sorted((root / "val").rglob("*.mp4"))
    videos[0].unlink()
    videos[1].write_bytes(b"\x00garbage" * 64)
    return root, videos[0].stem, videos[1].stem


@pytest.mark.timeout(600)
def test_eval_cli_on_a_kinetics_folder(trained, kinetics_root, tmp_path, capsys):
    root, missing, corrupt = kinetics_root
    out = tmp_path / "eval"
    rc = main(
        [
            "eval",
            "--checkpoint",
            str(trained),
            "--data",
            "kinetics",
            "--data-root",
            str(root),
            "--views",
            "2x3",
            "--workers",
            "1",
            "--batch-size",
            "5",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 0, err
    results = json.loads((out / "results.json").read_text())
    assert results["videos"] == {"listed": 8, "evaluated": 6, "labelled": 6, "missing": 1, "undecodable": 1}
    assert results["views"]["clips"] == 2 and results["views"]["crops"] == 3 and results["views"]["preset"] == "2x3"
    assert results["checkpoint"]["sha256"] and results["manifest"]["sha256"]
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    status = {r["key"]: r["status"] for r in manifest}
    assert len(manifest) == 8 and status[missing] == "missing" and status[corrupt] == "undecodable"
    assert all(r["duration_s"] and r["fps"] == 25 for r in manifest if r["status"] == "ok")
    # the per-view scores re-aggregate to the reported metrics without the model
    scores = np.load(out / "scores.npz")
    assert scores["logits"].shape == (6, 6, 8)
    assert list(scores["view_clip"]) == [0, 0, 0, 1, 1, 1] and list(scores["view_crop"]) == [0, 1, 2] * 2
    report = classification_report(aggregate(scores["logits"]), scores["labels"], list(scores["classes"]))
    assert report["top1"] == pytest.approx(results["top1"]) and report["top5"] == pytest.approx(results["top5"])
    assert report["mean_class_accuracy"] == pytest.approx(results["mean_class_accuracy"])
    rows = list(csv.DictReader((out / "per_class.csv").open()))
    assert len(rows) == 8 and sum(int(r["videos"]) for r in rows) == 6
    assert (out / "confusion.png").stat().st_size > 1000
    assert "6 evaluated of 8 listed (1 missing, 1 undecodable)" in err


@pytest.mark.timeout(600)
def test_eval_cli_defaults_to_the_checkpoints_own_data(trained, tmp_path, capsys, tiny_root):
    out = tmp_path / "eval"
    rc = main(
        [
            "eval",
            "--checkpoint",
            str(trained),
            "--data-root",
            str(tiny_root),
            "--views",
            "single",
            "--workers",
            "0",
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["name"] == "synthetic" and results["videos"]["evaluated"] == 8
    assert results["views"]["num_frames"] == 8 and results["views"]["crop_size"] == 32  # the checkpoint's clip settings


def test_peer_weights_need_the_model_and_clip_settings(tmp_path, kinetics_root, capsys):
    root, _, _ = kinetics_root
    weights = tmp_path / "c2d.pt"
    torch.save(build("c2d_r50", num_classes=8).state_dict(), weights)
    base = ["eval", "--checkpoint", str(weights), "--data", "kinetics", "--data-root", str(root), "--workers", "0"]
    assert main(base) == 1
    assert "name it with --model" in capsys.readouterr().err
    assert main(base + ["--model", "c2d_r50"]) == 1
    assert "--interval-s" in capsys.readouterr().err
    out = tmp_path / "eval"
    assert (
        main(
            base
            + [
                "--model",
                "c2d_r50",
                "--interval-s",
                "0.08",
                "--num-frames",
                "4",
                "--crop-size",
                "32",
                "--views",
                "1x1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((out / "results.json").read_text())["videos"]["evaluated"] == 6
    assert main(["eval", "--checkpoint", str(weights), "--model", "c2d_r50", "--data", "kinetics"]) == 1
    assert "--data-root" in capsys.readouterr().err


@pytest.mark.timeout(600)
def test_eval_under_torchrun_matches_one_process(trained, kinetics_root, tmp_path, run_vidkit):
    root, _, _ = kinetics_root
    args = [
        "eval",
        "--checkpoint",
        str(trained),
        "--data",
        "kinetics",
        "--data-root",
        str(root),
        "--views",
        "2x1",
        "--workers",
        "0",
    ]
    single = run_vidkit(args + ["--out", str(tmp_path / "one")])
    assert single.returncode == 0, single.stderr[-2000:]
    double = run_vidkit(
        args + ["--out", str(tmp_path / "two")],
        prefix=(
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "vidkit.cli",
        ),
        env={"OMP_NUM_THREADS": "1"},
    )
    assert double.returncode == 0, double.stderr[-2000:]
    one, two = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert two["world_size"] == 2 and two["videos"] == one["videos"]
    assert two["top1"] == one["top1"] and two["manifest"]["sha256"] == one["manifest"]["sha256"]
    a, b = (np.load(tmp_path / d / "scores.npz") for d in ("one", "two"))
    assert list(a["keys"]) == list(b["keys"])
    np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-4)
    assert not list((tmp_path / "two").glob(".rank*"))  # the shards' files are merged and removed


def test_ssv2_as_downloaded_with_its_default_views(tmp_path, capsys):
    """The official JSON files and VP9 webm videos under 20bn-something-something-v2/, a peer
    checkpoint; SSv2's preset is 2 clips x 3 crops."""
    root = tmp_path / "ssv2"
    labels = {
        "Pushing something from left to right": "0",
        "Pushing something from right to left": "1",
        "Holding something next to something": "2",
    }
    validation = [
        {"id": str(i), "label": "x", "template": t, "placeholders": ["x"]}
        for i, t in enumerate(
            [
                "Pushing [something] from left to right",
                "Pushing [something] from right to left",
                "Holding [something] next to [something]",
                "Pushing [something] from left to right",
            ]
        )
    ]
    (root / "annotations").mkdir(parents=True)
    for name, value in (("labels", labels), ("validation", validation), ("train", validation)):
        (root / "annotations" / f"something-something-v2-{name}.json").write_text(json.dumps(value))
    g = torch.Generator().manual_seed(0)
    for entry in validation[:3]:  # the fourth is missing
        write_video(
            root / "20bn-something-something-v2" / f"{entry['id']}.webm",
            torch.randint(0, 256, (12, 32, 48, 3), dtype=torch.uint8, generator=g),
            fps=12,
            codec="libvpx-vp9",
        )
    weights = tmp_path / "c2d.pt"
    torch.save(build("c2d_r50", num_classes=3).state_dict(), weights)
    out = tmp_path / "eval"
    rc = main(
        [
            "eval",
            "--checkpoint",
            str(weights),
            "--model",
            "c2d_r50",
            "--data",
            "ssv2",
            "--data-root",
            str(root),
            "--num-frames",
            "2",
            "--interval-s",
            "0.25",
            "--crop-size",
            "32",
            "--workers",
            "0",
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["views"]["preset"] == "ssv2" and (results["views"]["clips"], results["views"]["crops"]) == (2, 3)
    assert results["videos"]["evaluated"] == 3 and results["videos"]["missing"] == 1
    assert results["data"]["classes"] == 3
    scores = np.load(out / "scores.npz")
    assert list(scores["labels"]) == [0, 1, 2] and scores["logits"].shape == (3, 6, 3)


def test_scan_cli_reports_and_writes_the_manifest(kinetics_root, tmp_path, capsys):
    root, missing, corrupt = kinetics_root
    manifest = tmp_path / "m.jsonl"
    assert main(["scan", "--data", "kinetics", "--data-root", str(root), "--out", str(manifest), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(records) == 8
    assert {r["key"]: r["status"] for r in records}[missing] == "missing"
    assert {r["key"]: r["status"] for r in records}[corrupt] == "undecodable"
    assert json.dumps(summary).count(missing) >= 1


def test_eval_on_a_folder_per_class_dataset(trained, tiny_root, tmp_path, capsys):
    """The checkpoint's synthetic set read as a folder-per-class dataset (train/<class>/, val/<class>/)
    gives the same videos, classes matched to the checkpoint's by name, and the same metrics."""
    same = tmp_path / "synthetic"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(trained),
                "--data-root",
                str(tiny_root),
                "--views",
                "1x3",
                "--workers",
                "0",
                "--out",
                str(same),
            ]
        )
        == 0
    ), capsys.readouterr().err
    synthetic = json.loads((same / "results.json").read_text())
    out = tmp_path / "folder"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(trained),
                "--data",
                "folder",
                "--data-root",
                synthetic["data"]["videos_root"],
                "--views",
                "1x3",
                "--workers",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    ), capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["videos"]["evaluated"] == 8 and results["data"]["name"] == "folder"
    assert results["top1"] == synthetic["top1"] and results["top5"] == synthetic["top5"]
    a, b = (np.load(d / "scores.npz") for d in (same, out))
    np.testing.assert_allclose(
        a["logits"][np.argsort(a["labels"], kind="stable")],
        b["logits"][np.argsort(b["labels"], kind="stable")],
        atol=1e-5,
    )


def test_a_decoder_crash_costs_only_its_video(trained, kinetics_root, tmp_path, capsys, monkeypatch):
    import os
    import signal

    from vidkit.data import views

    root, _, _ = kinetics_root
    real = views.VideoViews._read
    victim = sorted(p for p in (root / "val").rglob("*.mp4"))[-1]

    def crashing(self, path):
        if path == str(victim):
            os.kill(os.getpid(), signal.SIGSEGV)  # in the decoding worker, as a segfaulting decoder would
        return real(self, path)

    monkeypatch.setattr(views.VideoViews, "_read", crashing)
    out = tmp_path / "eval"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(trained),
                "--data",
                "kinetics",
                "--data-root",
                str(root),
                "--views",
                "1x1",
                "--workers",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    ), capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["videos"]["evaluated"] == 5 and results["videos"]["undecodable"] == 2
    assert any("the decoder crashed (killed by SIGSEGV)" in f for f in results["failed"])


def _tiny_val(tiny_root):
    """The tiny set's val/<class>/ folders (the spec is conftest's)."""
    spec = SyntheticSpec(num_train_per_class=2, num_val_per_class=1, size=(32, 32), num_frames=16)
    return synthetic_dataset(spec, root=tiny_root, progress=False).root / "val"


def _eval_folder(trained, root, out, *extra):
    return main(
        ["eval", "--checkpoint", str(trained), "--data", "folder", "--data-root", str(root)]
        + ["--views", "1x1", "--workers", "0", "--out", str(out), *extra]
    )


@pytest.mark.timeout(600)
def test_a_folder_with_some_classes_is_scored_by_class_name(trained, tiny_root, tmp_path, capsys):
    """Issue 27 item 4: a folder whose only class folder is move_right is scored as the checkpoint's
    move_right (index 3 of the sorted names), not as its first class (grow); a class folder the
    checkpoint does not know is refused in one line that lists the ones it knows."""
    val = _tiny_val(tiny_root)
    classes = sorted(p.name for p in val.iterdir() if p.is_dir())
    assert classes.index("move_right") == 3  # else the test proves nothing
    root = tmp_path / "one"
    shutil.copytree(val / "move_right", root / "move_right")
    count = len(list((root / "move_right").glob("*.mp4")))
    assert count >= 1
    out = tmp_path / "eval"
    assert _eval_folder(trained, root, out) == 0, capsys.readouterr().err
    assert np.load(out / "scores.npz")["labels"].tolist() == [3] * count
    rows = {r["class"]: r for r in csv.DictReader((out / "per_class.csv").open())}
    assert int(rows["move_right"]["videos"]) == count and int(rows["grow"]["videos"]) == 0
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["label"] for r in manifest] == [3] * count

    shutil.copytree(val / "grow", root / "jump")  # a class the checkpoint never saw
    refused = tmp_path / "refused"
    capsys.readouterr()
    assert _eval_folder(trained, root, refused) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vidkit eval: error: ")
    assert "class 'jump'" in err and f"(it knows {', '.join(classes)})" in err
    assert not refused.exists()


@pytest.mark.timeout(600)
def test_options_no_run_can_use_are_refused_before_any_work(trained, tiny_root, tmp_path, capsys):
    """Issue 27 item 7: each a one-line error, exit 1, before the checkpoint is loaded; no report
    folder is made, and an existing one is left as it was."""
    val = _tiny_val(tiny_root)
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "results.json").write_text("{}")
    refused = {
        ("--batch-size", "0"): "--batch-size 0: must be at least 1",
        ("--workers", "-1"): "--workers -1: must be at least 0",
        ("--timeout", "-10"): "--timeout -10: must be more than 0",
        ("--target-fps", "0"): "--target-fps 0: must be more than 0",
        ("--limit", "-1"): "--limit -1: must be at least 1",
        ("--limit", "0"): "--limit 0: must be at least 1",
        ("--num-frames", "0"): "--num-frames 0: must be at least 1",
        ("--crop-size", "-32"): "--crop-size -32: must be at least 1",
        ("--test-scale", "0"): "--test-scale 0: must be at least 1",
        ("--interval-s", "-0.1"): "--interval-s -0.1: must be more than 0",
        ("--sampling-rate", "0"): "--sampling-rate 0: must be at least 1",
    }
    for option, message in refused.items():
        for out in (tmp_path / "new", kept):
            assert _eval_folder(trained, val.parent, out, *option) == 1, option
            assert capsys.readouterr().err == f"vidkit eval: error: {message}\n"
            assert not (tmp_path / "new").exists()
            assert [p.name for p in kept.iterdir()] == ["results.json"] and (kept / "results.json").read_text() == "{}"
