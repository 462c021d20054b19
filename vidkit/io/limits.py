"""How much a file may make the decoders allocate: limits a user can raise.

A few kilobytes of video can claim frames of 16000x16000 pixels or a duration of 10^12 seconds; trusted,
such a header makes a decoder allocate gigabytes before a single frame is checked. Every reader checks
what a file claims against these limits before allocating for it, and a file over a limit gets a one-line
error that names the limit and how to raise it.

=====================  ========================  ===========================================================
limit                  default                   raise it with
=====================  ========================  ===========================================================
pixels per frame       33,177,600 (7680x4320,    ``VIDKIT_MAX_PIXELS``, or ``open_video(..., max_pixels=N)``
                       8K UHD)
bytes per RGB chunk    256 MiB                   ``VIDKIT_MAX_CHUNK_BYTES``: ``stream()`` yields fewer frames
                                                 per chunk when ``chunk_size`` frames would need more
windows per file       100,000                   ``VIDKIT_MAX_WINDOWS`` (``vidkit tag --segments``)
=====================  ========================  ===========================================================

The limits are read from the environment, so worker processes see what their parent was given. Frames held
at full size while a read is answered are not a limit but a property of the readers: ``read_at`` converts
each chosen frame as it is chosen and holds at most two decoded frames at a time.
"""

from __future__ import annotations

import os

from vidkit.errors import ConfigError

__all__ = ["DEFAULT_MAX_CHUNK_BYTES", "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_WINDOWS", "limit", "max_pixels_reason"]

DEFAULT_MAX_PIXELS = 7680 * 4320
DEFAULT_MAX_CHUNK_BYTES = 256 * 2**20
DEFAULT_MAX_WINDOWS = 100_000

_DEFAULTS = {
    "VIDKIT_MAX_PIXELS": DEFAULT_MAX_PIXELS,
    "VIDKIT_MAX_CHUNK_BYTES": DEFAULT_MAX_CHUNK_BYTES,
    "VIDKIT_MAX_WINDOWS": DEFAULT_MAX_WINDOWS,
}


def limit(name: str) -> int:
    """The limit ``name`` (``"VIDKIT_MAX_PIXELS"``, ...) as set in the environment, else its default."""
    value = os.environ.get(name, "").strip()
    if not value:
        return _DEFAULTS[name]
    try:
        number = int(float(value))
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"{name}={value!r}: expected a positive whole number")
    return number


def max_pixels_reason(width: int, height: int, max_pixels: int) -> str:
    """Why frames of ``width`` x ``height`` are refused: the one-line reason, with the way to raise the limit."""
    default = " (7680x4320, 8K UHD)" if max_pixels == DEFAULT_MAX_PIXELS else ""
    return (
        f"frames of {width}x{height} ({width * height / 1e6:.1f} million pixels) exceed the limit of "
        f"{max_pixels / 1e6:.1f} million{default}: a damaged or forged header? Raise the limit with "
        f"VIDKIT_MAX_PIXELS={width * height} if the video is real"
    )
