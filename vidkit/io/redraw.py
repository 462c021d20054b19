"""Decode a video, hand each frame to a drawing function, encode what it drew: the one pass of ``vidkit render``.

The output plays in common players: H.264 (x264), yuv420p, even dimensions (an odd last row or column is
cut), in MP4 with the source's frame times (variable rate too), upright (the display rotation applied to
the pixels). The first audio stream is copied as it is where the container takes its codec, otherwise
re-encoded to AAC. A damaged packet is skipped and counted. The file is written beside its destination
and renamed into place when complete: an interrupted run leaves nothing at ``dst``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType

from vidkit.errors import VideoDecodeError
from vidkit.io._checks import check_path, describe_open_failure, open_container
from vidkit.io._types import quarter_turns
from vidkit.io.reencode import _turner
from vidkit.utils import atomic_path

__all__ = ["RedrawResult", "StreamWriter", "redraw"]

# audio codecs the MP4 muxer stores as they are; others (PCM, Vorbis...) are re-encoded to AAC
_MP4_AUDIO = {"aac", "mp3", "opus", "alac", "flac", "ac3", "eac3"}


@dataclass(frozen=True)
class RedrawResult:
    """What one :func:`redraw` wrote: the frames, their size, whether audio was kept (and how), the
    packets skipped as damaged, and the seconds it took."""

    dst: str
    frames: int
    width: int
    height: int
    audio: str | None  # "copied", "re-encoded to aac", or None
    damaged_packets: int
    seconds: float


def redraw(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    draw: Callable[[np.ndarray, float], object],
    *,
    audio: bool = True,
    space: str = "rgb",
    crf: int = 20,
    preset: str = "veryfast",
    timeout_s: float = 60.0,
    progress: Callable[[], None] | None = None,
) -> RedrawResult:
    """Write ``src`` to ``dst`` with ``draw(frame, t)`` applied to every frame (RGB uint8 ``[H, W, 3]``,
    upright, drawn on in place; ``t`` its time in seconds from the first frame's). ``audio``: keep the
    first audio stream. ``space="yuv420p"``: ``draw`` gets the decoded frame's yuv420p planes instead of RGB
    (a ``(y, u, v)`` tuple of uint8 views, U and V at half size; :class:`vidkit.viz.YUVCanvas` draws on
    them), drawn on in the decoded frame itself, which never goes through RGB and back: drawing then costs
    little over decoding and encoding. ``crf``/``preset``: x264's quality and speed. ``progress()`` is called
    per frame."""
    started = time.perf_counter()
    path = check_path(src)
    try:
        container = open_container(path, timeout_s=timeout_s)
    except av.error.FFmpegError as e:
        raise VideoDecodeError(path, describe_open_failure(path, e)) from None
    damaged = frames = 0
    with container:
        if not container.streams.video:
            raise VideoDecodeError(path, "no video stream")
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        sound = container.streams.audio[0] if audio and container.streams.audio else None
        streams = [video] + ([sound] if sound is not None else [])
        time_base = video.time_base or Fraction(1, 1000)
        with atomic_path(Path(dst)) as tmp, av.open(tmp, "w", format="mp4") as out:
            encoder = out.add_stream("libx264", rate=video.average_rate or video.guessed_rate or 25)
            encoder.pix_fmt = "yuv420p"
            encoder.options = {"crf": str(crf), "preset": preset}
            encoder.codec_context.time_base = time_base
            copy, audio_out, resampler = _audio_stream(out, sound)
            first, last_pts, size, turn = None, None, None, None
            waiting: list = []  # audio before the first picture: the header needs the picture's size first
            for packet in container.demux(*streams):
                if packet.stream is sound:
                    if packet.dts is None:
                        continue
                    if size is None:
                        waiting.append(packet)
                    else:
                        _mux_audio(out, packet, copy, audio_out, resampler)
                    continue
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    damaged += 1
                    continue
                for frame in decoded:
                    if size is None:
                        size = _even_size(frame)
                        encoder.height, encoder.width = size
                        turn = _turner(quarter_turns(frame) * 90) if quarter_turns(frame) else None
                    pts = frame.pts if frame.pts is not None else (0 if last_pts is None else last_pts + 1)
                    pts = pts if last_pts is None else max(pts, last_pts + 1)  # never two frames on one tick
                    first = pts if first is None else first
                    t = float((pts - first) * time_base)
                    if space == "yuv420p":
                        picture = _upright_yuv(frame, size, turn)
                        draw(_planes(picture, size), t)
                    else:
                        rgb = np.ascontiguousarray(_upright(frame)[: size[0], : size[1]])
                        draw(rgb, t)
                        picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                    picture.pts, picture.time_base, last_pts = pts, time_base, pts
                    out.mux(encoder.encode(picture))
                    for early in waiting:
                        _mux_audio(out, early, copy, audio_out, resampler)
                    waiting.clear()
                    frames += 1
                    if progress:
                        progress()
            if not frames:
                raise VideoDecodeError(path, "no decodable video frames")
            out.mux(encoder.encode())
            if audio_out is not None and not copy:
                for chunk in resampler.resample(None):
                    out.mux(audio_out.encode(chunk))
                out.mux(audio_out.encode())
    how = None if sound is None else ("copied" if copy else "re-encoded to aac")
    return RedrawResult(str(dst), frames, size[1], size[0], how, damaged, time.perf_counter() - started)


def _audio_stream(out, sound):
    """``(copy, stream, resampler)``: the output's audio stream, copied from ``sound`` where MP4 stores its
    codec, else an AAC encoder fed through a resampler."""
    if sound is None:
        return False, None, None
    if sound.codec_context.name in _MP4_AUDIO:
        return True, out.add_stream_from_template(sound), None
    rate = sound.codec_context.sample_rate or 48000
    stream = out.add_stream("aac", rate=rate)
    layout = sound.codec_context.layout.name if sound.codec_context.layout else "stereo"
    stream.layout = layout
    resampler = av.AudioResampler(
        format="fltp", layout=layout, rate=rate, frame_size=stream.codec_context.frame_size or 1024
    )
    return False, stream, resampler


def _mux_audio(out, packet, copy: bool, stream, resampler) -> None:
    if copy:
        packet.stream = stream
        out.mux(packet)
        return
    try:
        frames = packet.decode()
    except av.error.InvalidDataError:
        return
    for frame in frames:
        for chunk in resampler.resample(frame):
            out.mux(stream.encode(chunk))


def _even_size(frame) -> tuple[int, int]:
    """The output's ``(height, width)``: the frame upright, each side cut down to even (4:2:0 needs it)."""
    height, width = (frame.width, frame.height) if quarter_turns(frame) % 2 else (frame.height, frame.width)
    return max(2, height - height % 2), max(2, width - width % 2)


def _upright_yuv(frame, size: tuple[int, int], turn):
    """The decoded frame, upright (``turn``: FFmpeg's transpose filters), yuv420p, of ``size``, writable (a
    frame the decoder still refers to is copied first: drawing on it would corrupt the frames after it)."""
    if quarter_turns(frame):
        frame = turn(frame)
    if (frame.format.name, frame.height, frame.width) != ("yuv420p", *size):
        frame = frame.reformat(width=size[1], height=size[0], format="yuv420p")
    frame.make_writable()
    frame.pict_type = PictureType.NONE  # the source's I-frames are not ours to keep
    return frame


def _planes(frame, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Writable views of a yuv420p frame's planes, without the line padding."""
    height, width = size
    shapes = ((height, width), (height // 2, width // 2), (height // 2, width // 2))
    return tuple(
        np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:h, :w]
        for plane, (h, w) in zip(frame.planes, shapes)
    )


def _upright(frame) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    k = quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(rgb, k=k)) if k else rgb


class StreamWriter:
    """Frames written as they come, for a live source (``vidkit watch --draw``): H.264 yuv420p in fragmented
    MP4 (a fragment a keyframe, one a second), so the file plays while it grows and whatever was written
    plays even if the process is killed; :meth:`close` ends it cleanly. The first frame sets the size (made
    even); later frames of another size are scaled to it. ``path`` must not exist: nothing is overwritten."""

    def __init__(self, path: str | os.PathLike, *, fps: float = 30.0, crf: int = 23, preset: str = "veryfast"):
        self.path = str(path)
        self.fps, self.crf, self.preset = fps, crf, preset
        self.frames = 0
        self._out = self._stream = None
        self._size: tuple[int, int] | None = None
        self._last = -1
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # refuses an existing file
        os.close(fd)

    def write(self, rgb: np.ndarray, t: float) -> None:
        """Add ``rgb`` (uint8 ``[H, W, 3]``) shown at ``t`` seconds."""
        if self._out is None:
            self._size = (rgb.shape[0] - rgb.shape[0] % 2, rgb.shape[1] - rgb.shape[1] % 2)
            options = {"movflags": "+frag_keyframe+empty_moov+default_base_moof"}
            self._out = av.open(self.path, "w", format="mp4", options=options)
            gop = max(1, round(self.fps))
            self._stream = self._out.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            self._stream.height, self._stream.width = self._size
            self._stream.pix_fmt = "yuv420p"
            self._stream.codec_context.time_base = Fraction(1, 1000)
            self._stream.options = {"crf": str(self.crf), "preset": self.preset, "g": str(gop)}
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[: self._size[0], : self._size[1]]), "rgb24")
        if (picture.height, picture.width) != self._size:
            picture = picture.reformat(width=self._size[1], height=self._size[0])
        self._last = max(round(t * 1000), self._last + 1)
        picture.pts, picture.time_base = self._last, Fraction(1, 1000)
        self._out.mux(self._stream.encode(picture))
        self.frames += 1

    def close(self) -> None:
        if self._out is None:
            return
        try:
            self._out.mux(self._stream.encode())
        finally:
            self._out.close()
            self._out = None
