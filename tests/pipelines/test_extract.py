"""`vidkit extract` run as a user runs it, on files the tests encode: the features are the model's on
the same decoded clip, tag's scores are the head on them, every input gets exactly one index record
(bad files their reason, no feature file), names never collide, a kill loses and repeats nothing,
shards, output refusals, the temporal layer and float16, and attention clusters trained on its frame features."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import vidkit.features
from vidkit.data.transforms import ClipTransform
from vidkit.data.views import ViewSpec, crop_views, read_views
from vidkit.io import open_video
from vidkit.io.encode import write_video
from vidkit.models import build

CLIP = ["--num-frames", "4", "--interval-s", "0.1", "--crop-size", "32"]
NUM_CLASSES = 4


def _frames(n, seed, size=(32, 48)):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *size, 3), dtype=torch.uint8, generator=g)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """``(arguments, model)``: a small c2d_r50 saved as peer weights, and the same model in memory."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    model = build("c2d_r50", num_classes=NUM_CLASSES).eval()
    torch.save(model.state_dict(), folder / "c2d.pt")
    return ["--model", "c2d_r50", "--weights", str(folder / "c2d.pt")], model


def _extract(run_vidkit, *args, timeout=300):
    return run_vidkit(["extract", *map(str, args), "--workers", "1", *CLIP], timeout=timeout)


def _index(out):
    return [json.loads(line) for line in (out / "index.jsonl").read_text(encoding="utf-8").splitlines()]


def _views(path, spec):
    """The normalised views of the whole video ``[V, 3, T, S, S]``, decoded here with the public readers."""
    with open_video(str(path), short_side=spec.test_scale) as video:
        [item] = read_views(video, [spec.sampler()(video.info)], spec.crop_size)
    views = crop_views(item["clips"], item["clip_of_view"], item["boxes"], spec.crop_size)
    return ClipTransform().normalize(views)


