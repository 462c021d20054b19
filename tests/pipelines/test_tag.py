"""`vidkit tag` on a folder the test builds: good videos of several codecs and containers under
unusual names, and every kind of bad file; one record per file with the right reason; kill and
resume; the per-file timeout; long videos streamed segment by segment."""

import base64
import json
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn as nn

from vidkit.cli import main
from vidkit.data.views import ViewSpec
from vidkit.engine.results import OutputLock
from vidkit.engine.tagger import Tagger, decode_for_tagging
from vidkit.io.encode import write_video
from vidkit.models import build
from vidkit.utils import isolated_map

CLASSES = ["walk", "run", "jump", "sit"]
CLIP = ["--num-frames", "4", "--interval-s", "0.1", "--crop-size", "32"]


def _frames(n, seed, size=(32, 48)):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *size, 3), dtype=torch.uint8, generator=g)


@pytest.fixture(scope="module")
def library(tmp_path_factory, write_audio):
    """``(root, expected)``: a folder of videos and what each file's record must say (None = tagged)."""
    root = tmp_path_factory.mktemp("library")
    good = {
        "a.mp4": ("libx264", {}),
        "nested/deeper/b.mkv": ("libx264", {}),
        "nested/c.webm": ("libvpx-vp9", {}),
        "nested/d.avi": ("mpeg4", {}),
        "Holiday Clip UPPER.MP4": ("libx264", {}),
        "vidéos/été à la plage.mp4": ("libx264", {}),
    }
    expected = {}
    for i, (name, (codec, options)) in enumerate(good.items()):
        write_video(root / name, _frames(12, i), fps=10, codec=codec, options=options)
        expected[str(root / name)] = None
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    expected[str(bad / "empty.mp4")] = "empty file"
    (bad / "notes.mp4").write_text("not a video\n" * 50)
    expected[str(bad / "notes.mp4")] = ""  # some reason, FFmpeg's words
    write_audio(bad / "speech.mp4")
    expected[str(bad / "speech.mp4")] = "no video stream"
    whole = write_video(bad / "whole.mp4", _frames(40, 9), fps=10, options={"movflags": ""}).read_bytes()
    (bad / "whole.mp4").unlink()
    (bad / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    expected[str(bad / "cut.mp4")] = ""
    os.symlink(bad / "gone.mp4", bad / "dangling.mp4")
    expected[str(bad / "dangling.mp4")] = "a dangling link"
    (bad / "folder.mp4").mkdir()  # a folder named like a video is not an input
    (root / "readme.txt").write_text("not listed: not a video extension")
    return root, expected


@pytest.fixture(scope="module")
def weights(c2d_weights):
    return c2d_weights


def _records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_record_per_file_with_the_reason(library, weights, tmp_path, capsys):
    root, expected = library
    out = tmp_path / "tags.jsonl"
    rc = main(
        ["tag", str(root), "--out", str(out), "--workers", "2", "--top-k", "3", "--timeout", "20", *weights, *CLIP]
    )
    err = capsys.readouterr().err
    assert rc == 0, err
    records = _records(out)
    assert sorted(r["path"] for r in records) == sorted(expected)  # every file once
    for r in records:
        reason = expected[r["path"]]
        if reason is None:
            assert r["error"] is None, r
            assert len(r["labels"]) == 3 and {x["label"] for x in r["labels"]} <= set(CLASSES)
            assert r["video"]["codec"] and r["duration_s"] == pytest.approx(1.2, abs=0.11) and r["clips"] == 3
        else:
            assert r["error"] and reason in r["error"], r
            assert r["labels"] == []
    assert "6 tagged, 5 failed" in err
    # the same command again: nothing left to do, nothing written twice
    assert main(["tag", str(root), "--out", str(out), "--workers", "1", *weights, *CLIP]) == 0
    assert len(_records(out)) == len(expected)
    assert "11 already in" in capsys.readouterr().err


def test_csv_output_and_shards_concatenate_to_the_whole(library, weights, tmp_path):
    root, expected = library
    parts = []
    for k in range(3):
        out = tmp_path / f"part{k}.csv"
        assert main(["tag", str(root), "--out", str(out), "--shard", f"{k}/3", "--workers", "1", *weights, *CLIP]) == 0
        lines = out.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("path,label,score")
        parts.append(lines[1:])
    import csv

    rows = list(csv.reader(line for part in parts for line in part))
    assert sorted(r[0] for r in rows) == sorted(expected)


def test_a_file_that_hangs_or_crashes_the_decoder_costs_only_that_file(tmp_path, weights, capsys, misbehaving_decoder):
    for name in ("crash.mp4", "fine.mp4", "stuck.mp4", "after.mp4"):
        write_video(tmp_path / name, _frames(12, 0), fps=10)
    out = tmp_path / "tags.jsonl"
    start = time.monotonic()
    assert main(["tag", str(tmp_path), "--out", str(out), "--timeout", "2", "--workers", "1", *weights, *CLIP]) == 0
    assert time.monotonic() - start < 60
    records = {os.path.basename(r["path"]): r for r in _records(out)}
    assert records["fine.mp4"]["error"] is None and records["after.mp4"]["error"] is None  # the run went on
    assert "hung" in records["stuck.mp4"]["error"]
    assert records["crash.mp4"]["error"] == "the decoder crashed (killed by SIGSEGV)"
    err = capsys.readouterr().err
    assert "1 x the decoder hung" in err and "1 x the decoder crashed" in err and "2 tagged, 2 failed" in err


@pytest.mark.timeout(600)
def test_killed_and_resumed_equals_an_uninterrupted_run(tmp_path, weights):
    source = tmp_path / "videos"
    for i in range(16):
        write_video(source / f"v{i:02d}.mp4", _frames(20, i), fps=10)
    command = [
        sys.executable,
        "-m",
        "vidkit.cli",
        "tag",
        str(source),
        "--workers",
        "1",
        "--batch-size",
        "3",
        *weights,
        *CLIP,
    ]
    whole = tmp_path / "whole.jsonl"
    assert subprocess.run(command + ["--out", str(whole)], capture_output=True).returncode == 0

    out = tmp_path / "resumed.jsonl"
    proc = subprocess.Popen(
        command + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 4):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its decoding workers, mid-way
    proc.wait()
    done_before = out.read_text().count("\n")
    assert 4 <= done_before < 16
    with out.open("a") as f:
        f.write('{"path": "/half/written')  # what a kill in the middle of a write leaves
    result = subprocess.run(command + ["--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"{done_before} already in" in result.stderr
    a, b = ({r["path"]: r for r in _records(p)} for p in (whole, out))
    assert len(_records(out)) == 16 and sorted(a) == sorted(b)  # none lost, none twice, no broken line
    for path in a:
        assert [x["label"] for x in a[path]["labels"]] == [x["label"] for x in b[path]["labels"]]
        np.testing.assert_allclose(
            [x["score"] for x in a[path]["labels"]], [x["score"] for x in b[path]["labels"]], atol=1e-4
        )


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, len(CLASSES))

    def forward(self, x):
        return self.fc(x.mean((2, 3, 4)))


def _peak_rss_of_tagging(path, spec, segment_s):
    """Tag ``path`` segment by segment with a tiny model; the decoding worker reports how much its
    peak memory grew while it decoded."""

    def work(task, beat):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        outcome = yield from decode_for_tagging(task, spec=spec, segment_s=segment_s)
        return {**outcome, "grew_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before}

    grew = []

    def events():
        for event in isolated_map(work, [str(path)], workers=1, silence_s=30, prefetch=2):
            if event[1] == "done":
                grew.append(event[2]["grew_kib"])
            time.sleep(0.002)  # a slower consumer: back-pressure, not a pile of clips
            yield event

    [result] = list(Tagger(_Tiny(), spec=spec, device=torch.device("cpu"), batch_size=4).run(events()))
    return result, grew[0]


def test_long_video_segments_stream_in_bounded_memory(tmp_path):
    spec = ViewSpec(num_clips=1, num_crops=1, num_frames=4, interval_s=0.1, crop_size=96, test_scale=96)
    short = write_video(tmp_path / "short.mp4", _frames(50, 0, (96, 128)), fps=10, options={"preset": "ultrafast"})
    long = write_video(
        tmp_path / "long.mp4",
        (_frames(1, k % 7, (96, 128))[0] for k in range(3000)),
        fps=10,
        options={"preset": "ultrafast"},
    )
    a, grew_short = _peak_rss_of_tagging(short, spec, 1.0)
    b, grew_long = _peak_rss_of_tagging(long, spec, 1.0)
    assert len(a.segments) == 5 and len(b.segments) == 300
    assert [round(s[0], 3) for s in b.segments[:3]] == [0.0, 1.0, 2.0] and b.segments[-1][1] == pytest.approx(300.0)
    # all of the long video's clips together are 300 x 4 x 96 x 128 x 3 bytes = 44 MB; streamed, the
    # worker's peak grows by about what the short one needs
    assert grew_long - grew_short < 20_000, (grew_short, grew_long)
    assert b.scores.shape == (len(CLASSES),) and torch.isclose(b.scores.sum(), torch.tensor(1.0))


def test_bad_arguments_are_one_line_errors(tmp_path, weights, capsys):
    assert main(["tag", str(tmp_path), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert "--checkpoint" in capsys.readouterr().err
    (tmp_path / "o.jsonl").write_text("this is someone else's file\n")
    assert main(["tag", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), *weights, *CLIP]) == 1
    assert "o.jsonl:1: not a vidkit tag record" in capsys.readouterr().err
    assert (tmp_path / "o.jsonl").read_text() == "this is someone else's file\n"  # left as it was
    assert main(["tag", str(tmp_path), "--out", str(tmp_path / "p.jsonl"), "--shard", "3/3", *weights, *CLIP]) == 1
    assert "--shard 3/3" in capsys.readouterr().err


def test_sliding_windows_with_a_stride(tmp_path, weights, capsys):
    write_video(tmp_path / "ten.mp4", _frames(100, 0), fps=10)  # 10 s
    out = tmp_path / "tags.jsonl"
    assert (
        main(
            [
                "tag",
                str(tmp_path),
                "--out",
                str(out),
                "--segments",
                "4",
                "--stride",
                "2",
                "--workers",
                "1",
                "--top-k",
                "1",
                *weights,
                *CLIP,
            ]
        )
        == 0
    ), capsys.readouterr().err
    [record] = _records(out)
    assert [(s["start_s"], s["end_s"]) for s in record["segments"]] == [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (6.0, 10.0)]
    assert record["clips"] == 4 and len(record["labels"]) == 1
    assert main(["tag", str(tmp_path), "--out", str(tmp_path / "x.jsonl"), "--stride", "2", *weights, *CLIP]) == 1
    assert "--stride goes with --segments" in capsys.readouterr().err


def test_adaframe_tags_from_the_frames_it_looks_at(library, tmp_path, capsys):
    """The workers run AdaFrame's policy themselves and decode only its frames: the memory's 16 and at
    most K steps, fewer than the 25 candidates a batched pass would decode; bad files get their reasons."""
    root, expected = library
    torch.manual_seed(0)
    options = {"backbone": "resnet18", "memory_size": 32, "hidden": 16, "embed": 8, "steps": 3}
    model = build("adaframe", num_classes=len(CLASSES), **options)
    checkpoint = tmp_path / "adaframe.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "model_name": "adaframe",
            "model_options": model.checkpoint_options(),  # as vidkit's checkpoints record it
            "num_classes": len(CLASSES),
            "classes": CLASSES,
            "config": {
                "model": {"name": "adaframe", "options": options},
                "data": {"num_frames": 25, "crop_size": 32, "interval_s": 0.1},
            },
        },
        checkpoint,
    )
    out = tmp_path / "tags.jsonl"
    rc = main(["tag", str(root), "--out", str(out), "--workers", "2", "--top-k", "2", "--checkpoint", str(checkpoint)])
    err = capsys.readouterr().err
    assert rc == 0, err
    records = _records(out)
    assert sorted(r["path"] for r in records) == sorted(expected)
    for r in records:
        if expected[r["path"]] is None:
            assert r["error"] is None and len(r["labels"]) == 2, r
            assert 1 <= r["video"]["frames_looked_at"] <= 3
            assert r["video"]["frames_decoded"] == 16 + r["video"]["frames_looked_at"]
        else:
            assert r["error"] and expected[r["path"]] in r["error"], r
    assert "6 tagged, 5 failed" in err
    assert (
        main(["tag", str(root), "--out", str(tmp_path / "x.jsonl"), "--checkpoint", str(checkpoint), "--segments", "1"])
        == 1
    )
    assert "--segments does not apply" in capsys.readouterr().err and not (tmp_path / "x.jsonl").exists()


def test_a_name_that_is_not_utf8_is_tagged_and_resumed(tmp_path, weights, capsys):
    folder = tmp_path / "videos"
    write_video(folder / "plain.mp4", _frames(12, 0), fps=10)
    raw = os.fsencode(folder) + b"/clip-\xff.mp4"
    os.rename(os.fsencode(folder / "plain.mp4"), raw)
    write_video(folder / "plain.mp4", _frames(12, 1), fps=10)
    listing = tmp_path / "todo.txt"
    listing.write_bytes(raw + b"\n")
    for out in (tmp_path / "tags.jsonl", tmp_path / "tags.csv"):
        for _ in range(2):
            assert main(["tag", str(folder), str(listing), "--out", str(out), "--workers", "1", *weights, *CLIP]) == 0
        assert "2 already in" in capsys.readouterr().err
        text = out.read_text(encoding="utf-8")
        assert text.count("clip-\ufffd.mp4") == 1 and text.count(base64.b64encode(raw).decode()) == 1


def test_a_rerun_retries_a_file_whose_decoder_crashed(tmp_path, weights, capsys, monkeypatch):
    import vidkit.engine.tagger as tagger

    real = tagger.decode_for_tagging

    def crashes(path, **kwargs):
        if path.endswith("crash.mp4"):
            os.kill(os.getpid(), signal.SIGSEGV)
        return (yield from real(path, **kwargs))

    monkeypatch.setattr(tagger, "decode_for_tagging", crashes)
    for name in ("crash.mp4", "fine.mp4"):
        write_video(tmp_path / name, _frames(12, 0), fps=10)
    out = tmp_path / "tags.jsonl"
    command = ["tag", str(tmp_path), "--out", str(out), "--workers", "1", *weights, *CLIP]
    assert main(command) == 0
    assert {os.path.basename(r["path"]): r["error"] for r in _records(out)}["crash.mp4"].startswith(
        "the decoder crashed"
    )
    monkeypatch.undo()  # the crash passed
    assert main(command) == 0
    assert "1 already in" in capsys.readouterr().err
    records = _records(out)
    assert sorted(os.path.basename(r["path"]) for r in records) == ["crash.mp4", "fine.mp4"]  # one each
    assert all(r["error"] is None for r in records)


# -- the output: refused before any work, locked, standard output


def _one_video(folder):
    return write_video(folder / "clip.mp4", _frames(12, 0), fps=10)


def _tag(args, *, timeout=300, cwd=None):
    """``vidkit tag ARGS`` in a fresh process; its standard output is a pipe."""
    return subprocess.run(
        [sys.executable, "-m", "vidkit.cli", "tag", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def test_out_dash_streams_the_records_to_standard_output(tmp_path, weights):
    video = _one_video(tmp_path)
    result = _tag([str(video), "--out", "-", "--workers", "1", *weights, *CLIP], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(video)] and records[0]["error"] is None
    result = _tag([str(video), "--out", "-", "--format", "csv", "--workers", "1", *weights, *CLIP], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("path,label,score,") and len(lines) == 2 and lines[1].startswith(f"{video},")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no file named "-", no lock file


@pytest.mark.parametrize(
    "out, kind",
    [
        ("/dev/null", "a character device"),
        ("/dev/zero", "a character device"),
        ("/dev/stdout", "a pipe"),
        ("", "a folder"),
    ],
)
def test_an_output_that_is_not_a_regular_file_is_refused_before_any_work(out, kind, tmp_path, weights):
    video = _one_video(tmp_path)
    out = out or str(tmp_path)
    result = _tag([str(video), "--out", out, "--workers", "1", *weights, *CLIP], timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"vidkit tag: error: {out}: not a regular file ({kind}); --out takes a file, or - for standard output"
    ]  # one line, and nothing before it: no video was looked at
    assert result.stdout == ""


def test_a_checkpoint_given_as_out_is_refused_and_still_loads(tmp_path, weights, capsys):
    video = _one_video(tmp_path)
    out = tmp_path / "best.pt"
    torch.save({"model": build("c2d_r50", num_classes=len(CLASSES)).state_dict(), "epoch": 3}, out)
    before = out.read_bytes()
    assert main(["tag", str(video), "--out", str(out), "--workers", "1", *weights, *CLIP]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"vidkit tag: error: {out}:1: not a vidkit tag record; left unchanged, use another --out"
    ]
    assert out.read_bytes() == before
    torch.load(out, weights_only=True)


def test_a_second_run_on_one_output_is_refused_naming_the_first(tmp_path, weights):
    video = _one_video(tmp_path)
    out = tmp_path / "tags.jsonl"
    out.write_text('{"path": "/elsewhere/a.mp4", "error": null}\n')
    before = out.read_bytes()
    first = OutputLock(out)  # a first run, as it were: this process, writing the output
    try:
        result = _tag([str(video), "--out", str(out), "--workers", "1", *weights, *CLIP])
    finally:
        first.release()
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"vidkit tag: error: {out}: another vidkit tag (pid {os.getpid()}) is writing it; "
        "wait for it to end, or use another --out"
    ]
    assert out.read_bytes() == before


def test_options_no_run_can_use_are_refused_before_any_work(tmp_path, weights, capsys):
    """Issue 27 item 7: each a one-line error, exit 1, before the model is loaded or a file decoded;
    an existing output is left byte for byte, and a new one is never created."""
    folder = tmp_path / "videos"
    folder.mkdir()
    _one_video(folder)
    done = tmp_path / "done.jsonl"
    assert main(["tag", str(folder), "--out", str(done), *weights, *CLIP]) == 0
    before = done.read_bytes()
    capsys.readouterr()
    refused = {
        ("--top-k", "-1"): "--top-k -1: must be at least 1",
        ("--top-k", "0"): "--top-k 0: must be at least 1",
        ("--batch-size", "0"): "--batch-size 0: must be at least 1",
        ("--workers", "-1"): "--workers -1: must be at least 1",
        ("--workers", "0"): "--workers 0: must be at least 1",
        ("--timeout", "-10"): "--timeout -10: must be more than 0",
        ("--timeout", "0"): "--timeout 0: must be more than 0",
        ("--target-fps", "0"): "--target-fps 0: must be more than 0",
        ("--segments", "0"): "--segments 0: must be more than 0",
        ("--segments", "-5"): "--segments -5: must be more than 0",
        ("--interval-s", "0"): "--interval-s 0: must be more than 0",
        ("--num-frames", "0"): "--num-frames 0: must be at least 1",
    }
    for option, message in refused.items():
        for out in (done, tmp_path / "new.jsonl", tmp_path / "new.csv"):
            # the clip flags first, so the option under test is the value that counts
            assert main(["tag", str(folder), "--out", str(out), *weights, *CLIP, *option]) == 1, option
            assert capsys.readouterr().err == f"vidkit tag: error: {message}\n"
            assert not (tmp_path / "new.jsonl").exists() and not (tmp_path / "new.csv").exists()
            assert done.read_bytes() == before


def test_files_that_lie_get_their_record_in_bounded_memory(lying_files, weights, run_vidkit_peak, tmp_path):
    folder = tmp_path / "lying"
    folder.mkdir()
    for name in ("8k.mp4", "16k.mp4", "uhd.mp4", "long.mkv"):
        (folder / name).write_bytes(lying_files[name].read_bytes())
    out = tmp_path / "tags.jsonl"
    args = ["tag", str(folder), "--out", str(out), "--segments", "4", "--workers", "2", *weights, *CLIP]
    run, peak = run_vidkit_peak(args)
    assert peak < 2048, f"{peak} MB"  # the command's process and each worker
    assert run.returncode == 0, run.stderr
    records = {os.path.basename(r["path"]): r for r in _records(out)}
    assert sorted(records) == ["16k.mp4", "8k.mp4", "long.mkv", "uhd.mp4"]
    for name, size in (("8k.mp4", "8192x8192"), ("16k.mp4", "16000x16000")):
        assert records[name]["error"].startswith(f"frames of {size} (") and records[name]["labels"] == []
    # 10^12 s claimed: its 50 packets measured, one window of 2 s
    long = records["long.mkv"]
    assert long["error"] is None and [(s["start_s"], s["end_s"]) for s in long["segments"]] == [(0.0, 2.0)]
    assert any("the header claims 1e+12 s" in w for w in long["video"]["warnings"])


def test_windows_over_the_limit_are_the_files_error(tmp_path, weights, run_vidkit):
    write_video(tmp_path / "ten.mp4", _frames(100, 0), fps=10)  # 10 s: 10 windows of 1 s
    out = tmp_path / "tags.jsonl"
    args = ["tag", str(tmp_path / "ten.mp4"), "--out", str(out), "--segments", "1", *weights, *CLIP]
    run = run_vidkit(args, env={"VIDKIT_MAX_WINDOWS": "4"})
    assert run.returncode == 0, run.stderr
    [record] = _records(out)
    assert record["error"] == (
        "10 windows of 1 s every 1 s for its 10 s, over the limit of 4 per file "
        "(raise it with VIDKIT_MAX_WINDOWS, or take longer --segments)"
    )


def test_windows_stop_where_the_stream_ends(lying_files, tmp_path, weights, capsys):
    # 3 s of frames in a file whose header says 1000 s (and that has more bytes than 1000 s of frames at
    # 25 fps would need, so the header is believed until the stream ends): three windows, not 1000
    out = tmp_path / "tags.jsonl"
    path = lying_files["1000s.mkv"]
    assert main(["tag", str(path), "--out", str(out), "--segments", "1", "--workers", "1", *weights, *CLIP]) == 0
    [record] = _records(out)
    assert record["error"] is None
    assert [(s["start_s"], s["end_s"]) for s in record["segments"]] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]


@pytest.fixture
def mixed_folder(tmp_path):
    """Two videos (one with no extension), a picture, subtitles, notes and a TypeScript file named .ts."""
    from PIL import Image

    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    write_video(folder / "a.mp4", _frames(10, 0), fps=10)
    write_video(folder / "sub" / "b.mkv", _frames(10, 1), fps=10)
    (folder / "sub" / "clip_noext").write_bytes((folder / "a.mp4").read_bytes())
    Image.new("RGB", (32, 32), "red").save(folder / "cover.jpg")
    (folder / "a.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    (folder / "notes.txt").write_text("to do\n")
    (folder / "app.ts").write_text("export const x: number = 1;\n")
    return folder


def test_skipped_files_are_counted_and_listed(mixed_folder, tmp_path, weights, capsys):
    out = tmp_path / "tags.jsonl"
    assert main(["tag", str(mixed_folder), "--out", str(out), "--workers", "1", *weights, *CLIP]) == 0
    err = capsys.readouterr().err
    assert sorted(os.path.basename(r["path"]) for r in _records(out)) == ["a.mp4", "b.mkv"]
    listed = tmp_path / "tags.jsonl.skipped.json"
    assert "vidkit tag: 2 videos (5 other files skipped)" in err
    assert f"skipped 5 files: (none) 1, .jpg 1, .srt 1, .ts 1, .txt 1 (listed in {listed})" in err
    document = json.loads(listed.read_text())
    reasons = {os.path.basename(f["path"]): f["reason"] for f in document["files"]}
    assert reasons == {
        "a.srt": "not a video extension (.srt)",
        "app.ts": "a .ts file that is not MPEG-TS (TypeScript?)",
        "clip_noext": "no extension",
        "cover.jpg": "not a video extension (.jpg)",
        "notes.txt": "not a video extension (.txt)",
    }
    # with --out -: the records on standard output, the summary alone on standard error
    assert main(["tag", str(mixed_folder), "--out", "-", "--workers", "1", *weights, *CLIP]) == 0
    assert "skipped 5 files" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed", "tags.jsonl", "tags.jsonl.skipped.json"]


def test_sniff_finds_videos_by_content(mixed_folder, tmp_path, weights, capsys):
    out = tmp_path / "tags.jsonl"
    args = ["tag", str(mixed_folder), "--out", str(out), "--sniff", "--workers", "1", *weights, *CLIP]
    assert main(args) == 0, capsys.readouterr().err
    assert sorted(os.path.basename(r["path"]) for r in _records(out)) == ["a.mp4", "b.mkv", "clip_noext"]
    err = capsys.readouterr().err
    assert "skipped 4 files: .jpg 1, .srt 1, .ts 1, .txt 1" in err
    reasons = {
        os.path.basename(f["path"]): f["reason"]
        for f in json.loads((tmp_path / "tags.jsonl.skipped.json").read_text())["files"]
    }
    assert reasons["cover.jpg"] == "a still image (jpeg_pipe)"
    assert reasons["notes.txt"].startswith("not a media file")


def test_engine_ray_without_ray_says_how_to_get_it(tmp_path, weights, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as on a machine without the extra
    write_video(tmp_path / "a.mp4", _frames(12, 0), fps=10)
    out = tmp_path / "tags.jsonl"
    assert main(["tag", str(tmp_path / "a.mp4"), "--out", str(out), "--engine", "ray", *weights, *CLIP]) == 1
    assert "--engine ray needs Ray: pip install -e '.[ray]'" in capsys.readouterr().err
    assert not out.exists()
