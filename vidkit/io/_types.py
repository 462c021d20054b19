"""Small records the readers return: what a video is, and frames with their timestamps."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch


def quarter_turns(frame) -> int:
    """How many quarter turns counter-clockwise a decoded PyAV frame's display matrix asks for (0-3)."""
    return round((getattr(frame, "rotation", 0) or 0) / 90) % 4


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """``(height, width)`` scaled so the shorter side is ``short_side``, the aspect ratio kept (the
    longer side rounded, and never below ``short_side``)."""
    scale = short_side / min(height, width)
    return max(short_side, round(height * scale)), max(short_side, round(width * scale))


@dataclass(frozen=True)
class VideoInfo:
    """What the decoder sees in a file, before decoding it all.

    ``width``/``height`` are the stored (coded) size; ``rotation`` is the display rotation in
    degrees counter-clockwise (0, 90, 180, 270) taken from the display matrix. Readers opened with
    ``apply_rotation=True`` (the default) return upright frames, of size ``display_size``.
    ``num_frames_exact`` is False when the count is estimated from duration × fps; ``num_frames_source``
    says where the count comes from: ``"index"`` (the container's frame count, matching its index),
    ``"packets"`` (demuxed and counted, :mod:`vidkit.io.packets`), ``"decoded"`` (every frame decoded,
    ``vidkit info --verify``) or ``"estimate"`` (duration × fps). ``times_assumed`` is True when the
    stream carries no timestamps (a raw elementary stream: ``.h264``, ``.hevc``, ``.m2v``...) and its
    frames' times come from a frame rate (FFmpeg's 25 fps, or the stream header's): ``warnings`` says which.
    """

    path: str
    backend: str
    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration_s: float
    num_frames: int
    num_frames_exact: bool
    is_vfr: bool
    rotation: int
    has_b_frames: bool
    num_frames_source: str = "estimate"
    pix_fmt: str | None = None
    bit_rate: int | None = None
    start_s: float = 0.0
    keyframe_interval_s: float | None = None
    times_assumed: bool = False
    warnings: tuple[str, ...] = field(default=())

    @property
    def display_size(self) -> tuple[int, int]:
        """(height, width) of frames once rotation is applied."""
        if self.rotation in (90, 270):
            return self.width, self.height
        return self.height, self.width

    def to_dict(self) -> dict:
        d = asdict(self)
        d["warnings"] = list(self.warnings)
        return d


@dataclass
class Frames:
    """Decoded frames and their presentation timestamps.

    ``data`` is uint8 ``[T, H, W, 3]`` (RGB); ``pts`` is float64 ``[T]`` in seconds, relative to
    the container's start. ``warnings`` says what went wrong while decoding them (damaged packets,
    the stream ending before a requested time), so a caller never gets a silently wrong answer.
    """

    data: torch.Tensor
    pts: torch.Tensor
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.data.shape[0])
