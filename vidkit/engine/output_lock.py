"""The lock on an output that a job appends to (``vidkit tag``'s results, ``vidkit extract``'s index):
a second run on the same output is refused in one line naming the process that holds it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from vidkit.errors import ConfigError


class OutputLock:
    """An exclusive, non-blocking ``flock`` on ``.<name>.lock`` beside an output, holding the pid
    of the process that took it: a second ``vidkit tag`` on the same output is refused in one line
    naming that process, instead of writing every record again. Advisory and POSIX only; released
    by :meth:`release` or when the process ends (a kill included)."""

    def __init__(self, output: Path, *, job: str = "tag"):
        self.output, self.path = output, output.with_name(f".{output.name}.lock")
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as e:
                raise ConfigError(f"{output}: cannot lock it ({self.path}: {e.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise ConfigError(
                    f"{output}: another vidkit {job} (pid {holder}) is writing it; "
                    "wait for it to end, or use another --out"
                ) from None
            try:  # the lock file held must still be the one in the folder (a release unlinks it)
                if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self.fd: int | None = fd
        _HELD.add(fd)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # before unlocking: a run that opened this file retries on a new one
        except OSError:
            pass
        _HELD.discard(self.fd)
        os.close(self.fd)
        self.fd = None


_HELD: set[int] = set()


def _close_held_in_child() -> None:
    # A forked worker (a decoder) shares the lock's open file; its copy is closed (which does not
    # unlock), so that the lock ends with the process that took it, not with its last worker.
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_close_held_in_child)


__all__ = ["OutputLock"]
