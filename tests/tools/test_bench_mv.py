"""tools/bench_mv.py: every row measured on a tiny generated clip, the table and its goals, and the
rows of a missing optional package skipped with the install hint."""

import json
import sys

import pytest


@pytest.fixture(scope="module")
def bench(load_tool):
    return load_tool("bench_mv")


@pytest.fixture(scope="module")
def clips(bench, tmp_path_factory):
    """The benchmark's own inputs, tiny: 24 frames of 96x64 as H.264 (B-frames) and MPEG-4 Part 2 (GOP 12)."""
    folder = tmp_path_factory.mktemp("bench_mv")
    paths = bench.generated_inputs(width=96, height=64, num_frames=24, fps=30.0, folder=folder)
    assert [p.name for p in paths] == ["mvscene_96x64_24f_h264.mp4", "mvscene_96x64_24f_mpeg4_gop12.mp4"]
    before = [p.stat().st_mtime_ns for p in paths]
    assert bench.generated_inputs(width=96, height=64, num_frames=24, fps=30.0, folder=folder) == paths
    assert [p.stat().st_mtime_ns for p in paths] == before  # cached: not written again
    return paths


def test_every_row_is_measured_and_the_goals_are_judged(bench, clips, tmp_path, capsys):
    pytest.importorskip("cv2")
    pytest.importorskip("mvextractor.videocap")
    h264, mpeg4 = (str(p) for p in clips)
    rows = bench.measure(mpeg4, repeat=1, flow_frames=6)
    assert [r.method for r in rows] == bench.ORDER
    for r in rows:
        assert r.skipped is None and r.frames == (6 if r.method == bench.FARNEBACK else 24)
        assert r.fps > 0 and r.seconds > 0 and r.fps == pytest.approx(r.frames / r.seconds) and r.median_fps == r.fps
    blocks = {r.method: r.blocks for r in rows}
    # no B-frames, so no frame waits for a later one: mvextractor's threads get every vector vidkit does
    assert blocks[bench.VECTORS] > 0 and blocks[bench.VECTORS] == blocks[bench.MVX_VECTORS] == blocks[bench.MVX_DEFAULT]

    text = bench.table(mpeg4, rows, flow_frames=6)
    assert "mpeg4 96x64, 24 frames" in text and "(first 6 frames only)" in text
    for name, ratio, target, passed in bench.goals(rows):
        assert ratio > 0 and passed == (ratio >= target)
        assert f"goal {name} >= {target:g}: {ratio:.2f}  {'PASS' if passed else 'FAIL'}" in text

    out = tmp_path / "mv.json"
    assert bench.main([h264, "--repeat", "1", "--flow-frames", "4", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "h264 96x64, 24 frames" in printed and "B-frames yes" in printed and "goal vidkit motion_fields" in printed
    report = json.loads(out.read_text())
    assert report["repeat"] == 1 and [f["path"] for f in report["files"]] == [h264]
    assert {r["method"] for r in report["files"][0]["rows"]} == set(bench.ORDER)
    assert len(report["files"][0]["goals"]) == 2


def test_rows_of_missing_packages_are_skipped_with_the_install_hint(bench, clips, monkeypatch):
    for module in ("cv2", "mvextractor", "mvextractor.videocap"):
        monkeypatch.setitem(sys.modules, module, None)  # `import` now raises ImportError
    h264 = str(clips[0])
    rows = bench.measure(h264, repeat=1)
    assert [r.method for r in rows] == bench.ORDER  # skipped rows keep their place
    skipped = {r.method: r.skipped for r in rows if r.skipped}
    assert set(skipped) == {bench.FARNEBACK, bench.MVX_VECTORS, bench.MVX_DEFAULT}
    assert all("pip install motion-vector-extractor opencv-python-headless" in why for why in skipped.values())
    measured = [r for r in rows if not r.skipped]
    assert [r.method for r in measured] == [bench.RGB, bench.VECTORS, bench.VIDKIT]
    assert all(r.frames == 24 and r.fps > 0 for r in measured)

    text = bench.table(h264, rows)
    assert text.count("skipped: ") == 3 and "pip install motion-vector-extractor" in text
    assert text.count("n/a (a row was skipped)") == 2
    assert all(passed is None for *_, passed in bench.goals(rows))
