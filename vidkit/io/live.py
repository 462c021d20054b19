"""Live sources: network streams, pipes, capture devices, and files played as if they were live.

The file reader (:mod:`vidkit.io.pyav_reader`) probes hundreds of packets ahead and seeks back; a live
source allows neither: it is read once, in order, as it comes. :class:`LiveReader` opens one —

- a network URL, in any protocol the FFmpeg inside PyAV reads (``tcp://``, ``udp://``, ``http(s)://``,
  ``rtmp://``, ``rtsp://`` …; :func:`input_protocols` asks libavformat which);
- ``-`` (standard input) or a FIFO;
- a capture device (``/dev/video0``: Video4Linux2);
- a regular file, read as fast as it decodes, or at its own frame rate (``realtime=True``),

and yields its frames one by one (:class:`LiveFrame`: RGB, scaled as asked, with the stream time and
the moment it arrived). Reads wait at most ``timeout_s``; a network stream or device that drops (an
error, a stall, or its end: a live stream does not end) is opened again after a pause that doubles
from ``backoff_s`` up to ``max_backoff_s``, each drop and retry counted in :attr:`LiveReader.stats` and
told to ``notify``; after ``reconnects`` failed attempts in a row the reader gives up with a
:class:`~vidkit.errors.VideoDecodeError` naming the source and the last reason. A pipe or a file ends at
its end. Stream time starts at 0 on the first frame and never goes back: across a reconnect it goes on
by the time the source was away.

The reader holds no frames itself: what a consumer keeps, and what it drops when it is slower than
the source, is the consumer's choice (:mod:`vidkit.engine.watcher`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import difflib
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from vidkit.errors import ConfigError, VideoDecodeError
from vidkit.io._types import quarter_turns, short_side_size
from vidkit.io.limits import limit, max_pixels_reason
from vidkit.utils import cpu_count

KINDS = ("network", "pipe", "device", "file")
# Demuxers that are addressed like protocols (rtsp://) but are formats to FFmpeg.
_URL_FORMATS = ("rtsp",)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_FALLBACK_FPS = 25.0  # a source that states no frame rate (raw pipes): the stream times say the rest


@dataclass(frozen=True)
class Source:
    """A live source, resolved: ``spec`` as the user gave it, ``url`` as FFmpeg opens it, its ``kind``
    (one of :data:`KINDS`) and the input ``format`` to force (None: FFmpeg probes)."""

    spec: str
    url: str
    kind: str
    format: str | None = None

    @property
    def reconnects(self) -> bool:
        """Whether a drop is worth another attempt: a network stream or a device comes back; a pipe or
        a file that ended has nothing more to give."""
        return self.kind in ("network", "device")


def parse_source(spec: str, *, format: str | None = None) -> Source:
    """What ``spec`` names (``-``, a URL, a FIFO, a device, a file), or a
    :class:`~vidkit.errors.ConfigError` saying why it cannot be watched."""
    if spec == "-":
        return Source(spec, "pipe:0", "pipe", format)
    match = _SCHEME.match(spec)
    if match:
        scheme = match[1].lower()
        known = set(input_protocols()) | set(network_formats())
        if scheme not in known:
            close = difflib.get_close_matches(scheme, sorted(known), n=1)
            hint = f" — did you mean {close[0]}://?" if close else ""
            raise ConfigError(
                f"{spec}: FFmpeg here reads no {scheme}:// streams{hint} (vidkit watch --protocols lists them)"
            )
        return Source(spec, spec, "network", format)
    try:
        mode = os.stat(spec).st_mode
    except FileNotFoundError:
        what = "no such device" if spec.startswith("/dev/") else "no such file"
        raise ConfigError(f"{spec}: {what}") from None
    except OSError as e:
        raise ConfigError(f"{spec}: cannot be read ({e.strerror})") from None
    if stat.S_ISFIFO(mode):
        return Source(spec, spec, "pipe", format)
    if stat.S_ISCHR(mode):  # a capture device: Video4Linux2 unless told otherwise
        return Source(spec, spec, "device", format or "v4l2")
    if stat.S_ISREG(mode):
        return Source(spec, spec, "file", format)
    raise ConfigError(f"{spec}: not a video source (a folder, a socket or a block device)")


def input_protocols() -> list[str]:
    """The protocols the FFmpeg inside PyAV reads (``avio_enum_protocols``, asked through ctypes: PyAV
    does not list them); FFmpeg's formats that are addressed as URLs (``rtsp``) are in
    :func:`network_formats`."""
    return _protocols(output=False)


def network_formats() -> list[str]:
    """The demuxers addressed like protocols (``rtsp://``) that this FFmpeg has."""
    import av

    have = {name for entry in av.formats_available for name in entry.split(",")}
    return [name for name in _URL_FORMATS if name in have]


def _protocols(*, output: bool) -> list[str]:
    import av  # noqa: F401 - loads PyAV's libavformat, which is then found among the process's libraries

    enum = _libavformat().avio_enum_protocols
    enum.restype = ctypes.c_char_p
    enum.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
    opaque, names = ctypes.c_void_p(None), []
    while (name := enum(ctypes.byref(opaque), int(output))) is not None:
        names.append(name.decode("ascii"))
    return names


def _libavformat() -> ctypes.CDLL:
    """PyAV's own libavformat, as the process loaded it: a wheel bundles a copy under a mangled name beside
    the package (``av.libs``), and other packages (decord) may have loaded other FFmpegs into the process."""
    import av

    site = os.path.dirname(os.path.dirname(os.path.abspath(av.__file__)))
    folders = [os.path.join(site, sub) for sub in ("av.libs", os.path.join("av", ".dylibs"))]
    for where in folders:
        for name in sorted(os.listdir(where)) if os.path.isdir(where) else ():
            if name.startswith("libavformat"):
                return ctypes.CDLL(os.path.join(where, name))
    return ctypes.CDLL(ctypes.util.find_library("avformat") or "libavformat.so")  # PyAV built on the system's FFmpeg


@dataclass(frozen=True)
class LiveFrame:
    """One frame: ``rgb`` uint8 ``[H, W, 3]`` (upright, scaled as asked), ``time_s`` the stream time
    (seconds from the source's first frame), ``arrived`` when it was decoded (``time.monotonic()``),
    ``connection`` which opening of the source it came from (0, then 1 after the first reconnect …);
    ``picture`` the frame at its own size (upright RGB), when the reader was asked for it."""

    rgb: np.ndarray
    time_s: float
    arrived: float
    connection: int
    picture: np.ndarray | None = None


@dataclass
class LiveStats:
    """What happened to a source so far."""

    frames: int = 0
    connections: int = 0  # successful openings
    disconnects: int = 0  # drops of an open source (errors, stalls, ends of a network stream)
    failed_attempts: int = 0  # openings that failed
    corrupt_packets: int = 0  # packets the decoder refused (skipped)
    time_jumps: int = 0  # timestamps that went back (a wrap, a spliced stream): stream time kept going
    fps: float | None = None  # the current connection's stated frame rate
    reasons: list[str] = field(default_factory=list)  # the last few drops' reasons


class _Dropped(Exception):
    """The open source stopped giving frames (the reason in ``args[0]``)."""


class LiveReader:
    """Frames from a live source as they come (see the module's docstring).

    Args:
        source: what :func:`parse_source` takes, or its :class:`Source`.
        short_side: scale frames so their shorter side has this many pixels (None: as stored).
        timeout_s: the longest wait for the source to open or for its next data.
        realtime: pace the frames by their timestamps (for files; a live source paces itself).
        reconnects: failed attempts in a row after which a network stream or device is given up (0: a
            drop ends the reading).
        backoff_s / max_backoff_s: the pause before the first retry, doubled each time up to the most.
        options: FFmpeg options for the input (``{"rtsp_transport": "tcp"}``).
        picture: also give each frame at its own size (:attr:`LiveFrame.picture`: for drawing on).
        notify: called as ``notify(kind, message)`` on each ``"drop"``, ``"retry"`` and ``"connected"``.
    """

    def __init__(
        self,
        source: str | Source,
        *,
        short_side: int | None = None,
        timeout_s: float = 10.0,
        realtime: bool = False,
        reconnects: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        options: dict[str, str] | None = None,
        picture: bool = False,
        notify: Callable[[str, str], None] | None = None,
    ):
        self.source = source if isinstance(source, Source) else parse_source(source)
        self.short_side = short_side
        self.timeout_s = timeout_s
        self.realtime = realtime
        self.reconnects = reconnects if self.source.reconnects else 0
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.options = dict(options or {})
        self.picture = picture
        self.notify = notify or (lambda kind, message: None)
        self.max_pixels = limit("VIDKIT_MAX_PIXELS")
        self.stats = LiveStats()
        self._sws_threads = min(cpu_count(), 4)
        self._stop = threading.Event()
        self._shift: float | None = None  # stream time = frame time + shift
        self._last: tuple[float, float] | None = None  # (stream time, arrival) of the last frame
        self._paced: tuple[float, float] | None = None  # (stream time, wall time) pacing starts from

    def stop(self) -> None:
        """Ask :meth:`frames` to end (at the latest after the read in progress, bounded by ``timeout_s``)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def frames(self) -> Iterator[LiveFrame]:
        """The source's frames, reconnecting as the source allows; raises
        :class:`~vidkit.errors.VideoDecodeError` when it cannot be opened (after its retries)."""
        failures, delay = 0, self.backoff_s
        while not self.stopped:
            try:
                container = self._open()
            except _Dropped as e:
                failures += 1
                self.stats.failed_attempts += 1
                if failures > self.reconnects:
                    tried = f" (gave up after {failures} attempts)" if self.reconnects else ""
                    raise VideoDecodeError(self.source.spec, f"{e.args[0]}{tried}") from None
                self.notify("retry", f"cannot open it ({e.args[0]}); attempt {failures + 1} in {delay:g} s")
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            connection = self.stats.connections
            self.stats.connections += 1
            if connection:
                self.notify("connected", f"reconnected (connection {connection + 1})")
            self._shift = None
            try:
                for frame in self._decode(container, connection):
                    failures, delay = 0, self.backoff_s  # frames came: the next drop starts a new count
                    yield frame
                reason = None if self.stopped else "the stream ended"
            except _Dropped as e:
                reason = e.args[0]
            finally:
                container.close()
            if reason is None or not self.source.reconnects:
                return
            self.stats.disconnects += 1
            self.stats.reasons = [*self.stats.reasons[-4:], reason]
            if self.reconnects == 0:
                self.notify("drop", f"{reason}; not reconnecting (reconnects 0)")
                return
            self.notify("drop", f"{reason}; reconnecting in {delay:g} s")
            self._stop.wait(delay)
            delay = min(delay * 2, self.max_backoff_s)

    # -- one connection ------------------------------------------------------------------------------
    def _open(self):
        import av

        options = {"max_pixels": str(self.max_pixels), **self.options}
        if self.source.url.startswith("udp://"):  # a slow reader loses datagrams, not the stream
            options.setdefault("overrun_nonfatal", "1")
        try:
            container = av.open(
                self.source.url,
                format=self.source.format,
                options=options,
                timeout=(self.timeout_s, self.timeout_s),
                metadata_errors="ignore",
            )
        except av.error.ExitError:
            raise _Dropped(f"no data within {self.timeout_s:g} s") from None
        except av.error.InvalidDataError as e:  # it answered, with something that is not video
            raise VideoDecodeError(self.source.spec, f"not a video stream ({e.strerror or e})") from None
        except (av.error.FFmpegError, OSError) as e:
            raise _Dropped(getattr(e, "strerror", None) or str(e)) from None
        if not container.streams.video:
            container.close()
            raise VideoDecodeError(self.source.spec, "no video stream in it")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is not None and ctx.width * ctx.height > self.max_pixels:
            container.close()
            raise VideoDecodeError(self.source.spec, max_pixels_reason(ctx.width, ctx.height, self.max_pixels))
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.stats.fps = float(rate) if rate and 0 < float(rate) < 1000 else None
        return container

    def _decode(self, container, connection: int) -> Iterator[LiveFrame]:
        import av

        stream = container.streams.video[0]
        frame_s = 1.0 / (self.stats.fps or _FALLBACK_FPS)
        packets = container.demux(stream)
        while not self.stopped:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.ExitError:
                raise _Dropped(f"no data for {self.timeout_s:g} s") from None
            except (av.error.FFmpegError, OSError) as e:
                raise _Dropped(getattr(e, "strerror", None) or str(e)) from None
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError:
                self.stats.corrupt_packets += 1
                continue
            except av.error.FFmpegError as e:
                raise _Dropped(f"the decoder failed ({e.strerror or e})") from None
            for frame in decoded:
                yield self._frame(frame, connection, frame_s)

    def _frame(self, frame, connection: int, frame_s: float) -> LiveFrame:
        arrived = time.monotonic()
        last = self._last
        if self._shift is None:  # a connection's first frame: 0, or on from where the last one left off
            target = 0.0 if last is None else last[0] + max(frame_s, arrived - last[1])
            self._shift = target - (frame.time or 0.0)
        t = (last[0] + frame_s) if frame.time is None and last is not None else (frame.time or 0.0) + self._shift
        if last is not None and t <= last[0]:
            self.stats.time_jumps += 1  # back in time: keep stream time going one frame on
            self._shift += last[0] + frame_s - t
            t = last[0] + frame_s
        self._last = (t, arrived)
        if self.realtime:
            arrived = self._pace(t)
        self.stats.frames += 1
        rgb = self._rgb(frame, self.short_side)
        picture = None if not self.picture else (rgb.copy() if self.short_side is None else self._rgb(frame, None))
        return LiveFrame(rgb, t, arrived, connection, picture)

    def _pace(self, t: float) -> float:
        now = time.monotonic()
        if self._paced is None:
            self._paced = (t, now)
        due = self._paced[1] + (t - self._paced[0])
        if due > now:
            self._stop.wait(due - now)
        return time.monotonic()

    def _rgb(self, frame, short_side: int | None) -> np.ndarray:
        k = quarter_turns(frame)  # the display matrix's turn, as the file reader
        convert: dict = {"format": "rgb24", "threads": self._sws_threads}  # as the file reader converts
        if short_side is not None:
            height, width = short_side_size(frame.height, frame.width, short_side)
            convert.update(width=width, height=height, interpolation="BILINEAR")
        rgb = frame.to_ndarray(**convert)
        return np.ascontiguousarray(np.rot90(rgb, k=k)) if k else rgb


__all__ = [
    "KINDS",
    "LiveFrame",
    "LiveReader",
    "LiveStats",
    "Source",
    "input_protocols",
    "network_formats",
    "parse_source",
]
