"""tools/bench_render.py on a tiny clip: the four passes over the same file and the ratios it prints."""

import json


def test_passes_and_ratios(load_tool, capsys):
    bench = load_tool("bench_render")
    assert bench.main(["--size", "160x96", "--seconds", "1", "--content", "scene", "--repeat", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 30
    assert set(report["passes"]) == {"transcode", "redraw, nothing drawn", "render", "render in RGB"}
    assert all(row["seconds"] > 0 for row in report["passes"].values())
    assert report["ratios"]["render / transcode"] > 0
