"""The reader interface every decoding backend implements."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence

from vidkit.io._types import Frames, VideoInfo, short_side_size
from vidkit.io.limits import limit


class VideoReader(abc.ABC):
    """An open video. Use as a context manager::

        with vidkit.io.open_video("clip.mp4") as video:
            print(video.info.duration_s)
            for chunk in video.stream(chunk_size=32):   # Frames: uint8 [T, H, W, 3] + pts in seconds
                ...
            frames = video.read_at([0.5, 1.0, 1.5])     # the frames nearest to these times

    Times are seconds from the start of the video (the first frame is at ``info.start_s``, usually 0).
    """

    path: str
    info: VideoInfo
    apply_rotation: bool = True
    short_side: int | None = None
    #: Frames the decoder has produced since the file was opened, those decoded only to reach a requested
    #: one included (what a read really cost); None where the backend cannot tell.
    frames_decoded: int | None = None
    #: Time of the stream's last frame, once known (a read has reached the end); None until then. A header
    #: may promise more: jobs stop planning reads past it.
    end_s: float | None = None

    def output_size(self) -> tuple[int, int]:
        """``(height, width)`` of the frames this reader returns (upright or as stored, scaled or not)."""
        i = self.info
        height, width = i.display_size if self.apply_rotation else (i.height, i.width)
        if self.short_side is None:
            return height, width
        return short_side_size(height, width, self.short_side)

    def frames_per_chunk(self, chunk_size: int) -> int:
        """``chunk_size``, or fewer when that many of this reader's RGB frames would pass the chunk limit
        (``VIDKIT_MAX_CHUNK_BYTES``, 256 MiB by default: 43 frames of 1920x1080, 2 of 7680x4320)."""
        height, width = self.output_size()
        return max(1, min(chunk_size, limit("VIDKIT_MAX_CHUNK_BYTES") // max(1, height * width * 3)))

    @abc.abstractmethod
    def stream(
        self, chunk_size: int = 32, *, start_s: float | None = None, end_s: float | None = None
    ) -> Iterator[Frames]:
        """Yield the frames in presentation order, ``chunk_size`` at a time (fewer where that many would pass
        :meth:`frames_per_chunk`'s limit), never the whole video at once.

        ``start_s``/``end_s`` bound the frames yielded (inclusive start, exclusive end); the reader
        seeks to the keyframe before ``start_s``.
        """

    @abc.abstractmethod
    def read_at(self, timestamps: Sequence[float]) -> Frames:
        """Return, for each requested time (any order, repeats allowed), the frame whose timestamp
        is nearest to it; ``pts`` holds the timestamps of the frames returned.

        Decodes from the keyframe before the earliest time forward, only as far as the latest one (or,
        where a backend can, from where its previous read stopped, when no keyframe lies in between).
        Times past the last frame get the last frame, with a warning in ``Frames.warnings``.
        """

    def close(self) -> None:  # noqa: B027 - backends without resources need nothing
        """Release the file."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        i = self.info
        return (
            f"{type(self).__name__}({self.path!r}, {i.codec} {i.width}x{i.height}, "
            f"{i.fps:.3g} fps, {i.duration_s:.2f} s)"
        )
