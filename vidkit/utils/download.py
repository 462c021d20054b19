"""Downloads as users expect them: for pretrained weights and other large published files.

    path = fetch("https://download.pytorch.org/models/r3d_18-b3b3357e.pth",
                 dest_dir=weights_dir(), hash_prefix="b3b3357e")

- **Never fetched twice.** The file lands at ``dest_dir/filename``; a later call finds it there and
  returns it without touching the network. Where a hash is known the cached file is hashed once;
  a sidecar ``<filename>.verified`` then records the digest with the file's size and mtime, and is
  trusted while those two are unchanged.
- **Never half a file under the final name.** Bytes go to ``<filename>.part``, which is renamed onto
  ``filename`` only when it is complete (as long as the server's ``Content-Length`` said, when it
  said) and verified: ``sha256`` must equal the file's full SHA-256, ``hash_prefix`` must begin it
  (torchvision's file names carry the first 8 hex digits, and ``torch.hub`` checks them so). A
  mismatch deletes the file and raises :class:`HashMismatchError`.
- **Resumed after a cut.** A cut connection leaves the ``.part`` and raises :class:`DownloadError`;
  the next call asks for the rest with ``Range: bytes=N-``. A server that answers ``200`` (it ignores
  ranges) starts the file again from byte 0; a ``416`` on a ``.part`` that is already whole
  (``Content-Range: bytes */N``) finishes it; any other ``416`` starts again from byte 0.
- **Offline in one line.** With ``VIDKIT_OFFLINE=1``, or no network, or an HTTP error, one
  :class:`DownloadError` whose message names the URL and the exact path to put the file at by hand:
  ``cannot download weights https://download.pytorch.org/models/r3d_18-b3b3357e.pth (offline:
  VIDKIT_OFFLINE=1): put the file at /home/u/.cache/vidkit/weights/r3d_18-b3b3357e.pth``.
- **Mirrors.** ``VIDKIT_WEIGHTS_MIRROR`` replaces the scheme and host of every URL (see
  :func:`mirror_url`), for sites that reach the internet through a copy of their own.
- **Two processes at once.** An exclusive ``flock`` on ``<filename>.lock`` beside the file is held
  while one process downloads; the other waits, then finds the file done. A lock rather than a
  unique ``.part`` per process, because resuming needs a ``.part`` whose name the next call knows,
  and because with unique names both processes would download the whole file. (The final rename is
  atomic as well, so a reader that takes no lock still sees no file or the whole one.)
"""

from __future__ import annotations

import http.client
import os
import posixpath
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

from vidkit.errors import ConfigError, VidkitError
from vidkit.utils._files import _fsync_folder, atomic_write_text, file_digest, file_lock
from vidkit.utils._paths import cache_dir

__all__ = ["DownloadError", "HashMismatchError", "fetch", "mirror_url", "weights_dir"]

OFFLINE_ENV = "VIDKIT_OFFLINE"
MIRROR_ENV = "VIDKIT_WEIGHTS_MIRROR"

_CHUNK = 1 << 16  # bytes read from the socket at a time
_HEX = re.compile(r"[0-9a-f]+")
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)", re.IGNORECASE)


class DownloadError(VidkitError):
    """A file could not be downloaded, in one line that names the URL and where to put the file by
    hand: ``cannot download weights URL (REASON): put the file at PATH``. ``via`` is the URL tried
    instead of ``url`` when a mirror is set (the message then reads ``URL from the mirror VIA``)."""

    def __init__(self, url: str, path: str | os.PathLike, reason: str, what: str = "weights", via: str | None = None):
        self.url = url
        self.path = os.fspath(path)
        self.reason = reason
        self.what = what
        self.via = via
        super().__init__(self._message())

    def _message(self) -> str:
        return f"cannot download {self.what} {_source(self.url, self.via)} ({self.reason}): put the file at {self.path}"

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.url, self.path, self.reason, self.what, self.via))


