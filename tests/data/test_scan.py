"""The dataset scan: statuses and reasons per video, a full decode catching truncation, a crashing or
hanging decoder costing only its file, the summary's counts and histograms, the manifest round trip
and hash, and the ``vidkit scan`` pipeline module."""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import time

import pytest

import vidkit.pipelines.scan
from vidkit.data import scan as scan_module
from vidkit.data.catalog import VideoEntry, open_catalog
from vidkit.data.registry import dataset_names
from vidkit.data.scan import format_report, manifest_hash, read_manifest, record_for, scan, summarize, write_manifest
from vidkit.errors import ConfigError

CSV = """label,youtube_id,time_start,time_end,split
walk,a,0,10,val
walk,b,0,10,val
"run, fast",c,0,10,val
"run, fast",d,0,10,val
walk,e,0,10,val
walk,f,0,10,val
"""
NOT_A_VIDEO = "not a video file (no known container signature; decoder says: Invalid data found when processing input)"


@pytest.fixture
def dataset(tmp_path, put):
    """a: 10 frames of H.264 (0.4 s), b: 20 frames (0.8 s), c: VP9, d: missing, e: garbage, f: an MKV cut in half."""
    root = tmp_path / "k"
    root.mkdir()
    (root / "val.csv").write_text(CSV)
    put(root / "val" / "walk" / "a_000000_000010.mp4")
    put(root / "val" / "walk" / "b_000000_000010.mp4", "mp4_long")
    put(root / "val" / "run_fast" / "c_000000_000010.webm", "webm")
    put(root / "val" / "walk" / "e_000000_000010.mp4", "garbage")
    put(root / "val" / "walk" / "f_000000_000010.mkv", "mkv_truncated")
    return root


def _statuses(records):
    return [(r["key"][0], r["status"]) for r in records]


def test_scan_records_and_summary(dataset):
    catalog = open_catalog("kinetics", root=dataset)
    records = scan(catalog, workers=2)
    assert _statuses(records) == [
        ("a", "ok"),
        ("b", "ok"),
        ("c", "ok"),
        ("d", "missing"),
        ("e", "undecodable"),
        ("f", "ok"),
    ]
    a, _, c, d, e, f = records
    assert a == {
        "key": "a_000000_000010",
        "path": str(dataset / "val" / "walk" / "a_000000_000010.mp4"),
        "label": 1,
        "status": "ok",
        "reason": None,
        "size": os.path.getsize(a["path"]),
        "duration_s": 0.4,
        "fps": 25.0,
        "width": 32,
        "height": 32,
        "codec": "h264",
        "num_frames": 10,
        "num_frames_source": "index",
    }
    assert c["codec"] == "vp9" and c["label"] == 0
    # WebM and Matroska carry no frame count: the packets are counted, as ffprobe -count_packets does
    assert (c["num_frames"], c["num_frames_source"]) == (10, "packets")
    assert f["num_frames_source"] == "packets" and 0 < f["num_frames"] < 60  # what is left of 60 frames
    assert d["path"] is None and d["size"] is None and d["reason"] == "no file found for this entry"
    assert e["reason"] == NOT_A_VIDEO and e["size"] == 2048 and e["duration_s"] is None
    assert f["duration_s"] == 2.4  # the header's promise: only a full decode sees the cut

    summary = summarize(records)
    assert summary["total"] == 6 and summary["status"] == {"ok": 4, "missing": 1, "undecodable": 1}
    assert summary["reasons"] == {NOT_A_VIDEO: 1}
    assert summary["duration_s"] == {"0-2": 3, "2-5": 1, "5-8": 0, "8-10": 0, "10-12": 0, "12-30": 0, "30+": 0}
    assert summary["fps"] == {"15": 0, "24": 0, "25": 4, "30": 0, "50": 0, "60": 0, "other": 0}
    assert summary["missing"] == [{"key": "d_000000_000010"}]
    assert summary["undecodable"] == [{"key": "e_000000_000010", "path": e["path"], "reason": NOT_A_VIDEO}]
    json.dumps(summary)  # printable with --json

    report = format_report(summary, catalog=catalog)
    assert "ok 4, missing 1, undecodable 1" in report
    assert "d_000000_000010" in report and f"e_000000_000010  {e['path']}: {NOT_A_VIDEO}" in report
    assert "     0-2 s ##############################" in report


