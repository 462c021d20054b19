"""What the PyAV reader's probe reads from a container before decoding it: the first packets' stamps
(frame-rate variability, B-frame reordering, keyframe spacing), and a measured duration and frame
count where the header's cannot be true."""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable

import av
import numpy as np

from vidkit.io.packets import count_packets

# How many packets the probe demuxes to judge frame-rate variability and B-frame reordering.
PROBE_PACKETS = 600


def first_packets(container, stream) -> tuple[list[int], list[int], bool, str | None]:
    """``(pts, keyframe pts, reordered, damage)`` of the first :data:`PROBE_PACKETS` stamped packets,
    demuxed without decoding; ``damage`` is the demuxer's error where it stopped early."""
    pts, keys, reordered = [], [], False
    try:
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            reordered = reordered or bool(pts and packet.pts < pts[-1])
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
            if len(pts) >= PROBE_PACKETS:
                break
    except av.error.FFmpegError as e:
        return pts, keys, reordered, f"container damaged near the start ({e})"
    return pts, keys, reordered, None


def frame_spacing(pts: list[int], tb) -> tuple[bool, float | None]:
    """``(is_vfr, seconds between frames when the rate is constant)`` from the first packets' stamps."""
    diffs = np.diff(np.unique(np.asarray(pts, dtype=np.int64)))
    if len(pts) <= 2 or not len(diffs):  # too few, or every stamp the same (a broken timing table)
        return False, None
    nominal = float(np.median(diffs))
    # A tick of rounding plus 5% jitter is still constant rate (29.97 fps in 1/1000 ticks); a gap or two
    # is damage or a dropped frame, not a variable rate.
    off = int((np.abs(diffs - nominal) > nominal * 0.05 + 1).sum())
    is_vfr = off > max(1, 0.02 * len(diffs))
    return is_vfr, (None if is_vfr else nominal * float(tb))


def implausible(path: str, duration: float, num_frames: int, fps: float) -> bool:
    """True when the header (or a nominal rate) gives the file more frames than it has bytes: every
    coded frame takes a byte at least."""
    return max(num_frames, duration * fps) > os.path.getsize(path)


def measure(
    path: str, *, duration: float, num_frames: int, fps: float, start_s: float, timeout_s: float, max_pixels: int
) -> tuple[float, int, bool, float, str | None]:
    """``(duration, num_frames, exact, fps, warning)`` measured by demuxing the whole file, for an
    :func:`implausible` header. A duration the packets cannot back (a forged 10^12 seconds would have a
    job plan windows for it, and decord allocate its index for it) gets the ``warning``; then the header
    is not to be trusted by anything else either."""
    counted = count_packets(path, timeout_s=timeout_s, max_pixels=max_pixels)
    if not counted.count:
        return duration, num_frames, False, fps, None
    span = (counted.end_s - start_s) if counted.end_s is not None else 0.0
    measured = max(span, counted.count / fps if fps else 0.0)
    if not measured or fps * measured > 2 * counted.count:  # a nominal rate, not the frames' rate
        fps = counted.count / measured if measured else 0.0
    warning = None
    if duration > 2 * measured + 1:
        warning = (
            f"the header claims {duration:.6g} s in a file of {os.path.getsize(path)} bytes; its "
            f"{counted.count} packets span {measured:.3f} s: the header is ignored"
        )
    return measured, counted.count, counted.complete, fps, warning


def keyframe_between(keys: list[float], interval: float | None, fps: float, now: float, target: float) -> bool:
    """True when seeking saves work: a keyframe (of those at ``keys`` seconds) lies well after ``now`` and at
    or before ``target``. Past the last keyframe the index lists (Matroska's cues may list only the first),
    by the keyframe ``interval`` the probe measured: true when ``target`` is more than one interval after
    ``now``."""
    two_frames = 2.0 / (fps or 25)
    if interval and (not keys or target > keys[-1] + interval):
        return target - now > interval + two_frames
    if not keys:
        return False
    j = bisect.bisect_right(keys, target) - 1
    return j >= 0 and keys[j] > now + two_frames


# FFmpeg's raw video demuxers: an elementary stream with no container around it, so no timestamps. FFmpeg
# times its frames by a frame rate: its ``framerate`` option (25 by default), or the rate a parser reads in
# the stream's sequence header (MPEG-1/2). Y4M is not among them: its header states the rate.
RAW_DEMUXERS = frozenset(
    {
        "h261", "h263", "h264", "hevc", "vvc", "evc", "mpegvideo", "m4v", "cavsvideo",
        "avs2", "avs3", "vc1", "dirac", "dnxhd", "mjpeg", "obu", "av1",
    }
)  # fmt: skip


def is_raw_stream(container: str) -> bool:
    """True when FFmpeg opened the file with a raw demuxer (``container``: the first name it gives)."""
    return container in RAW_DEMUXERS


def assumed_times_warning(codec: str, fps: float, header_fps: float | None) -> str:
    """What a raw stream's record says once: its times come from ``fps``, not from stamps (and what the
    stream's own header says, where that differs)."""
    said = f"a raw {codec} stream carries no timestamps: times assume {fps:g} fps"
    if header_fps and abs(header_fps - fps) > 1e-3 * fps:
        said += f" (its header says {header_fps:g} fps)"
    return said


def is_still_image(info) -> bool:
    """True for a picture, not a video, whatever its name: what FFmpeg opens with an image demuxer (PNG,
    JPEG, BMP, TIFF, WebP... probed by content as ``<format>_pipe``, or ``image2`` by a picture's
    extension), or a GIF of one frame. A picture in a real container (one JPEG frame in an MP4) is a
    video of one frame, as is an animated GIF. ``info``: a :class:`~vidkit.io.VideoInfo`."""
    return is_picture_format(info.container or "", lambda: info.num_frames)


def is_picture_format(container: str, frames: Callable[[], int]) -> bool:
    """:func:`is_still_image` from the container's format name and, asked only for a GIF, its frame count."""
    if container.endswith("_pipe") or container == "image2":
        return True
    return container == "gif" and frames() <= 1