class HashMismatchError(DownloadError):
    """A file's SHA-256 is not the one published; the file has been deleted (``path``, or its
    ``.part``): ``weights URL failed the hash check: sha256 ACTUAL, expected EXPECTED...; deleted PATH``."""

    def __init__(
        self,
        url: str,
        path: str | os.PathLike,
        expected: str,
        actual: str,
        what: str = "weights",
        via: str | None = None,
    ):
        self.expected = expected
        self.actual = actual
        super().__init__(url, path, f"sha256 {actual}, expected {_describe(expected)}", what, via)

    def _message(self) -> str:
        return f"{self.what} {_source(self.url, self.via)} failed the hash check: {self.reason}; deleted {self.path}"

    def __reduce__(self):
        return (type(self), (self.url, self.path, self.expected, self.actual, self.what, self.via))


def weights_dir() -> Path:
    """Where pretrained weights are kept: ``$VIDKIT_CACHE/weights`` (vidkit's cache folder, see
    :func:`vidkit.utils.cache_dir`), created if missing."""
    return cache_dir("weights")


def mirror_url(url: str) -> str:
    """``url`` as fetched: with ``$VIDKIT_WEIGHTS_MIRROR`` set, the mirror's URL (trailing ``/``
    dropped) followed by ``url``'s path, query kept, so that ``VIDKIT_WEIGHTS_MIRROR=
    https://mirror.example/base`` turns ``https://dl.fbaipublicfiles.com/pytorchvideo/x.pyth?dl=1``
    into ``https://mirror.example/base/pytorchvideo/x.pyth?dl=1``: the scheme, host and port are
    replaced, and the whole path is kept below the mirror's (a fragment is dropped). A ``file://``
    mirror is a folder laid out the same way (``file:///srv/weights`` gives
    ``file:///srv/weights/pytorchvideo/x.pyth``, no query). Without it, ``url`` unchanged."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return url
    base = urllib.parse.urlsplit(mirror)
    if not base.scheme or (base.scheme != "file" and not base.netloc) or base.query or base.fragment:
        raise ConfigError(
            f"{MIRROR_ENV}={mirror!r}: not a base URL; give a scheme, a host and a path only, "
            "e.g. https://mirror.example/base"
        )
    parts = urllib.parse.urlsplit(url)
    query = f"?{parts.query}" if parts.query and base.scheme != "file" else ""  # a folder has no queries
    return f"{mirror.rstrip('/')}{parts.path}{query}"


def fetch(
    url: str,
    *,
    dest_dir: str | os.PathLike,
    filename: str | None = None,
    sha256: str | None = None,
    hash_prefix: str | None = None,
    progress: bool = True,
    timeout_s: float = 60,
    what: str = "weights",
) -> Path:
    """The path of ``url``'s file in ``dest_dir``, downloaded there first if it is not already.

    Args:
        url: the published URL (``http``, ``https`` or ``file``); ``VIDKIT_WEIGHTS_MIRROR`` may
            redirect it (:func:`mirror_url`).
        dest_dir: the folder, created if missing (for weights, :func:`weights_dir`).
        filename: the name in ``dest_dir``; default, the last part of the URL's path.
        sha256: the file's full SHA-256 (64 hex digits), where the publisher gives it.
        hash_prefix: the first hex digits (at least 8) of the SHA-256, as in torchvision's names.
        progress: a progress bar on stderr (shown on a terminal only).
        timeout_s: how long to wait for the connection and for each read before giving up.
        what: what the file is, for the messages (``"weights"``, ``"labels"``...).

    Raises:
        DownloadError: offline (``VIDKIT_OFFLINE=1``), no network, an HTTP error, or a cut
            connection (the ``.part`` stays, and the next call resumes it); one line.
        HashMismatchError: the file's SHA-256 is not the one given (the file is deleted).
    """
    name = (
        filename if filename is not None else posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    )
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise ValueError(
            f"{url}: no file name in the URL's path; give filename="
            if filename is None
            else f"filename={filename!r}: give a plain file name, not a path"
        )
    expected = _expected_hash(sha256, hash_prefix)
    path = Path(dest_dir) / name
    source = mirror_url(url)
    via = source if source != url else None

    try:
        return _fetch(source, path, expected, progress=progress, timeout_s=timeout_s, what=what, url=url, via=via)
    except OSError as e:  # the disk, not the network (that is a _Failed): a read-only folder, a full disk
        raise DownloadError(url, path, f"{e.filename or path.parent}: {e.strerror or e}", what, via) from e


def _fetch(
    source: str,
    path: Path,
    expected: str | None,
    *,
    progress: bool,
    timeout_s: float,
    what: str,
    url: str,
    via: str | None,
) -> Path:
    """:func:`fetch` from ``source`` (the URL, or its mirror), once the arguments are checked."""
    if _check_cached(path, expected, delete=False) is None:  # read only: a shared, read-only cache works
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_name(f"{path.name}.lock")):
        note = _check_cached(path, expected, delete=True)  # another process may have finished it meanwhile
        if note is None:
            return path
        offline = os.environ.get(OFFLINE_ENV, "").strip()
        if offline.lower() not in ("", "0", "false", "no", "off"):
            raise DownloadError(url, path, f"offline: {OFFLINE_ENV}={offline}{note}", what, via)
        part = path.with_name(f"{path.name}.part")
        try:
            _download(source, part, timeout_s=timeout_s, progress=progress, desc=f"{what} {path.name}")
        except _Failed as e:
            raise DownloadError(url, path, f"{e}{note}", what, via) from e.__cause__
        if expected is not None:
            actual = file_digest(part)
            if not actual.startswith(expected):
                part.unlink(missing_ok=True)
                raise HashMismatchError(url, part, expected, actual, what, via)
        os.replace(part, path)
        _fsync_folder(path.parent)
        if expected is not None:
            _mark_verified(path, actual)
    return path


class _Failed(Exception):
    """A download step failed, for :func:`fetch` to put in a :class:`DownloadError`."""


def _download(url: str, part: Path, *, timeout_s: float, progress: bool, desc: str) -> None:
    """Bring ``part`` to the whole of ``url``'s file, continuing the bytes already in it."""
    for _ in range(2):  # a second round only after starting the file again from byte 0
        offset = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Accept-Encoding": "identity", "User-Agent": "vidkit"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            response = urllib.request.urlopen(request, timeout=timeout_s)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 416 and offset:
                _, _, total = _content_range(e.headers.get("Content-Range"))
                if total == offset:
                    return  # the part was whole already: a cut came after the last byte
                part.unlink()  # the part is longer than the file, or the server cannot tell
                continue
            if e.code in (404, 410):  # gone: a part of it is no use to anyone
                part.unlink(missing_ok=True)
            raise _Failed(f"HTTP {e.code} {e.reason}".rstrip()) from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            where = "" if url.startswith("file:") else "no network: "
            raise _Failed(f"{where}{_network_reason(e, timeout_s)}") from e
        with response:
            status = response.status or 200  # file: URLs have no status
            length = response.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if status == 206:
                start, _, total = _content_range(response.headers.get("Content-Range"))
                if start != offset:  # not the range asked for: start again from byte 0
                    part.unlink()
                    continue
                if total is None and length is not None:
                    total = offset + length
            else:  # 200: the whole file, whatever was asked
                offset, total = 0, length
            _receive(response, part, offset=offset, total=total, progress=progress, desc=desc, timeout_s=timeout_s)
        return
    raise _Failed("the server's answers to a Range request do not fit the file, twice")


