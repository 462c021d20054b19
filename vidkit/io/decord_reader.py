"""Random access through decord: it indexes every frame up front, then fetches any set of frames
with one seek per group. Metadata, rotation and bad-input checks come from the PyAV probe, so both
backends describe a file the same way; where decord 0.6 is known to fail, the PyAV reader steps in
and says so in the warnings."""

from __future__ import annotations

import numpy as np
import torch

from vidkit.errors import VideoDecodeError
from vidkit.io._indexed_reader import IndexedReader
from vidkit.io._timing import REORDER_WARNING, reorder_depth, sorted_stamps
from vidkit.io._types import VideoInfo


def _import_decord():
    try:
        import decord
    except ImportError:  # pragma: no cover - decord has wheels for x86_64 only
        raise VideoDecodeError(
            "<decord>", "backend 'decord' is not installed (pip install decord; x86_64 only) — use backend='pyav'"
        ) from None
    return decord


class DecordReader(IndexedReader):
    """Random-access reader on decord. Same arguments as :class:`PyAVReader` (``timeout_s`` bounds
    the probe and the PyAV fallback; decord's own calls cannot be interrupted).

    decord 0.6 cannot decode rotated videos (dmlc/decord#336: it allocates the batch at the stored
    size), so those are read with PyAV; a batch decord fails on (a damaged packet) is read again
    with PyAV, which skips the damage. Both cases are reported in ``warnings``.
    """

    backend = "decord"

    @staticmethod
    def _require(path) -> None:
        _import_decord()

    def _index(self, info: VideoInfo, *, threads: int, timeout_s: float, max_pixels: int | None) -> str | None:
        if info.rotation:
            return f"decord cannot decode rotated video (rotation {info.rotation}); read with PyAV"
        if self._pyav.header_ignored:  # decord sizes its index by the header: 10^12 s aborts the process
            return "decord trusts the header, which cannot be true; read with PyAV"
        if info.times_assumed:  # decord measures a file by its container, which a raw stream has none of
            return "decord cannot index a raw stream (no container); read with PyAV"
        if reorder_depth(info.container, info.has_b_frames):  # decord 0.6 has no stamps for them, and seeks wrong
            return f"decord cannot time or seek B-frames in {info.container.upper()}; read with PyAV"
        if self._pyav.stamps_jump_back():  # decord orders frames by stamp, which mixes the recordings up
            return "decord cannot follow timestamps that jump back (concatenated recordings?); read with PyAV"
        decord = _import_decord()
        try:
            height, width = self._pyav.output_size()  # not rotated: decord scales the stored frames
            size = {"width": width, "height": height} if self.short_side is not None else {}
            self._decoder = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=threads, **size)
            self._pts = self._exact_times(self._decoder.get_frame_timestamp(np.arange(len(self._decoder)))[:, 0])
        except decord.DECORDError as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise VideoDecodeError(self.path, f"decord cannot read it ({reason})") from None
        if len(self._decoder) == 0:
            raise VideoDecodeError(self.path, "decord found no frames")
        return None

    def _exact_times(self, seconds_f32: np.ndarray) -> np.ndarray:
        """decord reports times as float32 (8.2 s comes back as 8.19999981); snap them to the
        stream's time base in float64 (exact while the float32 error stays under half a tick).

        Stamps that lie are repaired as the PyAV reader repairs them (:mod:`vidkit.io._timing`), with
        the same warnings. Where decord has no usable stamps (AVI with B-frames: it reports FFmpeg's
        "no timestamp" value) or its table cannot be repaired alone, the times come from one PyAV
        pass over the file (decoding, no RGB conversion), frame for frame, when it counts as many."""
        tb = self._pyav.time_base
        ticks = np.round(seconds_f32.astype(np.float64) * tb.denominator / tb.numerator)
        seconds = ticks * tb.numerator / tb.denominator
        pyav = self._pyav
        depth = reorder_depth(pyav.info.container, pyav.info.has_b_frames)
        if depth == 0 and bool(np.all(np.diff(seconds) > 0)) and (len(seconds) == 0 or seconds[0] >= -1e-6):
            return seconds  # well stamped: as decord says
        if len(seconds) and np.isfinite(seconds).all() and seconds.min() >= -1e-6 and not pyav.info.is_vfr:
            interval = 1 / pyav.info.fps if pyav.info.fps else 0.04
            repaired, said = sorted_stamps(seconds, depth, interval)
            if said == [REORDER_WARNING] or (not said and bool(np.all(np.diff(repaired) > 0))):
                self.warnings += said
                return repaired
        start = len(pyav.warnings)
        times = np.asarray([t for _, t in pyav.av_frames()], dtype=np.float64)
        if len(times) != len(seconds):
            raise VideoDecodeError(
                self.path, f"decord cannot time its frames (it indexes {len(seconds)}, PyAV decodes {len(times)})"
            )
        self.warnings += pyav.warnings[start:]
        return times

    def _fetch(self, indices: np.ndarray, *, span: bool) -> torch.Tensor:
        return torch.from_numpy(self._decoder.get_batch(indices.tolist()).asnumpy())

    def _fetch_failed(self, indices: np.ndarray, span: bool, error: Exception) -> str:
        message = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        return f"decord failed on frames {indices[0]}..{indices[-1]} ({message}); read them with PyAV"
