"""``vidkit info``: one block (or one JSON line) per file, an error line on stderr for each file it
cannot read while it goes on with the rest, exit status 1 when any failed, and ``--verify`` counting
what actually decodes in damaged files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vidkit.cli import main
from vidkit.io import probe

FIELDS = {"num_frames", "num_frames_exact", "fps", "duration_s", "is_vfr", "rotation", "codec", "width", "height"}


def _blocks(out: str) -> dict[str, list[str]]:
    """Plain output split into {path: indented lines}."""
    blocks: dict[str, list[str]] = {}
    for line in out.splitlines():
        if line and not line.startswith(" "):
            blocks[line] = []
        else:
            blocks[list(blocks)[-1]].append(line.strip())
    return blocks


def test_one_block_per_file(make_video, capsys):
    plain, rotated, vfr = make_video("h264_bframes"), make_video("rot90"), make_video("vfr")
    assert main(["info", str(plain.path), str(rotated.path), str(vfr.path)]) == 0
    out, err = capsys.readouterr()
    blocks = _blocks(out)
    assert list(blocks) == [str(plain.path), str(rotated.path), str(vfr.path)]
    assert err == ""
    first = "\n".join(blocks[str(plain.path)])
    assert "h264" in first and "B-frames" in first and "64x48" in first
    assert "40 (as the index lists them)" in first and "25.000 (constant)" in first
    assert "rotation 90" in "\n".join(blocks[str(rotated.path)])
    assert "variable frame rate" in "\n".join(blocks[str(vfr.path)])


def test_json_gives_one_object_per_line(make_video, capsys):
    videos = [make_video(name) for name in ("h264_bframes", "vp9", "rot270", "vfr")]
    assert main(["info", "--json", *(str(v.path) for v in videos)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(videos)
    for line, video in zip(lines, videos):
        record = json.loads(line)
        assert FIELDS <= set(record)
        assert record["path"] == str(video.path)
        info = probe(video.path).to_dict()
        same = FIELDS - {"num_frames", "num_frames_exact"}
        assert {k: record[k] for k in same} == {k: info[k] for k in same}
        # info counts what the probe, opening a file for a job, only estimates (WebM, Matroska: no count)
        assert (record["num_frames"], record["num_frames_exact"]) == (video.num_frames, True)
        assert record["num_frames_source"] == ("index" if info["num_frames_exact"] else "packets")
        assert (record["codec"], record["width"], record["height"], record["rotation"]) == (
            video.codec,
            video.width,
            video.height,
            video.rotation,
        )


def test_good_and_bad_files_together(make_video, bad_files, capsys):
    good = [make_video("h264_bframes").path, make_video("mpeg4").path]
    bad = [bad_files["missing"], bad_files["text"], bad_files["audio_only"]]
    assert main(["info", str(good[0]), *map(str, bad), str(good[1])]) == 1
    out, err = capsys.readouterr()
    assert list(_blocks(out)) == [str(p) for p in good]
    errors = err.splitlines()
    assert len(errors) == len(bad)
    for line, path in zip(errors, bad):
        assert line.startswith("vidkit info: error: ") and str(path) in line
    assert "no such file" in errors[0] and "not a video" in errors[1] and "audio only" in errors[2]


def test_good_and_bad_files_together_as_json(make_video, bad_files, capsys):
    good, bad = make_video("vp9").path, bad_files["empty"]
    assert main(["info", "--json", str(bad), str(good)]) == 1
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records if "error" not in r] == [str(good)]
    assert all(r["path"] == str(bad) and "empty" in r["error"] for r in records if "error" in r)
    assert len(err.splitlines()) == 1 and str(bad) in err and "error" in err


def test_the_command_as_a_user_runs_it(make_video, bad_files):
    good, missing = make_video("h264_bframes").path, bad_files["missing"]
    run = subprocess.run(
        [sys.executable, "-m", "vidkit.cli", "info", str(good), str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    [error] = run.stderr.splitlines()  # one line, no traceback
    assert error.startswith(f"vidkit info: error: {missing}: ") and "no such file" in error
    assert run.stdout.splitlines()[0] == str(good)


def test_verify_counts_what_decodes(make_video, capsys):
    video = make_video("h264_bframes")
    assert main(["info", "--json", "--verify", str(video.path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["decoded_frames"] == record["num_frames"] == video.num_frames
    assert record["last_pts_s"] == pytest.approx(video.times[-1], abs=1e-3)
    assert record["decode_warnings"] == [] and record["warnings"] == []


def test_verify_on_a_truncated_file(bad_files, capsys):
    path = bad_files["truncated_faststart"]
    assert main(["info", "--json", "--verify", str(path)]) == 0  # readable, if not whole
    record = json.loads(capsys.readouterr().out)
    decoded = record["decoded_frames"]
    assert 10 <= decoded < 60
    # the index lists 60 frames; --verify says what decodes, and corrects the count
    assert (record["num_frames"], record["num_frames_exact"], record["num_frames_source"]) == (decoded, True, "decoded")
    assert f"the index lists 60 frames; {decoded} decode" in record["decode_warnings"]
    assert any("truncated" in w for w in record["decode_warnings"])
    assert main(["info", "--verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"decoded    {decoded} frames" in out and "truncated" in out
    assert f"frames     {decoded} (exact: every frame decoded)" in out
    assert main(["info", str(path)]) == 0  # without --verify: the index's count, as the index says
    assert "frames     60 (as the index lists them)" in capsys.readouterr().out


def test_verify_on_a_damaged_file(bad_files, capsys, backend):
    path = bad_files["damaged_mkv"]
    assert main(["info", "--json", "--verify", "--backend", backend, str(path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["backend"] == backend and 30 <= record["decoded_frames"] <= 60
    if record["decoded_frames"] < 60:
        assert record["warnings"] or record["decode_warnings"], "frames lost without a warning"


def test_decord_backend(make_video, capsys):
    pytest.importorskip("decord")
    video = make_video("h264_bframes")
    assert main(["info", "--json", "--backend", "decord", str(video.path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["backend"], record["num_frames"], record["num_frames_exact"]) == ("decord", video.num_frames, True)


def test_a_stall_is_an_error_line(make_video, capsys):
    video = make_video("h264_bframes")
    assert main(["info", "--verify", "--timeout", "1e-9", str(video.path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"vidkit info: error: {video.path}: ")
