"""What both backends check before handing a path to a decoder, and how decoder errors are told."""

from __future__ import annotations

import os
import re
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
        raise VideoDecodeError(path, "not a regular file (pipe, socket or device; vidkit watch reads live sources)")
    if st.st_size == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise VideoDecodeError(path, "permission denied")
    # stat and access can pass where opening fails (root and a write-only sysfs attribute, a file
    # removed since, a network file system): open it once here, so that this is said in one line.
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise VideoDecodeError(path, "permission denied") from None
    except OSError as e:
        raise VideoDecodeError(path, f"cannot open file ({e.strerror or e})") from None
    return path


def open_container(path: str, *, timeout_s: float, max_pixels: int | None = None):
    """``av.open`` for reading, with the pixel limit (:mod:`vidkit.io.limits`): FFmpeg's decoders refuse
    larger frames while it probes the file, instead of allocating them, and a first video stream whose
    header claims them raises :class:`VideoDecodeError` before anything decodes it. Every decoder in
    :mod:`vidkit.io` opens files through here; FFmpeg's own errors are left to the caller to word."""
    import av

    from vidkit.io.limits import limit, max_pixels_reason

    max_pixels = max_pixels or limit("VIDKIT_MAX_PIXELS")
    container = av.open(path, metadata_errors="ignore", timeout=timeout_s, options={"max_pixels": str(max_pixels)})
    for stream in container.streams.video[:1]:
        ctx = stream.codec_context
        if ctx is not None and ctx.width * ctx.height > max_pixels:
            container.close()
            raise VideoDecodeError(path, max_pixels_reason(ctx.width, ctx.height, max_pixels))
        if ctx is not None:  # ... and so does the decoder, for a header that changes the size mid-stream
            ctx.options = {**ctx.options, "max_pixels": str(max_pixels)}
    return container


def _known_signature(head: bytes) -> bool:
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _MAGIC)


# FFmpeg's av_image_check_size: (width + 128) * (height + 128) must stay under INT_MAX / 8.
_MAX_PIXELS = (2**31 - 1) // 8
_PICTURE_SIZE = re.compile(r"Picture size (\d+)x(\d+) is invalid")


def _claimed_size_too_large(path: str) -> tuple[int, int] | None:
    """``(width, height)`` when FFmpeg's demuxer refused the file because its header claims frames larger
    than FFmpeg decodes. FFmpeg then returns an unrelated code (the YUV4MPEG demuxer: EBUSY, "Device or
    resource busy"); only its log says what happened, so the file is opened once more with the log captured."""
    import av
    import av.logging

    level, skip_repeated = av.logging.get_level(), av.logging.get_skip_repeated()
    try:
        av.logging.set_level(av.logging.ERROR)
        av.logging.set_skip_repeated(False)  # the same file's message, met before, must come again
        with av.logging.Capture() as logs:
            try:
                av.open(path, metadata_errors="ignore", timeout=10.0).close()
            except (av.error.FFmpegError, OSError):
                pass
    finally:
        av.logging.set_level(level)
        av.logging.set_skip_repeated(skip_repeated)
    for _, _, message in logs:
        if (match := _PICTURE_SIZE.search(message)) is not None:
            width, height = int(match[1]), int(match[2])
            if width > 0 and height > 0:
                return width, height
    return None


def describe_open_failure(path: str, error: BaseException) -> str:
    """One-line reason a container could not be opened."""
    message = getattr(error, "strerror", None) or str(error)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:  # gone or unreadable since check_path looked
        return f"cannot open file ({e.strerror or e})"
    if not _known_signature(head):
        if (size := _claimed_size_too_large(path)) is not None:  # a raw stream's header (YUV4MPEG)
            return (
                f"the header claims {size[0]}x{size[1]} frames, a size too large to decode (FFmpeg refuses "
                f"frames over about {_MAX_PIXELS // 1_000_000} million pixels); a damaged or forged header?"
            )
        return f"not a video file (no known container signature; decoder says: {message})"
    if head[4:8] == b"ftyp":
        return f"truncated or damaged MP4/MOV: the index (moov atom) is missing or unreadable ({message})"
    return f"damaged container ({message})"
