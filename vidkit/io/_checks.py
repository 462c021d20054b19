"""What both backends check before handing a path to a decoder, and how decoder errors are told."""

from __future__ import annotations

import os
import stat

from vidkit.errors import VideoDecodeError

# Container signatures, to tell "a text file named .mp4" from "a video we cannot read".
_MAGIC = (
    (4, b"ftyp"),  # MP4 / MOV / 3GP
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"),  # AVI
    (0, b"OggS"),
    (0, b"FLV"),
    (0, b"\x00\x00\x01\xba"),  # MPEG-PS
    (0, b"G"),  # MPEG-TS sync byte (weak; only used to word an error)
)


def check_path(path: str | os.PathLike) -> str:
    """Return ``path`` as a string if it names a readable, non-empty regular file; otherwise raise
    :class:`VideoDecodeError` saying which of the usual mistakes it is."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise VideoDecodeError(
                path, f"dangling symbolic link (points to {os.readlink(path)!r}, which does not exist)"
            ) from None
        raise VideoDecodeError(path, "no such file") from None
    except PermissionError:
        raise VideoDecodeError(path, "permission denied") from None
    except OSError as e:
        raise VideoDecodeError(path, f"cannot stat file ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise VideoDecodeError(path, "is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        # A FIFO or device would block the decoder forever.
        raise VideoDecodeError(path, "not a regular file (pipe, socket or device)")
    if st.st_size == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise VideoDecodeError(path, "permission denied")
    return path


def looks_like_container(path: str) -> bool:
    """True when the first bytes carry a known container signature."""
    with open(path, "rb") as f:
        head = f.read(16)
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _MAGIC)


def describe_open_failure(path: str, error: BaseException) -> str:
    """One-line reason a container could not be opened."""
    message = getattr(error, "strerror", None) or str(error)
    if not looks_like_container(path):
        return f"not a video file (no known container signature; decoder says: {message})"
    with open(path, "rb") as f:
        head = f.read(12)
    if head[4:8] == b"ftyp":
        return f"truncated or damaged MP4/MOV: the index (moov atom) is missing or unreadable ({message})"
    return f"damaged container ({message})"
