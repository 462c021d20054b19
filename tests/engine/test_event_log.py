"""The events file: appended, locked, refused when it is not vidkit's, a cut last line removed."""

from __future__ import annotations

import json

import pytest
import torch

from vidkit.engine.event_log import EventLog, check_events_file
from vidkit.errors import ConfigError


def test_records_are_appended_and_a_cut_line_removed(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "window", "start_s": 0}\n{"type": "win')  # a line cut short by a crash
    log = EventLog(str(path))
    log.write({"type": "end", "reason": "x"})
    with pytest.raises(ConfigError, match="another vidkit watch"):
        EventLog(str(path))
    log.close()
    assert [json.loads(line)["type"] for line in path.read_text().splitlines()] == ["window", "end"]


def test_files_that_are_not_events_are_refused_unchanged(tmp_path):
    checkpoint = tmp_path / "best.pt"
    torch.save({"model": {}}, checkpoint)
    tags = tmp_path / "tags.jsonl"
    tags.write_text('{"path": "a.mp4"}\n')
    for path in (checkpoint, tags):
        before = path.read_bytes()
        with pytest.raises(ConfigError, match=r":1: not a vidkit watch record; left unchanged"):
            check_events_file(path)
        assert path.read_bytes() == before
    with pytest.raises(ConfigError, match="not a regular file"):
        check_events_file(tmp_path)
