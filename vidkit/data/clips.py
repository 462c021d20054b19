"""Read planned clips from a video: every view's frames from one decode.

PySlowFast decodes a test video once per view — 30 times for 10 clips × 3 crops. Here the
samplers only plan times (:mod:`vidkit.data.samplers`), so :func:`read_clips` can ask the reader
for the union of all plans' times in one ``read_at`` call, which decodes forward once from the
keyframe before the earliest time to the latest, and then hand each plan its frames.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from vidkit.data.samplers import ClipPlan, ClipSampler
from vidkit.errors import VideoDecodeError

if TYPE_CHECKING:
    from vidkit.io.reader import VideoReader

__all__ = ["Clip", "read_clips", "sample_clips"]


@dataclass
class Clip:
    """The frames of one planned view.

    ``frames`` is uint8 ``[T, H, W, 3]`` (RGB), ``pts`` float64 ``[T]``: the timestamps of the frames
    the decoder returned, which are the nearest to ``plan.timestamps`` (compare them to see how far
    off a sparse or variable-frame-rate file was). The crops of one temporal clip share one
    ``frames`` tensor — treat it as read-only, or ``clone()`` it before writing in place.
    ``warnings`` are the decoder's warnings from the read that produced the clip (one read serves
    every clip of a video, so each clip carries all of them).
    """

    frames: torch.Tensor
    pts: torch.Tensor
    plan: ClipPlan
    warnings: list[str] = field(default_factory=list)


def read_clips(reader: VideoReader, plans: Sequence[ClipPlan]) -> list[Clip]:
    """Read every plan's frames with one ``reader.read_at`` call, in the order of ``plans``.

    The reader is asked for each distinct time once, in increasing order. A clip whose times are
    evenly spaced in that order (an unpadded clip on its own, the common training case) is a view
    of the decoded frames, not a copy; any other is gathered once. Either way, plans with the same
    timestamps (the crops of one temporal clip) share one tensor.
    """
    if not plans:
        return []
    times = sorted({t for plan in plans for t in plan.timestamps})
    position = {t: i for i, t in enumerate(times)}
    decoded = reader.read_at(times)
    if len(decoded) != len(times):
        raise VideoDecodeError(
            getattr(reader, "path", "<reader>"),
            f"read_at returned {len(decoded)} frames for {len(times)} requested times (a reader bug)",
        )
    shared: dict[tuple[float, ...], tuple[torch.Tensor, torch.Tensor]] = {}
    clips = []
    for plan in plans:
        if plan.timestamps not in shared:
            index = _as_slice([position[t] for t in plan.timestamps])
            shared[plan.timestamps] = decoded.data[index], decoded.pts[index]
        frames, pts = shared[plan.timestamps]
        clips.append(Clip(frames=frames, pts=pts, plan=plan, warnings=list(decoded.warnings)))
    return clips


def sample_clips(
    path_or_reader: str | os.PathLike | VideoReader,
    sampler: ClipSampler,
    *,
    rng: random.Random | None = None,
    backend: str = "pyav",
) -> list[Clip]:
    """Plan clips with ``sampler`` and read them: ``sample_clips("a.mp4", sampler, rng=random.Random(0))``.

    A path is opened with ``vidkit.io.open_video(path, backend=backend)`` and closed afterwards;
    anything else is taken for an open reader (``info`` and ``read_at``), used as is and left open.
    """
    if not isinstance(path_or_reader, (str, os.PathLike)):
        return read_clips(path_or_reader, sampler(path_or_reader.info, rng=rng))
    # Imported on use: importing vidkit.io loads the decoding backends, which planning and
    # read_clips on an open reader never need.
    from vidkit.io import open_video

    with open_video(path_or_reader, backend=backend) as reader:
        return read_clips(reader, sampler(reader.info, rng=rng))


def _as_slice(index: list[int]) -> slice | torch.Tensor:
    """``index`` as a slice when it is an increasing arithmetic progression (a view, no copy), else a tensor."""
    if len(index) == 1:
        return slice(index[0], index[0] + 1)
    step = index[1] - index[0]
    if step >= 1 and all(b - a == step for a, b in zip(index, index[1:])):
        return slice(index[0], index[-1] + 1, step)
    return torch.tensor(index, dtype=torch.long)