def test_features_are_the_models_and_tags_scores_the_head_on_them(tmp_path, weights, run_vidkit):
    args, model = weights
    video = write_video(tmp_path / "v" / "clip.mp4", _frames(12, 0), fps=10)
    out = tmp_path / "out"
    done = _extract(run_vidkit, video, "--out", out, "--views", "2x1", "--keep-views", *args)
    assert done.returncode == 0, done.stderr
    [record] = _index(out)
    features = np.load(out / record["features"])
    assert record["shape"] == list(features.shape) == [1, 2, model.num_features]
    spec = ViewSpec(num_clips=2, num_crops=1, num_frames=4, interval_s=0.1, crop_size=32, test_scale=32)
    x = _views(video, spec)
    with torch.no_grad():
        expected = model.forward_head(model.forward_features(x), pre_logits=True)
        logits = model(x)
        from_features = model.forward_head(torch.from_numpy(features[0])[:, :, None, None, None])
    np.testing.assert_allclose(features[0], expected.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(from_features.numpy(), logits.numpy(), rtol=1e-4, atol=1e-4)  # per view

    tags = tmp_path / "tags.jsonl"
    done = run_vidkit(
        ["tag", str(video), "--out", str(tags), "--views", "2x1", "--workers", "1", "--top-k", "4"] + args + CLIP
    )
    assert done.returncode == 0, done.stderr
    [tagged] = [json.loads(line) for line in tags.read_text().splitlines()]
    scores = dict(enumerate(from_features.softmax(-1).mean(0).tolist()))
    assert {int(x["label"]): x["score"] for x in tagged["labels"]} == pytest.approx(scores, abs=1e-5)

    # views averaged by default: the mean of the kept ones
    averaged = tmp_path / "averaged"
    assert _extract(run_vidkit, video, "--out", averaged, "--views", "2x1", *args).returncode == 0
    [record] = _index(averaged)
    np.testing.assert_allclose(np.load(averaged / record["features"]), features.mean(1), rtol=1e-4, atol=1e-4)
    assert record["recipe"]["views"] == "2x1" and record["model"] == "c2d_r50" and len(record["weights_sha256"]) == 64


def test_one_record_per_input_bad_files_their_reason_and_names_that_collide(tmp_path, weights, bad_files, run_vidkit):
    args, _ = weights
    same = [write_video(tmp_path / d / "clip.mp4", _frames(12, i), fps=10) for i, d in enumerate(("a", "b"))]
    raw = os.fsencode(tmp_path / "a") + b"/odd \xff name.mp4"
    os.rename(os.fsencode(write_video(tmp_path / "a" / "tmp.mp4", _frames(12, 5), fps=10)), raw)
    bad = [bad_files[k] for k in ("empty", "text", "dangling", "audio_only", "truncated_index")]
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"".join(os.fsencode(p) + b"\n" for p in [*same, *bad]) + raw + b"\n")
    out = tmp_path / "out"
    done = _extract(run_vidkit, listing, "--out", out, *args)
    assert done.returncode == 0, done.stderr
    records = _index(out)
    assert len(records) == 8 and len({(r["path"], r.get("path_b64")) for r in records}) == 8
    good = [r for r in records if r["error"] is None]
    assert sorted(r["path"] for r in good if "clip.mp4" in r["path"]) == sorted(map(str, same))
    assert len({r["features"] for r in good}) == 3 and len(os.listdir(out / "features")) == 3
    for r in good:
        assert np.load(out / r["features"]).shape == tuple(r["shape"]) == (1, 2048)
        assert r["windows"] == [[0.0, 1.2]] and r["rows"] is None
    [odd] = [r for r in good if "path_b64" in r]
    assert odd["path"].endswith("odd \ufffd name.mp4") and odd["features"].startswith("features/odd_name-")
    for r in records:
        if r["error"] is not None:
            assert r["features"] is None and r["shape"] is None, r
    reasons = {r["path"]: r["error"] for r in records if r["error"]}
    assert reasons[str(bad_files["empty"])].startswith("empty file")
    assert reasons[str(bad_files["dangling"])].startswith("a dangling link")
    assert "no video stream" in reasons[str(bad_files["audio_only"])]
    assert "3 extracted, 5 failed" in done.stderr
    again = _extract(run_vidkit, listing, "--out", out, *args)  # nothing left to do, nothing twice
    assert again.returncode == 0 and "8 already in" in again.stderr and len(_index(out)) == 8


def test_killed_and_run_again_every_input_once_and_no_partial_file(tmp_path, weights):
    args, _ = weights
    source = tmp_path / "videos"
    for i in range(12):
        write_video(source / f"v{i:02d}.mp4", _frames(20, i), fps=10)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "vidkit.cli",
        "extract",
        str(source),
        "--out",
        str(out),
        "--workers",
        "1",
        "--batch-size",
        "3",
        *args,
        *CLIP,
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    index = out / "index.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not index.exists() or index.read_text().count("\n") < 3):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its decoding workers, mid-way
    proc.wait()
    done_before = index.read_text().count("\n")
    assert 3 <= done_before < 12
    (out / "features" / ".v99-000000000000.npy.123.tmp").write_bytes(b"\x93NUMPY half")  # a kill mid-write
    with index.open("a") as f:
        f.write('{"path": "/half/written')  # what a kill in the middle of a write leaves
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"{done_before} already in" in result.stderr
    records = _index(out)
    assert sorted(r["path"] for r in records) == sorted(str(p) for p in source.iterdir())  # each once
    for r in records:
        assert np.load(out / r["features"]).shape == tuple(r["shape"])
    assert sorted(os.listdir(out / "features")) == sorted(r["features"].split("/")[1] for r in records)


def test_shards_make_the_whole(tmp_path, weights, run_vidkit):
    args, _ = weights
    videos = [write_video(tmp_path / "v" / f"{i}.mp4", _frames(12, i), fps=10) for i in range(3)]
    paths = []
    for k in range(2):
        out = tmp_path / f"part{k}"
        assert _extract(run_vidkit, tmp_path / "v", "--out", out, "--shard", f"{k}/2", *args).returncode == 0
        paths.append([r["path"] for r in _index(out)])
    assert len(paths[0]) == 2 and len(paths[1]) == 1 and sorted(sum(paths, [])) == sorted(map(str, videos))
    bad = _extract(run_vidkit, tmp_path / "v", "--out", tmp_path / "x", "--shard", "2/2", *args)
    assert bad.returncode == 1 and bad.stderr.splitlines()[-1].endswith(
        "--shard 2/2: expected K/N with 0 <= K < N, e.g. 0/4"
    )


