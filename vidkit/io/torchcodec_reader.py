"""Random access through torchcodec, PyTorch's decoder on the system's FFmpeg, on the CPU.

torchcodec scans the file's packets once (``seek_mode="exact"``), then fetches any set of frames by
index, seeking to the keyframe before each. As for decord, metadata, rotation and the bad-input checks
come from the PyAV probe, so the backends describe a file the same way; the frames' times come from one
demux of the packet headers (no decoding), ordered as torchcodec orders its index, and are checked
against the times torchcodec returns. Where torchcodec cannot be trusted with a file (raw streams, AVI
with B-frames, timestamps that jump back or repeat) the PyAV reader reads it; where it fails on some
frames (a damaged packet), the PyAV reader reads those; the warnings say so.

torchcodec is an optional extra (``pip install -e '.[torchcodec]'``) and loads FFmpeg's shared
libraries (majors 4 to 9) from the system: :func:`torchcodec_unavailable` says in one line why it
cannot be used here. Its CUDA decoding (``device="cuda"``) is not used: see docs/decoding.md.
"""

from __future__ import annotations

import functools
import os
import re

import av
import numpy as np
import torch

from vidkit.errors import DecodeTimeoutError, VideoDecodeError
from vidkit.io._checks import open_container
from vidkit.io._indexed_reader import IndexedReader
from vidkit.io._timing import reorder_depth
from vidkit.io._types import VideoInfo, short_side_size

INSTALL = "pip install -e '.[torchcodec]'"
_FFMPEG = "apt-get install ffmpeg, or conda install ffmpeg"

__all__ = ["INSTALL", "TorchCodecReader", "torchcodec_unavailable"]


def _first_line(error: BaseException) -> str:
    """The message's first line, without the C++ function and source line torchcodec puts before it."""
    text = str(error).strip()
    line = text.splitlines()[0].strip() if text else type(error).__name__
    return re.sub(r"^\w+, \S+\.(?:cpp|h):\d+, ", "", line)


@functools.cache
def torchcodec_unavailable() -> str | None:
    """Why ``backend="torchcodec"`` cannot decode in this process, in one line; None when it can.

    torchcodec may be missing, or installed but unable to load its decoding library: FFmpeg's shared
    libraries are not installed, or (with FFmpeg present) the torchcodec release was built for another
    torch. Releases from 0.12 import without FFmpeg and say so in ``ffmpeg_major_version``; older ones
    fail at import."""
    try:
        import torchcodec
    except ImportError:
        return f"backend 'torchcodec' is not installed ({INSTALL}) — use backend='pyav'"
    except Exception as e:  # torchcodec < 0.12 loads FFmpeg at import
        return (
            f"torchcodec cannot load ({_first_line(e)}): it needs FFmpeg's shared libraries 4-9 ({_FFMPEG}) "
            f"and the release built for torch {torch.__version__} ({INSTALL}) — use backend='pyav'"
        )
    if getattr(torchcodec, "ffmpeg_major_version", 0) is not None:
        return None
    version = getattr(torchcodec, "__version__", "?")
    found = _loadable_ffmpeg()
    if found is None:
        return (
            f"torchcodec {version} finds no FFmpeg shared libraries (it loads FFmpeg 4-9 from the system: "
            f"{_FFMPEG}) — use backend='pyav'"
        )
    return (
        f"torchcodec {version} cannot load its decoding library though FFmpeg's {found} loads: a torchcodec built "
        f"for another torch than {torch.__version__}, or an FFmpeg older than 4? ({INSTALL} installs the release "
        "for this torch) — use backend='pyav'"
    )


