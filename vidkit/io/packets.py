"""Counting a video's packets without decoding them, as ``ffprobe -count_packets`` does.

Headers can be missing (Matroska and WebM carry no frame count: it is estimated as duration x fps, 141 for
a variable-rate file of 120 frames) or wrong (a 4 KB file claiming 10^12 seconds). Demuxing reads only
the container's packet headers, so it costs a fraction of decoding; it is done where a count is asked
for (``vidkit info``, ``vidkit scan``) or where the header cannot be true, never on every open.
"""

from __future__ import annotations

from typing import NamedTuple

import av

from vidkit.errors import DecodeTimeoutError, VideoDecodeError

__all__ = ["PacketCount", "count_packets"]


class PacketCount(NamedTuple):
    """What demuxing a video stream found: ``count`` packets (one per frame), the first one's time and the
    end of the last (its time plus its duration), in seconds; ``complete`` is False when the demuxer
    stopped at damage before the end of the file."""

    count: int
    start_s: float | None
    end_s: float | None
    complete: bool


def count_packets(path: str, *, timeout_s: float = 60.0, max_pixels: int | None = None) -> PacketCount:
    """Demux the first video stream of ``path`` to its end and count its packets (empty ones, which
    only flush a decoder, left out). Raises :class:`VideoDecodeError` when the file cannot be opened,
    :class:`DecodeTimeoutError` when a read blocks past ``timeout_s``."""
    options = {"max_pixels": str(max_pixels)} if max_pixels else {}
    try:
        container = av.open(path, metadata_errors="ignore", timeout=timeout_s, options=options)
    except av.error.FFmpegError as e:
        raise VideoDecodeError(path, f"cannot open it to count its packets ({e})") from None
    with container:
        if not container.streams.video:
            raise VideoDecodeError(path, "no video stream")
        stream = container.streams.video[0]
        tb = stream.time_base
        count, start, end, complete = 0, None, None, True
        try:
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                count += 1
                if packet.pts is not None and tb:
                    t = float(packet.pts * tb)
                    start = t if start is None else min(start, t)
                    stop = t + float((packet.duration or 0) * tb)
                    end = stop if end is None else max(end, stop)
        except av.error.ExitError:
            raise DecodeTimeoutError(path, f"timed out counting packets after {timeout_s:g} s") from None
        except av.error.FFmpegError:
            complete = False
    return PacketCount(count, start, end, complete)