def test_outputs_that_are_not_an_extract_folder_are_refused_before_any_work(tmp_path, weights, run_vidkit):
    args, _ = weights
    video = write_video(tmp_path / "clip.mp4", _frames(12, 0), fps=10)
    file = tmp_path / "notes.txt"
    file.write_text("mine\n")
    done = _extract(run_vidkit, video, "--out", file, *args)
    assert done.returncode == 1 and done.stderr.splitlines() == [
        f"vidkit extract: error: {file}: not a folder; --out takes a folder for vidkit extract's output"
    ]
    assert file.read_text() == "mine\n"
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"jpeg")
    done = _extract(run_vidkit, video, "--out", folder, *args)
    assert done.returncode == 1 and done.stderr.splitlines() == [
        f"vidkit extract: error: {folder}: holds other things than a vidkit extract output ('holiday.jpg'); "
        "left unchanged, use another --out"
    ]
    assert os.listdir(folder) == ["holiday.jpg"]
    tagged = tmp_path / "tagged"
    tagged.mkdir()
    (tagged / "index.jsonl").write_bytes(b"\x00\x01 a binary file\n")
    done = _extract(run_vidkit, video, "--out", tagged, *args)
    assert done.returncode == 1 and "index.jsonl:1: not a vidkit tag record" in done.stderr


def test_temporal_layer_windows_and_float16(tmp_path, weights, run_vidkit):
    args, _ = weights
    video = write_video(tmp_path / "long.mp4", _frames(30, 1), fps=10)
    out = tmp_path / "out"
    done = _extract(
        run_vidkit,
        video,
        "--out",
        out,
        "--segments",
        "1",
        "--layer",
        "temporal",
        "--dtype",
        "float16",
        "--keep-views",
        "--views",
        "2x1",
        *args,
    )
    assert done.returncode == 0, done.stderr
    [record] = _index(out)
    features = np.load(out / record["features"])
    assert features.dtype == np.float16 and record["dtype"] == "float16" and record["layer"] == "temporal"
    assert record["windows"] == [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]]
    with torch.no_grad():
        steps = weights[1].forward_features(torch.zeros(1, 3, 4, 32, 32)).shape[2]  # the model's T'
    assert list(features.shape) == record["shape"] == [3, 2, steps, 2048]  # windows, views, T', D


def test_a_model_that_chooses_its_frames_is_refused_in_one_line(tmp_path, run_vidkit):
    torch.manual_seed(0)
    options = {"backbone": "resnet18", "memory_size": 32, "hidden": 16, "embed": 8, "steps": 3}
    model = build("adaframe", num_classes=NUM_CLASSES, **options)
    checkpoint = tmp_path / "adaframe.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "model_name": "adaframe",
            "model_options": model.checkpoint_options(),  # as vidkit's checkpoints record it
            "num_classes": NUM_CLASSES,
            "classes": [str(i) for i in range(NUM_CLASSES)],
            "config": {
                "model": {"name": "adaframe", "options": options},
                "data": {"num_frames": 25, "crop_size": 32, "interval_s": 0.1},
            },
        },
        checkpoint,
    )
    video = write_video(tmp_path / "clip.mp4", _frames(12, 0), fps=10)
    out = tmp_path / "out"
    done = run_vidkit(["extract", str(video), "--checkpoint", str(checkpoint), "--out", str(out)])
    assert done.returncode == 1 and done.stderr.splitlines() == [
        "vidkit extract: error: adaframe chooses which frames to look at per video, so it has no fixed clip to "
        "extract features from; vidkit extract takes models of whole clips"
    ]
    assert not out.exists()