def _receive(response, part: Path, *, offset: int, total: int | None, progress: bool, desc: str, timeout_s: float):
    """Write ``response``'s body into ``part`` from byte ``offset``; a cut leaves what came, for the
    next call to resume."""
    done = offset
    with (
        open(part, "ab" if offset else "wb") as f,
        tqdm(
            total=total,
            initial=offset,
            desc=desc,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            disable=None if progress else True,  # None: off when stderr is not a terminal
        ) as bar,
    ):
        while True:
            try:
                block = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as e:  # the socket's errors; the disk's go on
                f.flush()
                reason = _network_reason(e, timeout_s)
                raise _Failed(f"connection lost after {_of(done, total)} ({reason}); call again to resume") from e
            if not block:
                break
            f.write(block)
            done += len(block)
            bar.update(len(block))
        f.flush()
        os.fsync(f.fileno())
    if total is not None and done != total:
        raise _Failed(f"connection lost after {_of(done, total)}; call again to resume")


def _check_cached(path: Path, expected: str | None, *, delete: bool) -> str | None:
    """``None`` when ``path`` is there and verified: by its sidecar, else hashed now (once: the
    sidecar is written). Else a note for the download's message: empty, or, with ``delete``, that
    the file there had the wrong hash and was deleted (without ``delete`` it is left for the caller
    to look at again under the lock)."""
    if not path.is_file():
        return ""
    if expected is None or _verified_digest(path, expected):
        return None
    actual = file_digest(path)
    if actual.startswith(expected):
        _mark_verified(path, actual)
        return None
    if not delete:
        return ""
    path.unlink()
    path.with_name(f"{path.name}.verified").unlink(missing_ok=True)
    return f"; the file that was there had sha256 {actual}, expected {_describe(expected)}, and was deleted"


