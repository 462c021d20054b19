"""Small file-system helpers for commands that write shared folders: checksums, a process lock,
atomic writes, and how many worker processes to start."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

# mkstemp creates files 0600; a folder shared between users (a cache) wants them readable by all.
DEFAULT_FILE_MODE = 0o644


def sha1_file(path: str | os.PathLike) -> str:
    """Hex SHA-1 of the file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block, so
    processes that share a folder wait for one another. Advisory, and POSIX only."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def atomic_write_text(path: str | os.PathLike, text: str, *, mode: int = DEFAULT_FILE_MODE) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a part.

    The text goes to a temporary file ``.<name>.*`` in the same folder, is fsynced, given ``mode``
    and renamed over ``path``; on an error the temporary file is removed. A writer killed outright
    leaves its ``.<name>.*`` behind, for the caller to clean up.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def default_workers(limit: int = 8) -> int:
    """Worker processes to start: the CPUs this process may run on, between 1 and ``limit``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, limit))
