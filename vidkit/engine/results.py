"""Where results go: one record per input, appended and flushed as it is made, resumable.

:class:`ResultsFile` is the file ``vidkit tag`` writes (JSON lines, or CSV with a header): a run
killed at any moment (even SIGKILL) and started again with the same output finds the records it
holds (:attr:`ResultsFile.done`) and cuts off a last line left half-written, so no record is lost
and none written twice.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

from vidkit.errors import ConfigError

_FSYNC_EVERY_S = 2.0
CSV_FIELDS = ("path", "label", "score", "labels", "duration_s", "error", "segments", "video")


def tag_record(result, classes: list[str], top_k: int) -> dict:
    """The record of one video (a :class:`~vidkit.engine.tagger.TagResult`): its top ``top_k``
    labels with scores, its duration and what the decoder saw, or the reason it failed; and with
    segments, the labels of each window."""

    def top(scores):
        values, index = scores.topk(min(top_k, len(classes)))
        return [{"label": classes[i], "score": round(float(v), 6)} for v, i in zip(values, index.tolist())]

    record = {
        "path": result.path,
        "labels": top(result.scores) if result.scores is not None else [],
        "duration_s": (result.info or {}).get("duration_s"),
        "video": result.info,
        "error": result.error,
        "clips": result.clips,
    }
    if result.segments:
        record["segments"] = [
            {"start_s": round(a, 3), "end_s": round(b, 3), "labels": top(s)} for a, b, s in result.segments
        ]
    return record


class ResultsFile:
    """The results, one record per video, appended and flushed as they are made (fsynced every few
    seconds). Opening an existing file reads the paths it holds (:attr:`done`) and cuts off a last
    line a killed run left half-written."""

    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt = path, fmt
        self.done: set[str] = set()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._repair()
            self.done = set(self._paths())
        new = not path.exists() or path.stat().st_size == 0
        self.file = open(path, "a", encoding="utf-8", newline="")
        self.synced = time.monotonic()
        if new and fmt == "csv":
            self._append(_csv_line(CSV_FIELDS))

    def _repair(self) -> None:
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)  # a line cut by a kill: it is made again

    def _paths(self):
        with open(self.path, encoding="utf-8", newline="") as f:
            if self.fmt == "csv":
                for row in csv.DictReader(f):
                    if row.get("path"):
                        yield row["path"]
                return
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)["path"]
                    except (ValueError, KeyError, TypeError):
                        raise ConfigError(f"{self.path}:{number}: not a vidkit tag record; use another --out") from None

    def write(self, record: dict) -> None:
        if self.fmt == "csv":
            best = record["labels"][0] if record["labels"] else {"label": "", "score": ""}
            line = _csv_line(
                [
                    record["path"],
                    best["label"],
                    best["score"],
                    json.dumps(record["labels"]),
                    "" if record["duration_s"] is None else record["duration_s"],
                    record["error"] or "",
                    json.dumps(record.get("segments", [])),
                    json.dumps(record["video"]),
                ]
            )
        else:
            line = json.dumps(record, ensure_ascii=False) + "\n"
        self._append(line)
        self.done.add(record["path"])

    def _append(self, line: str) -> None:
        self.file.write(line)
        self.file.flush()  # in the OS's hands: survives the process being killed
        if time.monotonic() - self.synced > _FSYNC_EVERY_S:
            os.fsync(self.file.fileno())
            self.synced = time.monotonic()

    def close(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()


def _csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


__all__ = ["CSV_FIELDS", "ResultsFile", "tag_record"]
