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
import stat
import sys
import time
from pathlib import Path

from vidkit.engine.output_lock import OutputLock
from vidkit.errors import ConfigError, VidkitError

_RECORD_START = b'{"type"'
_FSYNC_EVERY_S = 2.0


def check_events_file(path: Path) -> None:
    """Refuse, in one line and changing nothing, an ``--out`` the events must not be appended to."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise ConfigError(f"{path}: cannot be the output ({e.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{path}: not a regular file; --out takes a file, or - for standard output")
    try:
        with open(path, "rb") as f:
            start = f.read(len(_RECORD_START)).lstrip()
            if start and not (_RECORD_START.startswith(start) or start.startswith(b"{")):
                raise ConfigError(f"{path}:1: not a vidkit watch record; left unchanged, use another --out")  # unread
            f.seek(0)
            for number, line in enumerate(f, 1):
                if not line.endswith(b"\n"):  # a last line cut short: ours if it starts like a record
                    if _RECORD_START.startswith(line[: len(_RECORD_START)]) or line.startswith(_RECORD_START):
                        break
                    raise ConfigError(f"{path}:{number}: not a vidkit watch record; left unchanged, use another --out")
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if not isinstance(record, dict) or "type" not in record:
                    raise ConfigError(f"{path}:{number}: not a vidkit watch record; left unchanged, use another --out")
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None


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