def _loadable_ffmpeg() -> str | None:
    """The name of the system's libavutil where the dynamic loader finds and loads it, else None."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("avutil")
    if name is None:
        return None
    try:
        ctypes.CDLL(name)
    except OSError:
        return None
    return name


class TorchCodecReader(IndexedReader):
    """Random-access reader on torchcodec (CPU). Same arguments as :class:`PyAVReader`: ``timeout_s``
    bounds the probe, the demux and the PyAV fallback (torchcodec's own calls cannot be interrupted);
    ``threads`` is torchcodec's ``num_ffmpeg_threads`` (0: FFmpeg chooses).

    torchcodec turns frames upright itself; with ``apply_rotation=False`` they are turned back. Its
    ``short_side`` scaling is bilinear with antialiasing, after the RGB conversion (PyAV's is bilinear in
    the conversion): frames of the same size, pixels a little different.
    """

    backend = "torchcodec"

    @staticmethod
    def _require(path) -> None:
        reason = torchcodec_unavailable()
        if reason:
            raise VideoDecodeError(os.fspath(path), reason)

    def _index(self, info: VideoInfo, *, threads: int, timeout_s: float, max_pixels: int | None) -> str | None:
        """Open the torchcodec decoder and read the frames' times; the reason to read with PyAV instead,
        or None."""
        if info.times_assumed:
            return "torchcodec cannot index a raw stream (no container); read with PyAV"
        if reorder_depth(info.container, info.has_b_frames):  # stamps in decode order: its index is wrong
            return f"torchcodec cannot time B-frames in {info.container.upper()}; read with PyAV"
        if self._pyav.stamps_jump_back():  # it orders frames by stamp, which mixes the recordings up
            return "torchcodec cannot follow stamps that jump back (concatenated recordings?); read with PyAV"
        from torchcodec.decoders import VideoDecoder
        from torchcodec.transforms import Resize

        pts = self._packet_times(timeout_s, max_pixels)
        if len(pts) == 0 or not bool(np.all(np.diff(pts) > 0)):
            return "torchcodec cannot time these frames (their timestamps repeat or are missing); read with PyAV"
        transforms = None
        if self.short_side is not None:  # torchcodec scales the upright frames
            transforms = [Resize(short_side_size(*self._pyav.info.display_size, self.short_side))]
        self._new_decoder = functools.partial(
            VideoDecoder,
            self.path,
            seek_mode="exact",
            dimension_order="NHWC",
            num_ffmpeg_threads=threads,
            device="cpu",
            transforms=transforms,
        )
        try:
            decoder = self._new_decoder()
        except Exception as e:  # torchcodec raises RuntimeError and ValueError from C++
            return f"torchcodec cannot read it ({_first_line(e)}); read with PyAV"
        if len(decoder) != len(pts):
            return f"torchcodec indexes {len(decoder)} frames, the packets are {len(pts)}; read with PyAV"
        self._decoder, self._pts = decoder, pts
        self._half_tick = float(self._pyav.time_base) / 2
        return None

    def _packet_times(self, timeout_s: float, max_pixels: int | None) -> np.ndarray:
        """Presentation times of the video stream's packets (decode times where a packet has none), sorted:
        the frames' times in the order torchcodec's exact scan indexes them."""
        try:
            container = open_container(self.path, timeout_s=timeout_s, max_pixels=max_pixels)
        except av.error.ExitError:
            raise DecodeTimeoutError(self.path, f"timed out opening it (no data within {timeout_s:g} s)") from None
        except av.error.FFmpegError as e:
            raise VideoDecodeError(self.path, f"cannot open it to index its packets ({e})") from None
        ticks = []
        with container:
            stream = container.streams.video[0]
            tb = stream.time_base
            try:
                for packet in container.demux(stream):
                    if packet.is_discard or (packet.pts is None and packet.dts is None):
                        continue
                    if packet.size:
                        ticks.append(packet.pts if packet.pts is not None else packet.dts)
            except av.error.ExitError:
                raise DecodeTimeoutError(self.path, f"timed out indexing its packets after {timeout_s:g} s") from None
            except av.error.FFmpegError:
                pass  # damage: the PyAV probe has said so; torchcodec's count decides
        ticks = np.sort(np.asarray(ticks, dtype=np.int64), kind="stable")
        return ticks * tb.numerator / tb.denominator

    def _fetch(self, indices: np.ndarray, *, span: bool) -> torch.Tensor:
        """Where torchcodec returns frames of other times than its index lists, that is a failure too."""
        times = self._pts[indices]
        if span:
            batch = self._decoder.get_frames_in_range(int(indices[0]), int(indices[-1]) + 1)
        else:
            batch = self._decoder.get_frames_at(indices.tolist())
        off = np.abs(batch.pts_seconds.numpy() - times)
        if len(off) != len(times) or off.max() > self._half_tick + 1e-9:
            raise RuntimeError(f"it returned frames of other times than its index lists ({off.max():.3f} s off)")
        data = batch.data
        turns = self._pyav.info.rotation // 90
        if turns and not self.apply_rotation:  # torchcodec always turns frames upright: turn them back
            data = torch.rot90(data, k=-turns, dims=(1, 2)).contiguous()
        return data

    def _fetch_failed(self, indices: np.ndarray, span: bool, error: Exception) -> str:
        # torchcodec raises RuntimeError from C++ on a packet it cannot decode. After one, its decoder can be
        # a frame out for the reads that carry on from there: the next read starts on a new one (which seeks).
        which = f"frames {indices[0]}..{indices[-1]}" if span else f"frame(s) {', '.join(map(str, indices[:4]))}"
        which += ", ..." if len(indices) > 4 and not span else ""
        try:
            self._decoder = self._new_decoder()
        except Exception:
            pass  # the old one stays; its reads are checked all the same
        return f"torchcodec failed on {which} ({_first_line(error)}); read them with PyAV"
