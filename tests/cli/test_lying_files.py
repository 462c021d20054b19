"""The commands on files that lie about their size: each such file gets its one-line error or its
record, and no process (the command's, or a worker's) passes 2 GB on the way. Before the limits, a 2.4 KB
MP4 claiming 8192x8192 frames drove `info --verify`, `scan --verify` and `mv` past 5 GB, and a 4 KB MKV
claiming 10^12 s took `tag --segments 4` past 4 GB."""

from __future__ import annotations

import json
import shutil

import pytest

GB = 1024  # MB


@pytest.fixture(scope="module")
def lying_folder(lying_files, tmp_path_factory):
    """A folder dataset (``val/<class>/``) of the lying files that a folder walk finds."""
    root = tmp_path_factory.mktemp("lying")
    (root / "val" / "things").mkdir(parents=True)
    for name in ("8k.mp4", "16k.mp4", "uhd.mp4", "long.mkv"):
        shutil.copy(lying_files[name], root / "val" / "things" / name)
    return root


def test_info_verify(lying_files, run_vidkit_peak):
    names = ["8k.mp4", "16k.h264", "16k.mp4", "long.mkv"]
    run, peak = run_vidkit_peak(["info", "--json", "--verify", *(str(lying_files[n]) for n in names)])
    assert peak < 2 * GB, f"{peak} MB"
    assert run.returncode == 1
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(lying_files[n]) for n in names]
    for r in records[:3]:
        assert "exceed the limit of 33.2 million" in r["error"]
    errors = run.stderr.splitlines()
    assert len(errors) == 3 and all(e.startswith("vidkit info: error: ") for e in errors)
    assert (records[3]["num_frames"], records[3]["duration_s"]) == (50, pytest.approx(2.0))


def test_mv(lying_files, run_vidkit_peak, tmp_path):
    run, peak = run_vidkit_peak(["mv", str(lying_files["8k.mp4"]), "--out", str(tmp_path / "mv.npz")])
    assert peak < 2 * GB, f"{peak} MB"
    assert run.returncode == 1 and not (tmp_path / "mv.npz").exists()
    assert run.stderr.startswith("vidkit mv: error: ") and "frames of 8192x8192" in run.stderr
    assert len(run.stderr.splitlines()) == 1


def test_scan_verify(lying_folder, run_vidkit_peak, tmp_path):
    manifest = tmp_path / "scan.jsonl"
    args = ["scan", "--data", "folder", "--data-root", str(lying_folder), "--verify", "--out", str(manifest)]
    run, peak = run_vidkit_peak([*args, "--workers", "2"])
    assert peak < 2 * GB, f"{peak} MB"
    records = {r["key"].split("/")[-1]: r for r in map(json.loads, manifest.read_text().splitlines())}
    assert records["8k.mp4"]["status"] == records["16k.mp4"]["status"] == "undecodable"
    assert "frames of 16000x16000" in records["16k.mp4"]["reason"]
    assert records["long.mkv"]["status"] == "ok" and records["long.mkv"]["duration_s"] == 2.0
    assert records["long.mkv"]["num_frames"] == 50
