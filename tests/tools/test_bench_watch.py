"""tools/bench_watch.py on tiny settings: both passes of each row, and the JSON it prints."""

import json


def test_rows_for_the_streaming_and_the_window_paths(load_tool, capsys):
    bench = load_tool("bench_watch")
    assert bench.main(["--crop", "32", "--seconds", "3", "--cases", "tsm112,slowfast224", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["case"] for r in rows] == ["tsm112", "slowfast224"]
    for row in rows:
        fast, live = row["fast"], row["live"]
        assert fast["dropped"] == 0 and fast["rate"] > 0 and fast["realtime_factor"] > 0
        assert fast["events"] >= 2 and live["latency_p50_s"] is not None and 0 <= live["dropped_share"] <= 1
        assert live["wall_s"] >= 2.5  # played at its own rate
