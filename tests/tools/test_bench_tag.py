"""tools/bench_tag.py on tiny settings: the three passes over the same files, the JSON it prints, and a
file that cannot be tagged stopping the run with its name."""

import json

import pytest


@pytest.fixture(scope="module")
def bench(load_tool):
    return load_tool("bench_tag")


SMALL = [
    "--count",
    "2",
    "--size",
    "96x64",
    "--seconds",
    "2",
    "--frames",
    "4",
    "--crop",
    "32",
    "--workers",
    "1",
    "--threads",
    "1",
]


def test_decode_model_and_tagging_are_timed_on_the_same_clips(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIDKIT_CACHE", str(tmp_path / "cache"))  # the generated videos stay in the test's folder
    assert bench.main([*SMALL, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["videos"], r["clips"], r["workers"], r["threads"], r["device"]) == (2, 6, 1, 1, "cpu")  # 3x1 views each
    rates = [r[f"{k}_clips_per_s"] for k in ("decode", "model", "tagging")]
    assert all(rate > 0 for rate in rates)
    assert r["tagging_vs_slower"] == pytest.approx(rates[2] / min(rates[:2]))
    assert r["tagging_vs_serial"] == pytest.approx(rates[2] * (1 / rates[0] + 1 / rates[1]))
    text = bench.format_results(r)
    assert "tagging / slower of decode and model" in text and "serial bound" in text


def test_a_file_that_cannot_be_tagged_stops_the_bench_with_its_name(bench, tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(SystemExit, match="broken.mp4: "):
        bench.main([str(tmp_path / "clips"), *SMALL])


def test_extracts_path_is_timed_and_checked_the_same_way(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIDKIT_CACHE", str(tmp_path / "cache"))
    assert bench.main([*SMALL, "--json", "--extract", "pooled"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["readout"] == "features (pooled)" and r["clips"] == 6
    assert r["tagging_clips_per_s"] > 0