def test_parquet_output_is_indexed_by_shard_and_rows(tmp_path, weights, run_vidkit):
    pytest.importorskip("pyarrow")
    args, _ = weights
    for i in range(2):
        write_video(tmp_path / "v" / f"{i}.mp4", _frames(12, i), fps=10)
    out = tmp_path / "out"
    done = _extract(run_vidkit, tmp_path / "v", "--out", out, "--format", "parquet", *args)
    assert done.returncode == 0, done.stderr
    records = _index(out)
    assert [r["features"] for r in records] == ["shards/part-00000.parquet"] * 2
    assert sorted(r["rows"] for r in records) == [[0, 1], [1, 2]] and all(r["shape"] == [1, 2048] for r in records)
    assert os.listdir(out / "shards") == ["part-00000.parquet"] and not (out / "features").exists()


def test_parquet_without_pyarrow_is_refused_before_the_model_loads(tmp_path, run_vidkit):
    hide = tmp_path / "hide"  # a site hook that makes `import pyarrow` fail, as on a machine without the extra
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['pyarrow'] = None\n")
    out = tmp_path / "out"
    done = run_vidkit(
        [
            "extract",
            str(tmp_path),
            "--checkpoint",
            str(tmp_path / "no-such.pt"),
            "--out",
            str(out),
            "--format",
            "parquet",
        ],
        env={"PYTHONPATH": str(hide)},
    )
    # the checkpoint does not even exist: the format is refused first, before anything is loaded
    assert done.returncode == 1 and done.stderr.splitlines() == [
        "vidkit extract: error: --format parquet needs pyarrow: pip install 'vidkit[parquet]'"
    ]
    assert not out.exists()


def test_a_file_that_hangs_or_crashes_the_decoder_costs_only_that_file(tmp_path, weights, capsys, misbehaving_decoder):
    # as tag's test does: one file's decode blocks forever, another's kills its worker; extraction goes on
    from vidkit.cli import main

    for name in ("crash.mp4", "fine.mp4", "stuck.mp4", "after.mp4"):
        write_video(tmp_path / "v" / name, _frames(12, 0), fps=10)
    out = tmp_path / "out"
    start = time.monotonic()
    args, _ = weights
    assert (
        main(["extract", str(tmp_path / "v"), "--out", str(out), "--timeout", "2", "--workers", "1", *args, *CLIP]) == 0
    )
    assert time.monotonic() - start < 60
    records = {os.path.basename(r["path"]): r for r in _index(out)}
    assert records["fine.mp4"]["error"] is None and records["after.mp4"]["error"] is None
    assert "hung" in records["stuck.mp4"]["error"] and records["stuck.mp4"]["features"] is None
    assert records["crash.mp4"]["error"] == "the decoder crashed (killed by SIGSEGV)"
    assert len(os.listdir(out / "features")) == 2
    assert "2 extracted, 2 failed" in capsys.readouterr().err


def test_attention_clusters_train_on_the_frame_features_extract_writes(tmp_path, weights, run_vidkit):
    """The paper's recipe at toy size: ``--layer temporal`` features of a few videos in class folders (a 2D
    network's, one per frame, or per two with C2D's pooling), then attention clusters trained on them."""
    args, _ = weights
    for name, level in (("dark", 10), ("bright", 180)):
        for i in range(3):
            write_video(tmp_path / "v" / name / f"{i}.mp4", _frames(12, 10 * i + level) // 4 + level, fps=10)
    out = tmp_path / "feats"
    done = _extract(run_vidkit, tmp_path / "v", "--out", out, "--layer", "temporal", "--views", "1x1", *args)
    assert done.returncode == 0, done.stderr
    features = vidkit.features.load(out)
    assert len(features) == 6 and {s.shape for s in features.sequences()} == {(2, 2048)}  # 4 frames, T' = 2

    fit = vidkit.features.fit_attention_clusters(features, val_fraction=0.3, num_units=4, epochs=5, batch_size=2)
    assert fit.classes == ["bright", "dark"] and len(fit.val_paths) == 2
    assert fit.history[-1]["train_loss"] < fit.history[0]["train_loss"]
    assert fit.history[-1]["val_top1"] == 1.0
    assert fit.predict(features).shape == (6, 2)
