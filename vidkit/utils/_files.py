"""File-system helpers for commands that write files other processes read: atomic writes, checksums,
a process lock, and how many CPUs and worker processes to use."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

# A folder shared between users (the synthetic cache) wants its files readable by all, whatever
# the umask of the user who happened to build it.
DEFAULT_FILE_MODE = 0o644

_BLOCK = 1 << 20  # bytes read at a time by file_digest
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"  # tempfile.mkstemp's alphabet


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of the file's bytes by any :func:`hashlib.new` algorithm, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for the block to write, and put it in place of ``path``
    when the block ends cleanly: readers of ``path`` see the old file (or none) or the whole new
    one, never a part, so an existing ``path`` is a finished write.

    The temporary file is ``.<stem>.XXXXXXXX<suffix>`` in the same folder (created, with the folder,
    before the block runs): hidden, and with ``path``'s extension, so FFmpeg or numpy still see the
    format. After the block it is fsynced, given ``mode`` (default: what a plain ``open()`` gives,
    ``0o666`` less the umask) and renamed over ``path``, and the folder is fsynced, so the rename
    survives a power cut. On any exception it is removed and the exception goes on. A process killed
    outright leaves the temporary file behind, under a name that is never ``path``, for the caller
    to clean up.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_beside(path, 0o600 if mode is not None else 0o666)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", *, file_mode: int | None = None, **open_kwargs
) -> Iterator[IO]:
    """:func:`atomic_path` with the temporary file opened: yield ``open(tmp, mode, **open_kwargs)``
    (``mode="wb"`` for bytes, e.g. ``torch.save``); ``file_mode`` is the permission bits, as
    :func:`atomic_path`'s ``mode``."""
    if "w" not in mode:
        raise ValueError(f"atomic_write: mode must write a new file ('w', 'wb'...), got {mode!r}")
    with atomic_path(path, mode=file_mode) as tmp, open(tmp, mode, **open_kwargs) as f:
        yield f


def atomic_write_text(path: str | os.PathLike, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` atomically (:func:`atomic_write`); ``mode`` is the permission bits."""
    with atomic_write(path, "w", file_mode=mode) as f:
        f.write(text)


def _create_beside(path: Path, permissions: int) -> Path:
    """Create an empty ``.<stem>.XXXXXXXX<suffix>`` beside ``path``, as ``tempfile.mkstemp`` would,
    but with ``permissions`` less the umask (mkstemp's files are always 0600): the umask applies as
    the kernel applies it, with no process-wide ``os.umask`` call that other threads would see."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(1000):
        name = "".join(secrets.choice(_NAME_CHARS) for _ in range(8))
        tmp = path.with_name(f".{path.stem}.{name}{path.suffix}")
        try:
            os.close(os.open(tmp, flags, permissions))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{path.parent}: no free temporary name for {path.name}")


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a folder; the file itself is already on disk
        pass
    finally:
        os.close(fd)


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask, which ``taskset`` and batch schedulers
    narrow), or all of the machine's where there is no such mask; at least 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(limit: int = 8, *, reserve: int = 0) -> int:
    """Worker processes to start: :func:`cpu_count` less ``reserve`` (CPUs kept for the main
    process, e.g. the one running the model), between 1 and ``limit``."""
    return max(1, min(cpu_count() - reserve, limit))