def test_summary_bins_and_rates_by_hand():
    def ok(duration, fps):
        return {"key": "k", "status": "ok", "reason": None, "duration_s": duration, "fps": fps}

    records = [ok(1.99, 29.97), ok(2.0, 23.976), ok(10.0, 12.5), ok(29.9, 59.94), ok(30.0, 50.0), ok(400.0, 15.2)]
    summary = summarize(records)
    assert summary["duration_s"] == {"0-2": 1, "2-5": 1, "5-8": 0, "8-10": 0, "10-12": 1, "12-30": 1, "30+": 2}
    assert summary["fps"] == {"15": 1, "24": 1, "25": 0, "30": 1, "50": 1, "60": 1, "other": 1}


def test_verify_catches_a_truncated_file(dataset):
    records = scan(open_catalog("kinetics", root=dataset), workers=1, verify=True)
    assert _statuses(records)[-1] == ("f", "undecodable")
    assert records[-1]["reason"].startswith("damaged: stream ends at") and "truncated" in records[-1]["reason"]
    assert [s for _, s in _statuses(records)[:3]] == ["ok", "ok", "ok"]


def test_a_crashing_or_hanging_decoder_costs_only_its_file(dataset, monkeypatch):
    original = scan_module.examine

    def flaky(path, **kwargs):  # runs in the (forked) worker
        name = os.path.basename(path)
        if name.startswith("a_"):
            faulthandler.disable()  # pytest's crash dump would only clutter the output
            os.kill(os.getpid(), signal.SIGSEGV)
        if name.startswith("b_"):
            os._exit(3)
        if name.startswith("c_"):
            time.sleep(60)
        return original(path, **kwargs)

    monkeypatch.setattr(scan_module, "examine", flaky)
    started = time.monotonic()
    records = scan(open_catalog("kinetics", root=dataset), workers=1, timeout_s=0.25)
    assert time.monotonic() - started < 20
    assert _statuses(records) == [
        ("a", "undecodable"),
        ("b", "undecodable"),
        ("c", "undecodable"),
        ("d", "missing"),
        ("e", "undecodable"),
        ("f", "ok"),
    ]
    assert records[0]["reason"] == "the decoder crashed (killed by SIGSEGV)"
    assert records[1]["reason"] == "the decoder crashed (exit code 3)"
    assert records[2]["reason"] == "the decoder hung (no progress for 2.5 s); its worker was killed"
    assert records[4]["reason"] == NOT_A_VIDEO


def test_record_for():
    assert record_for(VideoEntry("x", None, 2))["status"] == "missing"
    record = record_for(VideoEntry("x", "/no/such/file.mp4", 2), error=None)
    assert record["status"] == "undecodable" and record["reason"].startswith("cannot read the file")


def test_manifest_round_trip_and_hash(dataset, tmp_path, put):
    catalog = open_catalog("kinetics", root=dataset)
    records = scan(catalog, workers=2, progress=True)
    out = tmp_path / "out" / "manifest.jsonl"
    digest = write_manifest(records, out)
    assert digest == manifest_hash(records) == manifest_hash(records[::-1])
    assert read_manifest(out) == records
    lines = out.read_text().splitlines()
    assert len(lines) == 6 and lines[0] == json.dumps(records[0], sort_keys=True)
    assert sorted(os.listdir(out.parent)) == ["manifest.jsonl"]  # no temporary file left behind
    put(dataset / "val" / "walk" / "a_000000_000010.mp4", "mp4_long")  # a video changes on disk
    assert manifest_hash(scan(catalog, workers=2)) != digest
    out.write_text(lines[0] + "\n{not json\n")
    with pytest.raises(ConfigError, match=r"manifest\.jsonl:2: not valid JSON"):
        read_manifest(out)


