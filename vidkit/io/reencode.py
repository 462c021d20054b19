"""Re-encode a video with a fixed group of pictures: the preprocessing of compressed-domain models.

CoViAR (Wu et al., "Compressed Video Action Recognition", CVPR 2018) trains on MPEG-4 Part 2 with
a GOP of 12 and no B-frames: every P-frame references only the frame before it, so motion vectors
and residuals accumulate back to the I-frame without reordering. Its ``data/reencode.sh`` runs
``ffmpeg -i IN -vf scale=340:256,setsar=1:1 -q:v 1 -c:v mpeg4 -f rawvideo OUT``: GOP 12 and no
B-frames are the mpeg4 encoder's defaults, and ``-q:v 1`` is clamped to the default ``qmin`` of 2.
:func:`reencode` codes the same stream (quantiser 2) into a real container, which keeps the
timestamps a raw elementary stream drops, in GOPs that neither scene cuts nor the source's own
keyframes break.

    result = reencode("clips/a.mp4", "coviar/a.avi")                          # CoViAR
    result = reencode("clips/a.mp4", "prep/a.mp4", codec="libx264", gop=16, short_side=256)

Kept: every decoded frame and its presentation time (variable frame rate too), and the rotation (a
display matrix in MP4/MOV/Matroska; AVI has none, so there the pixels are turned upright). Dropped:
audio and every other stream, and container metadata.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.video.frame import PictureType

from vidkit.errors import VideoDecodeError
from vidkit.io._checks import open_container
from vidkit.io._types import short_side_size
from vidkit.io.encode import FORMATS
from vidkit.io.pyav_reader import PyAVReader
from vidkit.utils import atomic_path

__all__ = ["QUALITY", "ReencodeResult", "encoder_options", "reencode"]

# codec -> (what ``quality`` sets, its default, its range); lower is better for both.
QUALITY = {"mpeg4": ("qscale", 2, (1, 31)), "libx264": ("crf", 18, (0, 51))}
_PIX_FMT = "yuv420p"  # what every player decodes, and CoViAR's
_MAX_TIME_BASE_DEN = 65535  # MPEG-4 Part 2 codes time in 16-bit increments (vop_time_increment_resolution)
_KEEPS_ROTATION = {"mp4", "mov", "matroska"}  # muxers that store a display matrix
_TURN = {90: [("transpose", "cclock")], 180: [("hflip", ""), ("vflip", "")], 270: [("transpose", "clock")]}


@dataclass(frozen=True)
class ReencodeResult:
    """What one :func:`reencode` wrote: ``width``/``height`` as stored, ``rotation`` the display
    rotation kept in the output (0 when the pixels were turned upright instead), ``warnings`` what
    went wrong in the source without stopping the re-encode (damaged packets, an early end)."""

    src: str
    dst: str
    frames: int
    width: int
    height: int
    rotation: int
    src_bytes: int
    dst_bytes: int
    seconds: float
    warnings: tuple[str, ...] = ()


def encoder_options(codec: str, *, gop: int, b_frames: int, quality: int | None = None) -> dict[str, str]:
    """FFmpeg encoder options for a fixed GOP of ``gop`` frames, at most ``b_frames`` B-frames in a
    row, at ``quality`` (:data:`QUALITY`; None: its default). mpeg4: ``qmin = qmax = quality`` pins
    the quantiser (``flags=+qscale`` and ``global_quality``, what ``ffmpeg -q:v`` sets, do nothing
    through PyAV: the CLI also copies the quality into each frame, else the encoder uses ``qmin``);
    ``sc_threshold=1e9`` stops scene-cut I-frames. libx264: ``crf``, ``keyint_min = g`` and
    ``sc_threshold=0`` (x264's scenecut off) fix the GOP."""
    if codec not in QUALITY:
        raise ValueError(f"reencode sets fixed GOPs up for {', '.join(QUALITY)}, not {codec!r}")
    if gop < 1 or b_frames < 0:
        raise ValueError(f"gop must be at least 1 and b_frames at least 0, got gop={gop}, b_frames={b_frames}")
    name, default, (low, high) = QUALITY[codec]
    q = default if quality is None else quality
    if not low <= q <= high:
        raise ValueError(f"{codec} quality is its {name}, from {low} (best) to {high}; got {q}")
    options = {"g": str(gop), "bf": str(b_frames)}
    if codec == "mpeg4":
        return options | {"qmin": str(q), "qmax": str(q), "sc_threshold": "1000000000"}
    return options | {"crf": str(q), "keyint_min": str(gop), "sc_threshold": "0"}


def reencode(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    codec: str = "mpeg4",
    gop: int = 12,
    b_frames: int = 0,
    short_side: int | None = None,
    quality: int | None = None,
    threads: int = 0,
    timeout_s: float = 60.0,
    progress: Callable[[], None] | None = None,
) -> ReencodeResult:
    """Re-encode the first video stream of ``src`` into ``dst`` (container from its extension: .avi,
    .mp4, .mov, .mkv) with ``codec`` (``"mpeg4"``: MPEG-4 Part 2, or ``"libx264"``), an I-frame every
    ``gop`` frames and at most ``b_frames`` B-frames in a row. Audio is dropped.

    ``short_side`` scales (bicubic, as FFmpeg's scale filter) so the shorter side has that many
    pixels, the aspect ratio kept; a video that small already keeps its size (never upscaled). Both
    sides are rounded down to even, as 4:2:0 chroma needs. Frames keep their presentation times,
    exactly where the container can (see :func:`_time_base`). ``threads``: decoder and encoder threads
    (0: FFmpeg decides). ``progress()`` is called as work goes on, after each frame (a heartbeat).

    ``dst`` is written to a temporary file beside it and renamed into place when complete, so an
    interrupted run leaves no ``dst``; an existing ``dst`` is replaced. Raises :class:`VideoDecodeError`
    naming ``src`` when it cannot be read (the checks of :func:`vidkit.io.open_video`: missing, empty,
    not a video, audio only, truncated index) or gives no frame; :class:`DecodeTimeoutError` when
    decoding stalls for ``timeout_s``.
    """
    started = time.perf_counter()
    dst = Path(dst)
    fmt = FORMATS.get(dst.suffix.lower())
    if fmt is None:
        raise ValueError(f"{dst}: unknown container extension {dst.suffix!r}; use one of {', '.join(sorted(FORMATS))}")
    if short_side is not None and short_side < 2:
        raise ValueError(f"short_side must be at least 2 pixels, got {short_side}")
    options = encoder_options(codec, gop=gop, b_frames=b_frames, quality=quality)
    with PyAVReader(
        src, apply_rotation=False, timeout_s=timeout_s, threads=threads
    ) as video:  # its checks and messages
        info = video.info
        path, rotation = info.path, (info.rotation if fmt in _KEEPS_ROTATION else 0)
        height, width = info.height, info.width
        if short_side is not None and short_side < min(height, width):
            height, width = short_side_size(height, width, short_side)
        height, width = max(2, height - height % 2), max(2, width - width % 2)
        if info.rotation in (90, 270) and not rotation:
            height, width = width, height  # turned upright before scaling
        beat = progress or (lambda: None)
        stream = video.av_stream
        with atomic_path(dst) as tmp:
            time_base = _time_base(path, stream, fmt, is_vfr=info.is_vfr, timeout_s=timeout_s, beat=beat)
            shift = info.start_s if fmt == "avi" else 0.0  # AVI's first frame is at 0, whatever its time
            rate = (stream.average_rate or stream.guessed_rate or Fraction(25)).limit_denominator(_MAX_TIME_BASE_DEN)
            turn = _turner(info.rotation) if info.rotation and not rotation else (lambda frame: frame)
            count, last_pts = 0, -(2**62)
            with av.open(tmp, "w", format=fmt) as out:
                encoder = out.add_stream(codec, rate=rate)
                encoder.width, encoder.height, encoder.pix_fmt = width, height, _PIX_FMT
                encoder.codec_context.time_base, encoder.codec_context.thread_count = time_base, threads
                encoder.options = options
                if rotation:
                    encoder.set_display_rotation(rotation)
                for frame, t in video.av_frames():
                    frame = turn(frame).reformat(width, height, _PIX_FMT, interpolation="BICUBIC")
                    frame.pict_type = PictureType.NONE  # a decoded I-frame would force one: the GOP is ours to set
                    last_pts = max(round((t - shift) / time_base), last_pts + 1)  # never two frames on one tick
                    frame.pts, frame.time_base = last_pts, time_base
                    for packet in encoder.encode(frame):
                        out.mux(packet)
                    count += 1
                    beat()
                if not count:
                    raise VideoDecodeError(
                        path, "no decodable video frames" + (f" ({video.warnings[-1]})" if video.warnings else "")
                    )
                for packet in encoder.encode():
                    out.mux(packet)
        warnings = list(video.warnings)  # damage, gaps and an early end, as the reader saw them
    if info.num_frames_exact and count < info.num_frames:
        warnings.append(f"{count} of the {info.num_frames} frames in the header decoded: file truncated or damaged?")
    return ReencodeResult(
        src=path,
        dst=str(dst),
        frames=count,
        width=width,
        height=height,
        rotation=rotation,
        src_bytes=os.path.getsize(path),
        dst_bytes=dst.stat().st_size,
        seconds=time.perf_counter() - started,
        warnings=tuple(warnings),
    )


def _open(path: str, timeout_s: float):
    try:
        return open_container(path, timeout_s=timeout_s)
    except av.error.FFmpegError as e:  # it opened a moment ago in open_video: changed under us
        raise VideoDecodeError(path, f"cannot reopen it ({e})") from None


def _time_base(path: str, stream, fmt: str, *, is_vfr: bool, timeout_s: float, beat: Callable[[], None]) -> Fraction:
    """The output's tick, so that every source time is a whole number of ticks where possible. AVI
    stores one chunk per tick (FFmpeg's muxer fills gaps with empty ones), so there a constant rate
    gets 1/fps; else the source's time base, if within MPEG-4's 16 bits; else the coarsest tick that
    divides every timestamp (a demux pass: 1/90000, 3000 apart: 1/30); else milliseconds, rounded."""
    rate = stream.average_rate or stream.guessed_rate
    if fmt == "avi" and not is_vfr and rate:
        return (1 / Fraction(rate)).limit_denominator(_MAX_TIME_BASE_DEN)
    source_tb = stream.time_base or Fraction(1, 1000)
    if fmt != "avi" and source_tb.denominator <= _MAX_TIME_BASE_DEN:
        return source_tb
    step, origin = 0, None
    with _open(path, timeout_s) as container:
        try:
            for packet in container.demux(container.streams.video[0]):
                beat()
                if packet.pts is not None:
                    if origin is None:  # AVI's times start at 0 (see reencode); the others' are kept
                        origin = packet.pts if fmt == "avi" else 0
                    step = math.gcd(step, packet.pts - origin)
        except av.error.FFmpegError:
            pass  # damage: the frames decoded later will say so
    tick = source_tb * step if step else source_tb
    return tick if tick.denominator <= _MAX_TIME_BASE_DEN else Fraction(1, 1000)


def _turner(rotation: int) -> Callable:
    """A function turning frames upright (``rotation`` degrees counter-clockwise) through an FFmpeg
    filter graph, built on the first frame: the planes move without a round trip through RGB."""
    graph = None

    def turn(frame):
        nonlocal graph
        if graph is None:
            graph = av.filter.Graph()
            node = graph.add_buffer(
                width=frame.width,
                height=frame.height,
                format=frame.format.name,
                time_base=frame.time_base or Fraction(1, 1000),
            )
            for name, args in _TURN[rotation] + [("buffersink", "")]:
                node.link_to(step := graph.add(name, args))
                node = step
            graph.configure()
        graph.push(frame)
        return graph.pull()

    return turn
