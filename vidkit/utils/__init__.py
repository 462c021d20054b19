"""File-system and process helpers that every layer uses: atomic writes, file digests, a process
lock, the CPU and worker counts, vidkit's cache folder, and a pool of isolated worker processes.

This package sits below every other: it imports nothing from vidkit but :mod:`vidkit.errors` (the same
layer), so io, models, data, engine, the jobs and the tools can all use it. :mod:`vidkit.utils.download`
fetches files (pretrained weights) once, verified and resumable.

    with atomic_write(run / "results.json") as f:   # readers see the old file or the whole new one
        json.dump(results, f)
    with atomic_path(out / "clip.mp4") as tmp:       # a writer that wants a file name (FFmpeg, numpy)
        encode(tmp)
"""

from vidkit.utils._files import (
    DEFAULT_FILE_MODE,
    atomic_path,
    atomic_write,
    atomic_write_text,
    cpu_count,
    default_workers,
    file_digest,
    file_lock,
)
from vidkit.utils._paths import cache_dir
from vidkit.utils._pool import Failure, failure_reason, isolated_map
from vidkit.utils.download import DownloadError, HashMismatchError, fetch, mirror_url, weights_dir

__all__ = [
    "DEFAULT_FILE_MODE",
    "DownloadError",
    "Failure",
    "HashMismatchError",
    "atomic_path",
    "atomic_write",
    "atomic_write_text",
    "cache_dir",
    "cpu_count",
    "default_workers",
    "failure_reason",
    "fetch",
    "file_digest",
    "file_lock",
    "isolated_map",
    "mirror_url",
    "weights_dir",
]
