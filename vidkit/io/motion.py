"""Motion vectors from the bitstream, as dense fields: what the codec already computed, no optical flow.

FFmpeg exports each decoded frame's motion vectors when asked (``flags2=+export_mvs``); PyAV hands
them over as a structured array, one row per block: its size ``w × h``, its centre in this frame
(``dst_x, dst_y``), the offset ``motion_x / motion_scale`` (sub-pixel precision: ``motion_scale`` is
4 for quarter-pel H.264) and ``source`` (negative: a past reference, positive: a future one). This
module paints those blocks onto a grid of ``grid``-pixel cells, vectorised (no per-block Python
loop), in pixels as float32 — never wrapped into int8.

Convention: a vector is the codec's, ``src - dst`` — it points from a block of this frame to where
its content came from in the reference frame. (The content moved by minus the vector.)

FFmpeg exports vectors for H.264, MPEG-1/2/4 Part 2 and H.263; its HEVC, VP9 and AV1 decoders export
none, which :func:`motion_fields` says up front rather than returning empty fields.
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from vidkit.errors import VideoDecodeError
from vidkit.utils import cpu_count

# FFmpeg decoders that fill AV_FRAME_DATA_MOTION_VECTORS with flags2=+export_mvs.
EXPORTING_CODECS = frozenset(
    {"h264", "mpeg4", "mpeg2video", "mpeg1video", "h263", "h263p", "msmpeg4v2", "msmpeg4v3", "wmv1", "wmv2", "flv1"}
)

# The MPEG-family decoders among them (all but H.264's) can decode at 1/8 of the size (FFmpeg's
# "lowres" 3): motion compensation on an eighth of the pixels, the exported vectors the same to the
# bit (tested for each one PyAV encodes), so motion_fields, which never looks at the pictures, asks
# for it. H.264's decoder has no such mode.
_LOWRES_CODECS = EXPORTING_CODECS - {"h264"}

__all__ = [
    "EXPORTING_CODECS",
    "VECTOR_DTYPE",
    "DecodedFrame",
    "MotionFrame",
    "dense_field",
    "motion_fields",
    "decoded_with_vectors",
]

# PyAV's structured array of FFmpeg's AVMotionVector, one row per block: what :func:`dense_field`
# reads and :class:`DecodedFrame` carries (no rows for an I-frame). Build one with it to paint
# vectors from another source.
VECTOR_DTYPE = np.dtype(
    {
        "names": [
            "source",
            "w",
            "h",
            "src_x",
            "src_y",
            "dst_x",
            "dst_y",
            "flags",
            "motion_x",
            "motion_y",
            "motion_scale",
        ],
        "formats": ["<i4", "u1", "u1", "<i2", "<i2", "<i2", "<i2", "<u8", "<i4", "<i4", "<u2"],
    }
)

PICT_TYPES = {1: "I", 2: "P", 3: "B", 4: "S", 5: "SI", 6: "SP", 7: "BI"}


@dataclass
class MotionFrame:
    """One decoded frame's motion: ``past`` / ``future`` float32 ``[2, H/grid, W/grid]`` (x, y in
    pixels; zero where no block referenced that direction), with ``past_mask`` / ``future_mask`` bool
    ``[H/grid, W/grid]`` saying where a vector was given."""

    pts_s: float
    pict_type: str  # "I", "P", "B" (or "S", "SI", "SP", "BI" for the rarer kinds)
    gop: int  # which group of pictures: 0 up to the second key frame, then 1, ... (presentation order)
    past: np.ndarray
    future: np.ndarray
    past_mask: np.ndarray
    future_mask: np.ndarray


def dense_field(
    vectors: np.ndarray, height: int, width: int, *, grid: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(past, future, past_mask, future_mask)`` from PyAV's structured vector array, on a grid of
    ``ceil(height/grid) × ceil(width/grid)`` cells: every cell a block covers takes that block's
    vector (blocks are at least 4×4, so ``grid=4`` loses nothing; ``grid=16`` samples one value per
    macroblock, at its top-left 4x4 corner's block)."""
    gh, gw = -(-height // grid), -(-width // grid)
    if not len(vectors):
        return (
            np.zeros((2, gh, gw), np.float32),
            np.zeros((2, gh, gw), np.float32),
            np.zeros((gh, gw), bool),
            np.zeros((gh, gw), bool),
        )
    if (same := _uniform_blocks(vectors, gh, gw, grid)) is not None:
        return same
    # block edges as rows: left, top, right, bottom
    edges = np.empty((4, len(vectors)), np.int32)
    edges[2], edges[3] = vectors["w"], vectors["h"]
    edges[0], edges[1] = vectors["dst_x"], vectors["dst_y"]
    edges[:2] -= edges[2:] >> 1
    edges[2:] += edges[:2]
    # When every block edge falls on a multiple of u * grid pixels (H.264's and MPEG-4's blocks are
    # 8 or 16 pixels on an 8-pixel lattice), the cells come in u x u squares that one block covers
    # whole: paint those squares (u^2 times fewer cells) and repeat each u x u times, the same field.
    common = int(np.bitwise_or.reduce(edges, axis=None))
    step = common & -common  # the largest power of two dividing every edge (0 when all are 0)
    u = step // grid if step >= grid and step % grid == 0 else 1
    cell_px, rows_out, cols_out = u * grid, -(-gh // u), -(-gw // u)
    # cells whose top-left pixel lies inside each block: [c0, c1) in each axis
    cells = (edges + (cell_px - 1)) // cell_px
    np.minimum(np.maximum(cells, 0, out=cells), np.array([[cols_out], [rows_out]] * 2, np.int32), out=cells)
    cx0, cy0, cx1, cy1 = cells
    nx, ny = cx1 - cx0, cy1 - cy0  # >= 0: both ends are clipped to the same range
    scale = np.maximum(vectors["motion_scale"].astype(np.float32), 1.0)
    dx = vectors["motion_x"].astype(np.float32) / scale
    dy = vectors["motion_y"].astype(np.float32) / scale
    direction = vectors["source"] > 0  # False past, True future

    # every block as a window of cells the size of the largest block's, the cells past its own size
    # masked off: one broadcast, no per-block loop. Laid out [window cell, block] for speed, which
    # paints in a different order than block by block: the same field unless blocks of one direction
    # overlap (never in what FFmpeg exports), which the painted count tells, and then block order it is.
    my, mx = int(ny.max()), int(nx.max())
    window = np.arange(my * mx, dtype=np.int32)
    wr, wc = window // max(mx, 1), window % max(mx, 1)
    inside = (wr[:, None] < ny) & (wc[:, None] < nx)  # [my * mx, n]
    # fields are painted as [x/y, direction, H, W] (x of both directions first), masks as [direction, H, W]
    plane = rows_out * cols_out
    first = direction * plane + cy0 * cols_out + cx0  # each block's first cell in masks
    offsets = wr * cols_out + wc
    cell = (first + offsets[:, None])[inside]
    fields = np.zeros((2, 2, rows_out, cols_out), np.float32)
    masks = np.zeros((2, rows_out, cols_out), bool)
    _paint(fields, masks, cell, np.broadcast_to(dx, inside.shape)[inside], np.broadcast_to(dy, inside.shape)[inside])
    if np.count_nonzero(masks) != len(cell):  # overlapping blocks: the last one in the list wins
        cell = (first[:, None] + offsets)[inside.T]
        fields[:], masks[:] = 0, False
        _paint(
            fields,
            masks,
            cell,
            np.repeat(dx, np.count_nonzero(inside, axis=0)),
            np.repeat(dy, np.count_nonzero(inside, axis=0)),
        )
    return _per_direction(fields, masks, (not direction.all(), bool(direction.any())), u, gh, gw)


def _uniform_blocks(vectors: np.ndarray, gh: int, gw: int, grid: int):
    """:func:`dense_field` when every block is one ``b × b`` square on the ``b``-pixel lattice (``b`` a
    power of two and a multiple of ``grid``; MPEG-4 Part 2 without 4MV: all 16x16): each block is one
    cell of a grid ``b / grid`` times coarser, painted by one scatter and repeated. ``None`` otherwise."""
    n, b = len(vectors), int(vectors["w"][0])
    u = b // grid
    if u < 1 or b != u * grid or b & (b - 1) or not _all_square(vectors, b):
        return None
    x0, y0 = vectors["dst_x"] - (b >> 1), vectors["dst_y"] - (b >> 1)  # top-left corners
    if ((x0 | y0) & (b - 1)).any():
        return None
    shift = b.bit_length() - 1
    col, row = x0 >> shift, y0 >> shift
    rows_out, cols_out = -(-gh // u), -(-gw // u)
    if col.min() < 0 or row.min() < 0 or col.max() >= cols_out or row.max() >= rows_out:
        return None
    plane = rows_out * cols_out
    direction = vectors["source"] > 0
    cell = row.astype(np.int32) * cols_out + col
    cell += direction * plane
    fields = np.zeros((2, 2, rows_out, cols_out), np.float32)  # [x/y, direction, H, W]
    masks = np.zeros((2, rows_out, cols_out), bool)
    flat = fields.reshape(-1)
    flat[cell], flat[cell + 2 * plane] = vectors["motion_x"], vectors["motion_y"]
    scale = vectors["motion_scale"]
    if (scale == scale[0]).all():
        if scale[0] > 1:
            fields /= np.float32(scale[0])
    else:
        divisor = np.maximum(scale, 1).astype(np.float32)
        flat[cell] /= divisor
        flat[cell + 2 * plane] /= divisor
    masks.reshape(-1)[cell] = True
    if np.count_nonzero(masks) != n:  # overlapping blocks: the general path keeps their order
        return None
    future = int(np.count_nonzero(direction))
    return _per_direction(fields, masks, (future < n, future > 0), u, gh, gw)


def _all_square(vectors: np.ndarray, b: int) -> bool:
    """Whether every block is ``b × b``."""
    fields = vectors.dtype.fields
    if vectors.flags.c_contiguous and fields["w"][1] == 4 and fields["h"][1] == 5 and vectors.dtype.itemsize % 2 == 0:
        # PyAV's layout: w and h are the two bytes of the record's third 16-bit word, one compare tests both
        return bool((vectors.view(np.uint16).reshape(len(vectors), -1)[:, 2] == b * 257).all())
    return bool((vectors["w"] == b).all() and (vectors["h"] == b).all())


def _per_direction(fields: np.ndarray, masks: np.ndarray, used: tuple[bool, bool], u: int, gh: int, gw: int):
    """``(past, future, past_mask, future_mask)`` from ``fields [x/y, direction, h, w]`` and ``masks
    [direction, h, w]`` painted on cells ``u`` times ``grid``; a direction no block used (P-frames'
    future) is zeros."""
    out = []
    for d, in_use in enumerate(used):
        if not in_use:
            out.append((np.zeros((2, gh, gw), np.float32), np.zeros((gh, gw), bool)))
        elif u > 1:
            out.append((_repeat_cells(fields[:, d], u, gh, gw), _repeat_cells(masks[d], u, gh, gw)))
        else:
            out.append((np.ascontiguousarray(fields[:, d]), masks[d]))
    (past, past_mask), (future, future_mask) = out
    return past, future, past_mask, future_mask


def _paint(fields: np.ndarray, masks: np.ndarray, cell: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> None:
    """Set the cells at flat indices ``cell`` of ``masks [2, H, W]`` and their vectors in
    ``fields [2 (x, y), 2, H, W]``."""
    flat = fields.reshape(-1)
    flat[cell] = dx
    flat[cell + masks.size] = dy
    masks.reshape(-1)[cell] = True


def _repeat_cells(a: np.ndarray, u: int, height: int, width: int) -> np.ndarray:
    """``a [..., h, w]`` with every cell repeated ``u x u`` times, cut to ``[..., height, width]``: a new
    C-contiguous array, whatever the layout of ``a``."""
    a = np.ascontiguousarray(a)  # np.repeat is quickest from C order
    h, w = a.shape[-2:]
    # the last row and column of squares can hang over the edge: they repeat fewer times
    rows = u if h * u == height else np.append(np.full(h - 1, u), height - (h - 1) * u)
    cols = u if w * u == width else np.append(np.full(w - 1, u), width - (w - 1) * u)
    return np.repeat(np.repeat(a, cols, axis=-1), rows, axis=-2)


def motion_fields(
    path: str | os.PathLike, *, grid: int = 4, timeout_s: float = 60.0, damaged: list[str] | None = None
) -> Iterator[MotionFrame]:
    """Stream every frame's motion fields, in presentation order as the decoder outputs them.

    Raises :class:`VideoDecodeError` for a file that cannot be read and for a codec whose FFmpeg
    decoder exports no vectors (HEVC, VP9, AV1, ...). With a ``damaged`` list, packets the decoder
    refuses are skipped, as the readers skip them, and each is told there in a line."""
    # the pictures are never looked at
    for d in decoded_with_vectors(path, timeout_s=timeout_s, pictures=False, damaged=damaged):
        past, future, past_mask, future_mask = dense_field(d.vectors, d.height, d.width, grid=grid)
        yield MotionFrame(d.pts_s, d.pict_type, d.gop, past, future, past_mask, future_mask)


@dataclass
class DecodedFrame:
    """One decoded picture with what the codec stored about it: ``frame`` is PyAV's (convert it only
    when its pixels are wanted), ``vectors`` PyAV's structured block array (empty for I-frames)."""

    frame: object  # av.VideoFrame
    vectors: np.ndarray
    pts_s: float
    pict_type: str
    gop: int
    key: bool
    height: int
    width: int
    frame_threads: bool = False  # decoded with FFmpeg's frame threads (the stream declares no reordering)


def decoded_with_vectors(
    path: str | os.PathLike,
    *,
    timeout_s: float = 60.0,
    threads: int = 0,
    pictures: bool = True,
    damaged: list[str] | None = None,
) -> Iterator[DecodedFrame]:
    """Decode ``path`` with vector export on and stream each frame with its vectors, picture type
    and GOP index, in presentation order: the one decoding loop under :func:`motion_fields` and
    :mod:`vidkit.io.compressed`. Raises :class:`VideoDecodeError` as :func:`motion_fields` does.

    ``threads``: 0 chooses as below; 1 decodes in one thread; more asks for that many frame threads,
    with the same fallback to one thread at the first B-frame. Without ``pictures``, FFmpeg skips
    what only the pixels need (deblocking, the residuals' inverse transform; and MPEG-family decoders
    decode the pictures at 1/8 of their size), which no vector depends on: the frames then carry the
    same vectors, but not the picture.

    Threads. In a stream with B-frames FFmpeg decodes in one thread (slice threads at most), never
    frame threads: with those, a frame whose output waits for later ones (H.264's reference B-frames)
    has its vectors exported before its own decoding thread is done, incomplete or stale in its lower
    rows, differently from run to run; the decoding then runs a few frames ahead of the consumer in a
    thread of its own (FFmpeg decodes without holding the GIL), so that what is done with one frame
    overlaps decoding the next. A stream that declares no reordering (CoViAR's MPEG-4, H.264 without
    B-frames) has no such frame and is decoded with frame threads, with the same vectors as one
    thread's (tested, run after run); should B-frames turn up in it after all, decoding starts over in
    one thread, past the frames already given out.

    ``damaged``: None stops at the first packet the decoder refuses (:class:`VideoDecodeError`); a list
    has such packets skipped, as :meth:`vidkit.io.VideoReader.stream` skips them, with a line for each
    appended to it (a file none of whose packets decodes still raises)."""
    if threads < 0:
        raise ValueError(f"threads must be 0 (choose), 1 or more, not {threads}")
    with contextlib.closing(
        _decode_with_vectors(path, timeout_s=timeout_s, threads=threads, pictures=pictures, damaged=damaged)
    ) as frames:
        first = next(frames, None)  # opening the file, and its errors, in the caller's thread
        if first is not None:
            yield first
            # FFmpeg's frame threads already decode ahead; a thread of ours on top only adds GIL hand-offs
            yield from frames if first.frame_threads else _read_ahead(frames, depth=_READ_AHEAD)


# Frames decoded ahead of the consumer: enough to ride out uneven frames, few enough for 4K frames.
_READ_AHEAD = 4


def _decode_with_vectors(
    path: str | os.PathLike, *, timeout_s: float, threads: int, pictures: bool, damaged: list[str] | None = None
) -> Iterator[DecodedFrame]:
    """The decoding loop, with frame threads or one thread as :func:`decoded_with_vectors` says."""
    container, stream, codec = _open_with_vectors(path, timeout_s)
    threads = threads or _decoder_threads(stream)
    given = 0  # frames given out so far, skipped after a restart
    while True:
        with container:
            if codec not in EXPORTING_CODECS:
                raise VideoDecodeError(
                    path,
                    f"FFmpeg's {codec} decoder exports no motion vectors (it does for "
                    f"{', '.join(sorted(c for c in EXPORTING_CODECS if c in ('h264', 'mpeg4', 'mpeg2video')))}); "
                    "re-encode it to H.264 or MPEG-4 Part 2 first",
                )
            if threads > 1:
                stream.thread_type, stream.thread_count = "FRAME", threads
            else:
                stream.thread_type = "SLICE"  # see decoded_with_vectors: frame threads export wrong vectors
            options = {"flags2": "+export_mvs"}
            if not pictures:
                options |= {"skip_loop_filter": "all", "skip_idct": "all"}
                if codec in _LOWRES_CODECS:
                    options["lowres"] = "3"  # the frames' own size shrinks; the vectors keep the stream's
            stream.codec_context.options = {**stream.codec_context.options, **options}  # the pixel limit kept
            with contextlib.closing(
                _frames_with_vectors(
                    path, container, stream, timeout_s=timeout_s, threaded=threads > 1, damaged=damaged
                )
            ) as frames:
                for index, frame in enumerate(frames):
                    if frame is None:  # a B-frame in a stream that said it had none
                        break
                    if index >= given:
                        given += 1
                        yield frame
                else:
                    return
        threads = 1
        container, stream, codec = _open_with_vectors(path, timeout_s)


def _decoder_threads(stream) -> int:
    """Frame threads for a stream that declares no reordering, one thread otherwise."""
    return 1 if stream.codec_context.has_b_frames else min(cpu_count(), 16)


def _open_with_vectors(path: str | os.PathLike, timeout_s: float):
    """``(container, its first video stream, the codec's name)``; one open, no probe: what the reader
    would say about a file is asked of it only when this fails."""
    import av

    from vidkit.errors import DecodeTimeoutError
    from vidkit.io._checks import check_path, open_container

    container = None
    try:
        container = open_container(check_path(path), timeout_s=timeout_s)
        stream = container.streams.video[0]
        return container, stream, stream.codec_context.codec.canonical_name
    except av.error.ExitError:  # FFmpeg's interrupt callback: the timeout ran out while opening
        raise DecodeTimeoutError(path, f"timed out opening it (no data within {timeout_s:g} s)") from None
    except (av.error.FFmpegError, IndexError, AttributeError) as e:
        if container is not None:
            container.close()
        raise _reader_error(path, timeout_s) or VideoDecodeError(path, f"cannot be opened ({e})") from None


def _frames_with_vectors(
    path, container, stream, *, timeout_s: float, threaded: bool, damaged: list[str] | None = None
) -> Iterator[DecodedFrame | None]:
    """Every frame of an opened ``stream`` with its vectors; ``None`` (and the end) at a B-frame when
    ``threaded``. With a ``damaged`` list, packets the decoder refuses are skipped and told there."""
    import av

    try:
        # A container of side data of our own: PyAV's frame.side_data caches one that refers back to
        # the frame, a cycle that leaves every decoded picture to the garbage collector, tens of them
        # alive and out of FFmpeg's buffer pool at any time, which slows decoding down.
        from av.sidedata.sidedata import SideDataContainer as side_data
    except ImportError:  # pragma: no cover - a PyAV without it
        side_data = operator.attrgetter("side_data")

    height, width = stream.codec_context.height, stream.codec_context.width
    gop, pts_s = -1, float("nan")
    refused = None  # the first packet the decoder refused, when they are skipped
    try:
        for frame in _decoded(container, stream, damaged):
            if isinstance(frame, av.error.FFmpegError):
                refused = refused or frame
                last = "the start" if math.isnan(pts_s) else f"{pts_s:.3f} s"
                damaged.append(f"damaged packet after {last} skipped ({frame})")
                continue
            side = side_data(frame).get("MOTION_VECTORS")
            vectors = side.to_ndarray() if side is not None else np.zeros(0, dtype=VECTOR_DTYPE)
            pict = frame.pict_type
            name = PICT_TYPES.get(int(pict), str(pict)) if not isinstance(pict, str) else pict
            if threaded and name == "B":
                yield None
                return
            key = bool(frame.key_frame) or name == "I"
            gop += key or gop < 0
            pts_s = float(frame.time) if frame.time is not None else float("nan")
            yield DecodedFrame(
                frame,
                vectors,
                pts_s,
                name,
                gop,
                key,
                height,
                width,
                threaded,
            )
    except av.error.FFmpegError as e:
        if gop < 0:  # not one frame: the reader's probe tells what is wrong with the file
            raise _reader_error(path, timeout_s) or VideoDecodeError(path, f"decoding stopped: {e}") from None
        raise VideoDecodeError(path, f"decoding stopped: {e}") from None
    if gop < 0 and (error := _reader_error(path, timeout_s)) is not None:
        raise error
    if gop < 0 and refused is not None:
        raise VideoDecodeError(path, f"decoding stopped: {refused}")


def _decoded(container, stream, damaged: list[str] | None) -> Iterator:
    """``container.decode(stream)``; with a ``damaged`` list, a packet the decoder refuses comes out as
    its error, in place of its frames, and decoding goes on."""
    import av

    if damaged is None:
        yield from container.decode(stream)
        return
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.ExitError:
            raise
        except av.error.FFmpegError as e:
            yield e
            continue
        yield from frames


def _reader_error(path: str | os.PathLike, timeout_s: float) -> VideoDecodeError | None:
    """What :func:`vidkit.io.open_video` (its checks and probe) says is wrong with ``path``, if anything."""
    from vidkit.io import open_video

    try:
        with open_video(path, timeout_s=timeout_s):
            return None
    except VideoDecodeError as e:
        return e


def _read_ahead(items: Iterator, *, depth: int) -> Iterator:
    """``items``, advanced by a thread of their own up to ``depth`` items ahead of the consumer; an
    exception comes out where it happened in the sequence. Closing this generator stops the thread
    and closes ``items`` there."""
    ahead: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                ahead.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as e:  # handed to the consumer, raised there
            put((False, e))
        finally:
            items.close()

    thread = threading.Thread(target=produce, name="vidkit-decode-ahead", daemon=True)
    thread.start()
    try:
        while True:
            more, item = ahead.get()
            if more:
                yield item
            elif item is None:
                return
            else:
                raise item
    finally:
        stop.set()
        # A producer blocked on the full queue would notice only at its next 0.1 s poll: make room, so
        # a consumer that stops early (read_compressed_at, after its last frame) never waits for that.
        while True:
            try:
                ahead.get_nowait()
            except queue.Empty:
                break
        thread.join()
