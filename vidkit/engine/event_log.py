"""The events file of ``vidkit watch``: JSON lines, each a record with a ``type``, appended.

A watched stream has no end to resume from: a second run on the same file adds its records after the
first run's. The file is checked before any work (an existing file must be vidkit's events file: a
results file of ``vidkit tag``, a checkpoint or anyone else's file is refused, unchanged), locked while
a run writes it (:class:`~vidkit.engine.output_lock.OutputLock`), and each record is written with one
``write`` call and flushed, so a kill leaves whole lines; a line cut short by a full disk or a crash of
the machine is removed when the file is next opened.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from vidkit.engine.output_lock import OutputLock
from vidkit.engine.results import check_output
from vidkit.errors import VidkitError

_FSYNC_EVERY_S = 2.0


def check_events_file(path: Path) -> None:
    """Refuse, in one line and changing nothing, an ``--out`` the events must not be appended to: what
    :func:`~vidkit.engine.results.check_output` refuses, for records keyed by ``type``."""
    check_output(path, "jsonl", key="type", job="watch")


class EventLog:
    """Append records to ``out`` (checked, locked, a cut last line removed), or write them to standard
    output with ``out="-"``."""

    def __init__(self, out: str):
        self.out = out
        self.lock = None
        self._synced = time.monotonic()
        if out == "-":
            self.fd = None
            return
        path = Path(out)
        check_events_file(path)
        self.lock = OutputLock(path, job="watch")
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            self._drop_cut_line(path)
        except OSError as e:
            self.lock.release()
            raise VidkitError(f"{path}: cannot write it ({e.strerror})") from None

    def _drop_cut_line(self, path: Path) -> None:
        size = os.fstat(self.fd).st_size
        if not size:
            return
        with open(path, "rb") as f:
            f.seek(max(0, size - 65536))
            tail = f.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        keep = size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail))
        os.ftruncate(self.fd, keep)

    def write(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
        if self.fd is None:
            sys.stdout.write(line)
            sys.stdout.flush()
            return
        data = line.encode("utf-8")
        try:
            written = os.write(self.fd, data)
            if written != len(data):  # a full disk: the part written is removed on the next open
                raise OSError(28, "No space left on device")
            if time.monotonic() - self._synced > _FSYNC_EVERY_S:
                os.fsync(self.fd)
                self._synced = time.monotonic()
        except OSError as e:
            raise VidkitError(f"{self.out}: cannot write it ({e.strerror})") from None

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.fsync(self.fd)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None


__all__ = ["EventLog", "check_events_file"]