def _args(*argv):
    parser = argparse.ArgumentParser()
    vidkit.pipelines.scan.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_pipeline_json_and_report(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert (
        vidkit.pipelines.scan.run(_args("--data", "kinetics", "--data-root", str(dataset), "--json", "--workers", "2"))
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == {"ok": 4, "missing": 1, "undecodable": 1} and summary["split"] == "val"
    assert summary["manifest"] == "scan-kinetics-val.jsonl"
    assert summary["manifest_hash"] == manifest_hash(read_manifest(tmp_path / "scan-kinetics-val.jsonl"))

    out = tmp_path / "m.jsonl"
    assert (
        vidkit.pipelines.scan.run(
            _args(
                "--data",
                "kinetics",
                "--data-root",
                str(dataset),
                "--split",
                "validation",
                "--out",
                str(out),
                "--verify",
                "--workers",
                "2",
            )
        )
        == 0
    )
    report = capsys.readouterr().out
    assert "ok 3, missing 1, undecodable 2" in report and str(out) in report
    assert [r["status"] for r in read_manifest(out)][-1] == "undecodable"


def test_pipeline_config_error_exits_1(tmp_path, capsys):
    assert vidkit.pipelines.scan.run(_args("--data", "ssv2", "--data-root", str(tmp_path))) == 1
    err = capsys.readouterr().err
    assert err.startswith("vidkit scan: error: ssv2: no file for the val split") and err.count("\n") == 1


def test_pipeline_data_choices_are_the_registry_downloaded_formats(capsys):
    parser = argparse.ArgumentParser()
    vidkit.pipelines.scan.add_arguments(parser)
    data = next(a for a in parser._actions if a.dest == "data")
    assert tuple(data.choices) == dataset_names("downloaded")
    with pytest.raises(SystemExit):
        parser.parse_args(["--data", "ava"])  # person data has no catalog to scan
    assert "invalid choice: 'ava'" in capsys.readouterr().err


def test_pipeline_a_folder_that_is_a_symlink_loop_is_reported_and_the_rest_scanned(tmp_path, put, capsys):
    root = tmp_path / "f"
    put(root / "walk" / "a.mp4")
    os.symlink("loop", root / "loop")  # ELOOP on every look inside it
    out = tmp_path / "m.jsonl"
    args = _args("--data", "folder", "--data-root", str(root), "--out", str(out), "--workers", "1", "--json")
    assert vidkit.pipelines.scan.run(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["warnings"] == [
        f"folder: {root / 'loop'}: cannot be read (Too many levels of symbolic links); skipped"
    ]
    assert [json.loads(line)["path"] for line in out.read_text().splitlines()] == [str(root / "walk" / "a.mp4")]


def test_scan_counts_and_lists_the_files_that_are_not_videos(tmp_path, put, capsys):
    from vidkit.cli import main

    root = tmp_path / "mine"
    put(root / "val" / "walk" / "a.mp4")
    (root / "val" / "walk" / "README.md").write_text("walking\n")
    (root / "val" / "walk" / "thumb.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    manifest = tmp_path / "scan.jsonl"
    assert main(["scan", "--data", "folder", "--data-root", str(root), "--out", str(manifest)]) == 0
    listed = tmp_path / "scan.jsonl.skipped.json"
    assert f"skipped 2 files: .md 1, .png 1 (listed in {listed})" in capsys.readouterr().out
    assert json.loads(listed.read_text())["by_extension"] == {".md": 1, ".png": 1}
    assert main(["scan", "--data", "folder", "--data-root", str(root), "--out", str(manifest), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["skipped"], summary["skipped_list"]) == (2, str(listed))
