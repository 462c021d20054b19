"""tools/bench_prepare.py on tiny settings: the videos re-encoded, both sets sampled, the JSON it prints."""

import json

import pytest


@pytest.fixture(scope="module")
def bench(load_tool):
    return load_tool("bench_prepare")


def test_both_sets_are_sampled_and_reported(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIDKIT_CACHE", str(tmp_path / "cache"))  # the generated video stays in the test's folder
    assert bench.main(["--count", "2", "--frames", "40", "--repeats", "1", "--workers", "1", "--json"]) == 0
    captured = capsys.readouterr()
    results = json.loads(captured.out)
    assert set(results) == {
        "content",
        "videos",
        "frames",
        "size",
        "prepared_size",
        "prepare",
        "sampled_frames",
        "repeats",
        "original_videos_per_s",
        "prepared_videos_per_s",
        "speedup",
        "reencode_s",
        "original_bytes",
        "prepared_bytes",
    }
    assert (
        results["content"] == "scene"
        and results["videos"] == 2
        and results["frames"] == 40
        and results["sampled_frames"] == 8
    )
    assert results["size"] == "640x360" and results["prepared_size"] == "454x256"  # 455.1 down to even
    assert results["prepare"] == {"codec": "libx264", "gop": 16, "b_frames": 3, "short_side": 256, "workers": 1}
    assert results["original_videos_per_s"] > 0 and results["prepared_videos_per_s"] > 0
    assert results["speedup"] == pytest.approx(
        results["prepared_videos_per_s"] / results["original_videos_per_s"], rel=0.02
    )
    assert results["reencode_s"] > 0 and results["original_bytes"] > 0 and results["prepared_bytes"] > 0
    assert "converted 2, skipped 0 already done, failed 0" in captured.err  # convert_tree's summary, off stdout

    text = bench.format_results(results)
    assert "original" in text and "prepared" in text and "videos/s" in text and "speed-up" in text