def _verified_digest(path: Path, expected: str) -> bool:
    """The sidecar names a digest that fits ``expected``, and the file has its size and mtime still."""
    try:
        digest, size, mtime_ns = path.with_name(f"{path.name}.verified").read_text().split()
        st = path.stat()
    except (OSError, ValueError):
        return False
    return digest.startswith(expected) and (size, mtime_ns) == (str(st.st_size), str(st.st_mtime_ns))


def _mark_verified(path: Path, digest: str) -> None:
    st = path.stat()
    try:
        atomic_write_text(path.with_name(f"{path.name}.verified"), f"{digest} {st.st_size} {st.st_mtime_ns}\n")
    except OSError:  # a read-only cache: the file is hashed again next time, nothing worse
        pass


def _expected_hash(sha256: str | None, hash_prefix: str | None) -> str | None:
    """The hex digits the file's SHA-256 must start with (all 64 with ``sha256``), or ``None``."""
    for value, label, lengths in ((sha256, "sha256", (64, 64)), (hash_prefix, "hash_prefix", (8, 64))):
        if value is not None and not (lengths[0] <= len(value) <= lengths[1] and _HEX.fullmatch(value.lower())):
            size = "64" if lengths[0] == 64 else "8 to 64"
            raise ValueError(f"{label}={value!r}: give {size} hex digits of the file's SHA-256")
    sha256, hash_prefix = (v.lower() if v else None for v in (sha256, hash_prefix))
    if sha256 and hash_prefix and not sha256.startswith(hash_prefix):
        raise ValueError(f"sha256={sha256} does not start with hash_prefix={hash_prefix}")
    return sha256 or hash_prefix


def _content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """``(first, last, total)`` of a ``Content-Range: bytes 0-99/1000`` (or ``*/1000``); ``None``
    for what it does not give."""
    match = _CONTENT_RANGE.fullmatch((value or "").strip())
    if not match:
        return None, None, None
    first, last, total = (int(g) if g and g != "*" else None for g in match.groups())
    return first, last, total


def _network_reason(error: BaseException, timeout_s: float) -> str:
    """What went wrong, in a few words: ``Connection refused``, ``timed out after 60 s``..."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return f"timed out after {timeout_s:g} s"
    if isinstance(reason, http.client.IncompleteRead):
        return "the server closed the connection"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _of(done: int, total: int | None) -> str:
    return f"{done:,} of {total:,} bytes" if total is not None else f"{done:,} bytes"


def _describe(expected: str) -> str:
    return expected if len(expected) == 64 else f"{expected}... (a prefix)"


def _source(url: str, via: str | None) -> str:
    return f"{url} from the mirror {via}" if via else url
