"""Run logging: always a local JSONL file, one object per line, flushed as written."""

from __future__ import annotations

import json
import time
from pathlib import Path


class JsonlLogger:
    """Append ``{"time": ..., **record}`` lines to ``path``; each line is complete when it lands."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def log(self, **record) -> None:
        self._file.write(json.dumps({"time": round(time.time(), 3), **record}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
