"""`vidkit watch` as a user runs it: a file's windows equal `vidkit tag --segments W --stride H`'s, scores
to 1e-4; the causal TSM streamed frame by frame equals the offline causal model; standard input; a TCP
stream cut mid-way (drop and reconnect recorded); SIGTERM closes the events file on a whole line; wrong
arguments, models that cannot watch, and outputs that are not an events file refused before any work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vidkit.cli import main
from vidkit.data.transforms import ClipTransform, crop_box
from vidkit.io import open_video
from vidkit.io.encode import write_video
from vidkit.models import build

CLASSES = ["walk", "run", "jump", "sit"]
CLIP = ["--num-frames", "4", "--interval-s", "0.1", "--crop-size", "32"]
SERVER = Path(__file__).parents[1] / "io" / "stream_server.py"


def _frames(n, seed, size=(32, 48)):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *size, 3), dtype=torch.uint8, generator=g)


@pytest.fixture(scope="module")
def weights(c2d_weights):
    return c2d_weights


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """10.3 s at 10 fps: the last window of 2 s every 0.5 s is cut short, as tag cuts it."""
    return write_video(tmp_path_factory.mktemp("watch") / "clip.mp4", _frames(103, 0), fps=10, options={"bf": "2"})


@pytest.fixture(scope="module")
def causal_tsm(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build("tsm_r50", num_classes=len(CLASSES), shift="causal")
    path = tmp_path_factory.mktemp("tsm") / "tsm.pt"
    data = {"num_frames": 8, "interval_s": 0.1, "crop_size": 32, "test_scale": 32}
    torch.save(
        {
            "model_name": "tsm_r50",
            "model": model.state_dict(),
            "num_classes": len(CLASSES),
            "classes": CLASSES,
            "config": {"model": {"options": {"shift": "causal"}}, "data": data},
        },
        path,
    )
    return path


def _records(path: Path, kind: str | None = "window") -> list[dict]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [r for r in records if kind is None or r["type"] == kind]


def _scores(labels: list[dict]) -> dict[str, float]:
    return {entry["label"]: entry["score"] for entry in labels}


def test_a_files_windows_are_tags_segments(clip, weights, tmp_path, capsys):
    tags, events = tmp_path / "tags.jsonl", tmp_path / "events.jsonl"
    common = [*weights, *CLIP, "--top-k", "4"]
    assert (
        main(["tag", str(clip), "--out", str(tags), "--segments", "2", "--stride", "0.5", "--workers", "1", *common])
        == 0
    )
    assert main(["watch", str(clip), "--out", str(events), *common]) == 0, capsys.readouterr().err
    assert "the source ended; 18 windows from 103 frames" in capsys.readouterr().err
    [record] = _records(tags, None)
    windows = _records(events)
    assert [(s["start_s"], s["end_s"]) for s in record["segments"]] == [
        (round(w["start_s"], 3), round(w["end_s"], 3)) for w in windows
    ]
    assert windows[-1]["start_s"] == 8.5 and windows[-1]["end_s"] == pytest.approx(10.3)
    for segment, window in zip(record["segments"], windows):
        a, b = _scores(segment["labels"]), _scores(window["labels"])
        assert a.keys() == b.keys() and max(abs(a[k] - b[k]) for k in a) < 1e-4
        assert window["latency_s"] >= 0 and window["wall_time"] > 1.7e9 and window["frames"] == 4
    [end] = _records(events, "end")
    assert end["reason"] == "the source ended" and end["frames"] == 103 and end["dropped"] == 0


def test_the_causal_tsm_streams_as_it_scores_offline(clip, causal_tsm, tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    assert main(["watch", str(clip), "--checkpoint", str(causal_tsm), "--out", str(events), "--top-k", "4"]) == 0
    assert "a frame every 0.1 s stepped through the model" in capsys.readouterr().err
    # offline: the causal model over all the frames at once, each window the mean of its frames' scores
    model = build("tsm_r50", num_classes=len(CLASSES), shift="causal")
    model.load_state_dict(torch.load(causal_tsm, weights_only=True)["model"])
    with open_video(clip, short_side=32) as video:
        frames = video.read_at([i / 10 for i in range(103)]).data
    top, left = crop_box(*frames.shape[1:3], 32, 0, 1)
    x = ClipTransform().normalize(frames[None, :, top : top + 32, left : left + 32])
    with torch.no_grad():
        per_frame = model.eval().frame_logits(model.forward_features(x))[0].softmax(-1)
    windows = _records(events)
    assert [(w["start_s"], w["end_s"]) for w in windows[:2]] == [(0.0, 2.0), (0.5, 2.5)] and len(windows) == 17
    for w in windows:
        expected = per_frame[round(w["start_s"] * 10) : round(w["end_s"] * 10)].mean(0)
        got = _scores(w["labels"])
        assert max(abs(expected[CLASSES.index(k)].item() - v) for k, v in got.items()) < 1e-4


def _vidkit(args, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "vidkit.cli", *args], capture_output=True, text=True, env=env, **kwargs
    )


def test_standard_input(clip, weights, tmp_path, mpegts):
    with open(mpegts(clip, tmp_path / "clip.ts"), "rb") as stdin:
        # a pipe is live (the oldest waiting window dropped when the model falls behind): block, to test every window
        done = _vidkit(["watch", "-", *weights, *CLIP, "--hop", "2", "--drop", "block"], stdin=stdin, timeout=120)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["start_s"], r["end_s"]) for r in records if r["type"] == "window"] == [
        (0.0, 2.0),
        (2.0, 4.0),
        (4.0, 6.0),
        (6.0, 8.0),
        (8.0, 10.0),
        (10.0, 10.3),  # the last, cut short at the end: tag's last segment
    ]
    assert records[-1]["type"] == "end" and "- (pipe)" in done.stderr


def test_a_tcp_stream_cut_midway_is_reconnected_and_recorded(clip, weights, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, str(SERVER), "tcp", str(port), str(clip), "--cut-after", "40", "--times", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout.readline().strip() == "ready"
        events = tmp_path / "events.jsonl"
        done = _vidkit(
            ["watch", f"tcp://127.0.0.1:{port}", "--out", str(events), "--max-seconds", "12", *weights, *CLIP],
            timeout=120,
        )
    finally:
        server.kill()
        server.wait(10)
    assert done.returncode == 0, done.stderr
    records = _records(events, None)
    kinds = [r["type"] for r in records]
    assert "drop" in kinds and "connected" in kinds and kinds[-1] == "end"
    assert records[-1]["disconnects"] == 1 and records[-1]["reconnects"] == 1
    starts = [r["start_s"] for r in records if r["type"] == "window"]
    assert starts == sorted(starts) and starts[-1] < 12
    assert "reconnected (connection 2)" in done.stderr


def test_sigterm_ends_with_whole_lines_an_end_record_and_a_playable_drawing(clip, weights, tmp_path):
    import av

    events, drawn = tmp_path / "events.jsonl", tmp_path / "drawn.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "vidkit.cli", "watch", str(clip), "--realtime", "--hop", "0.1", "--out", str(events)]
        + ["--draw", str(drawn), *weights, *CLIP],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not events.exists() or events.read_text().count("\n") < 3):
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    text = events.read_text()
    assert text.endswith("\n")
    records = [json.loads(line) for line in text.splitlines()]
    assert records[-1]["type"] == "end" and records[-1]["reason"] == "stopped by SIGTERM"
    assert 3 <= records[-1]["windows"] < 80 and "stopped by SIGTERM" in stderr
    with av.open(str(drawn)) as container:  # the drawing, cut by the signal, plays: every frame read is in it
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == records[-1]["frames"] and frames[-1].shape == (32, 48, 3)


def test_wrong_arguments_are_refused_before_any_work(clip, weights, tmp_path, capsys):
    tags = tmp_path / "tags.jsonl"
    tags.write_text('{"path": "a.mp4", "labels": []}\n')
    cases = {
        ("--out", str(tags)): f"{tags}:1: not a vidkit watch record; left unchanged",
        ("--window", "0"): "--window 0: must be more than 0",
        ("--mode", "stream"): "--mode stream: c2d_r50 does not stream frame by frame",
        ("--views", "3x1"): "--views 3x1: a window is one clip",
        ("--option", "rtsp_transport"): "--option rtsp_transport: expected KEY=VALUE",
        ("--draw", str(tags)): "--draw " + str(tags) + ": vidkit watch draws into MP4",
        ("--draw", str(clip)): "--draw " + str(clip) + ": the source itself; left unchanged",
    }
    for extra, message in cases.items():
        assert main(["watch", str(clip), *weights, *CLIP, *extra]) == 1
        assert message in capsys.readouterr().err
    assert tags.read_text() == '{"path": "a.mp4", "labels": []}\n'
    assert main(["watch", "htpp://camera/x", *weights]) == 1
    assert "did you mean http://?" in capsys.readouterr().err
    assert main(["watch", str(tmp_path / "gone.mp4"), *weights]) == 1
    assert "gone.mp4: no such file" in capsys.readouterr().err


def test_protocols_are_listed(capsys):
    assert main(["watch", "--protocols"]) == 0
    out = capsys.readouterr().out
    assert "tcp" in out and "udp" in out and "rtsp://" in out


def test_events_are_appended_by_a_second_run(clip, weights, tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    for _ in range(2):
        assert (
            main(["watch", str(clip), "--out", str(events), "--hop", "4", "--max-seconds", "6", *weights, *CLIP]) == 0
        )
    records = _records(events, None)
    assert [r["type"] for r in records] == ["window", "window", "end"] * 2  # [0, 2) and [4, 6)
    assert records[2]["reason"] == "--max-seconds reached"


def test_models_that_cannot_watch_say_so():
    from types import SimpleNamespace

    from vidkit.engine.tasks import task_for
    from vidkit.errors import ConfigError

    with pytest.raises(ConfigError, match="adaframe chooses its frames over the whole video"):
        task_for("adaframe").check_watching(SimpleNamespace(name="adaframe"))
    with pytest.raises(ConfigError, match="not the RGB clips vidkit eval, tag, extract and watch decode"):
        task_for("coviar").check_tagging(SimpleNamespace(name="coviar", path="coviar.pt"))
