"""Finding videos by content instead of by name (``--sniff``): a file is a video when FFmpeg opens it
and finds a video stream that is not a still image, whatever its extension.

>>> videos, skipped = sniff_videos(["cam/0001", "cam/0002.dat", "cam/cover.mp4", "cam/notes.txt"])
>>> videos
['cam/0001', 'cam/0002.dat']
>>> skipped
[('cam/cover.mp4', 'a still image (png_pipe)'), ('cam/notes.txt', 'not a media file (FFmpeg: Invalid data ...)')]

Each file is opened in a worker process of :func:`vidkit.utils.isolated_map`, as a dataset scan decodes
them: a demuxer that crashes on a damaged file costs that file, and one that hangs is killed after
``timeout_s``. Only the headers are read (a GIF's first two packets at most), never the frames.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from vidkit.errors import VideoDecodeError
from vidkit.io._checks import check_path, open_container
from vidkit.io._probing import is_picture_format
from vidkit.utils import default_workers, isolated_map


def sniff_videos(
    paths: Sequence[str | os.PathLike],
    *,
    workers: int = 0,
    timeout_s: float = 30.0,
    progress: Callable[[], None] | None = None,
) -> tuple[list[str], list[tuple[str, str]]]:
    """``(videos, skipped)``: the ``paths`` that are videos, in the given order, and ``(path, reason)``
    for each of the others, in the given order, the reason in one line:

    - ``"no video stream (audio only)"`` (or ``"(has subtitle)"``, ``"(audio with a cover picture)"``, ...);
    - ``"not a media file (FFmpeg: Invalid data found when processing input)"``;
    - ``"a still image (png_pipe)"``: opened by an image demuxer, or a GIF of one frame;
    - ``"the probe crashed (killed by SIGSEGV)"``, ``"timed out after 30 s"``;
    - what is wrong with a path that is not a non-empty regular file (``"empty file (0 bytes)"``,
      ``"dangling symbolic link (...)"``, ``"not a regular file (pipe, socket or device)"``): such a
      path is not handed to FFmpeg at all.

    Each file is probed by :func:`sniff_file` in one of ``workers`` processes (0: one per CPU, up to 8),
    isolated from the others; ``timeout_s`` bounds each probe. ``progress()`` is called once per
    file probed.
    """
    paths = [os.fspath(p) for p in paths]
    reasons: dict[int, str | None] = {}
    todo = []
    for i, path in enumerate(paths):
        try:
            check_path(path)  # a pipe would block FFmpeg, a dangling link has nothing to open
        except VideoDecodeError as e:
            reasons[i] = e.reason
        else:
            todo.append((i, path))

    def work(task, beat):
        # ``sniff_file`` is looked up in the (forked) worker, so a test may replace it.
        return sniff_file(task[1], timeout_s=timeout_s)

    if todo:
        workers = min(workers or default_workers(), len(todo))
        for (i, _), kind, value in isolated_map(work, todo, workers=workers, silence_s=timeout_s, what="probe"):
            if kind == "done":
                reasons[i] = value
            elif kind == "failed" and value.reason.startswith("the probe hung"):
                reasons[i] = _timed_out(timeout_s)
            elif kind == "failed":  # "the probe crashed (killed by SIGSEGV)"
                reasons[i] = value.reason
            else:  # "error": sniff_file raised what it does not expect
                reasons[i] = f"the probe failed ({value})"
            if progress is not None:
                progress()
    videos = [path for i, path in enumerate(paths) if reasons[i] is None]
    skipped = [(path, reasons[i]) for i, path in enumerate(paths) if reasons[i] is not None]
    return videos, skipped


def sniff_file(path: str, *, timeout_s: float = 30.0) -> str | None:
    """None when ``path`` is a video (FFmpeg finds a video stream in it that is not a still image);
    otherwise why not, in one line (the reasons of :func:`sniff_videos`). Runs in this process:
    :func:`sniff_videos` runs it isolated."""
    import av

    try:
        check_path(path)
        container = open_container(path, timeout_s=timeout_s)
    except VideoDecodeError as e:  # not a regular file; frames over the pixel limit
        return e.reason
    except av.error.ExitError:  # FFmpeg's interrupt callback: no data within timeout_s
        return _timed_out(timeout_s)
    except av.error.FFmpegError as e:
        return f"not a media file (FFmpeg: {e.strerror or e})"
    except OSError as e:
        return f"cannot open file ({e.strerror or e})"
    try:
        moving = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not moving:
            kinds = sorted({s.type for s in container.streams})
            if container.streams.video:  # only the cover art of an audio file
                detail = "audio with a cover picture" if "audio" in kinds else "a cover picture only"
            else:
                detail = (
                    "audio only" if kinds == ["audio"] else ("no streams" if not kinds else "has " + ", ".join(kinds))
                )
            return f"no video stream ({detail})"
        fmt = container.format.name.split(",")[0]
        if is_picture_format(fmt, lambda: _gif_frames(container, moving[0])):  # vidkit.io.is_still_image's test
            return f"a still image ({fmt})"
        return None
    except av.error.ExitError:
        return _timed_out(timeout_s)
    finally:
        container.close()


def _gif_frames(container, stream) -> int:
    """A GIF's frame count, from its header or, where the header has none, by demuxing two packets at
    most (decoding none): enough to tell a picture from an animation."""
    import av

    if stream.frames:
        return stream.frames
    try:
        return sum(1 for _, packet in zip(range(2), container.demux(stream)) if packet.size)
    except av.error.ExitError:
        raise
    except av.error.FFmpegError:  # damaged after its first frame: what was read counts
        return 0


def _timed_out(timeout_s: float) -> str:
    return f"timed out after {timeout_s:g} s"


__all__ = ["sniff_file", "sniff_videos"]
