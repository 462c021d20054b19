"""Multi-view testing data: every view of a video from one decode.

PySlowFast's test loader decodes a video once per view — 30 times for 10 clips × 3 crops. Here a
data-loader item is a whole video: :class:`~vidkit.data.samplers.MultiViewSampler` plans all the
views, the reader decodes the times of all the distinct temporal clips in one forward pass (and
scales the frames to the test scale as it converts them to RGB), and the item carries those clips
plus the crop box of each view. The crops are cut on the model's device, where they are views of
the clips, not copies.

``per_view=True`` reads the same views the PySlowFast way, reopening and decoding the video for each
view; it exists as the reference the benchmark (``tools/bench_eval_decode.py``) and the tests
compare against.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from vidkit.data.samplers import ClipPlan, MultiViewSampler
from vidkit.data.transforms import crop_box
from vidkit.errors import VideoDecodeError

__all__ = ["VIEW_PRESETS", "ViewSpec", "VideoViews", "crop_views", "parse_views", "read_views"]


# Named view protocols: (temporal clips, spatial crops).
VIEW_PRESETS = {
    "kinetics": (10, 3),  # PySlowFast / pytorchvideo / mmaction2 Kinetics test: 10 uniform clips x 3 crops
    "ssv2": (2, 3),  # TSM / mmaction2 Something-Something-v2 test: 2 clips x 3 crops
    "ssv2-1clip": (1, 3),  # PySlowFast's SSv2 test: 1 clip x 3 crops
    "single": (1, 1),  # one centred clip, centre crop: what `vidkit train` validates with
}


def parse_views(views: str) -> tuple[int, int]:
    """``"10x3"`` or a preset name (:data:`VIEW_PRESETS`) as ``(temporal clips, spatial crops)``; a
    :class:`~vidkit.errors.ConfigError` otherwise."""
    import re

    from vidkit.errors import ConfigError

    if views in VIEW_PRESETS:
        return VIEW_PRESETS[views]
    match = re.fullmatch(r"(\d+)x(\d+)", views)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise ConfigError(
            f"--views {views}: expected NxM (temporal clips x crops, e.g. 10x3) or one of {', '.join(VIEW_PRESETS)}"
        )
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class ViewSpec:
    """How test views are cut: ``num_clips`` uniform temporal clips of ``num_frames`` frames
    ``interval_s`` apart, × ``num_crops`` square crops of ``crop_size`` from frames whose short side
    is scaled to ``test_scale``. With ``segments``, the one temporal clip is ``num_frames`` frames
    spread over the whole video instead, the centres of as many TSN segments — or snippets of
    ``snippet`` frames ``interval_s`` apart around them."""

    num_clips: int
    num_crops: int
    num_frames: int
    interval_s: float
    crop_size: int
    test_scale: int
    segments: bool = False
    snippet: int = 1

    def __post_init__(self) -> None:
        if self.test_scale < self.crop_size:
            raise ValueError(
                f"test_scale {self.test_scale} is smaller than crop_size {self.crop_size}: the crops would not fit"
            )
        if self.segments and self.num_clips != 1:
            raise ValueError(
                f"{self.num_clips} temporal clips: a model that sees frames from the whole video "
                "(segment sampling) takes one, e.g. --views 1x3"
            )

    @property
    def num_views(self) -> int:
        return self.num_clips * self.num_crops

    def sampler(self) -> MultiViewSampler:
        from vidkit.data.samplers import SegmentSampler, UniformClipSampler

        if self.segments:
            return MultiViewSampler(
                temporal=SegmentSampler(
                    num_segments=self.num_frames, mode="test", snippet=self.snippet, interval_s=self.interval_s
                ),
                num_crops=self.num_crops,
            )
        return MultiViewSampler(
            temporal=UniformClipSampler(
                num_clips=self.num_clips, num_frames=self.num_frames, interval_s=self.interval_s
            ),
            num_crops=self.num_crops,
        )


class VideoViews(Dataset):
    """One item per video, with all its test views::

        {"index", "label", "clips": uint8 [C, T, H, W, 3] (the distinct temporal clips, scaled),
         "clip_of_view": long [V], "boxes": long [V, 2] (top, left of each view's crop in its clip),
         "timestamps": float64 [V, T] (planned), "pts": float64 [V, T] (decoded), "padded": bool [V],
         "info": VideoInfo, "warnings": [...]}

    or ``{"index", "label", "error"}`` when the video is missing or cannot be decoded (``info`` too
    when it opened). Views are clip-major: view ``v`` is clip ``v // num_crops``, crop ``v % num_crops``.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str | os.PathLike | None, int]],
        spec: ViewSpec,
        *,
        backend: str = "pyav",
        timeout_s: float = 60.0,
        per_view: bool = False,
    ):
        self.samples = [(None if p is None else os.fspath(p), int(label)) for p, label in samples]
        self.spec = spec
        self.sampler = spec.sampler()
        self.backend = backend
        self.timeout_s = timeout_s
        self.per_view = per_view

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        path, label = self.samples[index]
        item: dict = {"index": index, "label": label}
        if path is None:
            return {**item, "error": "missing: not found on disk"}
        if not os.path.exists(path):
            return {**item, "error": "missing: " + ("a dangling link" if os.path.islink(path) else "no such file")}
        try:
            info, views = self._read(path)
        except VideoDecodeError as e:
            return {**item, "error": e.reason}
        except ValueError as e:  # a container without timing the samplers can use
            return {**item, "error": str(e)}
        return {**item, **views, "info": info}

    def _read(self, path: str) -> tuple[object, dict]:
        from vidkit.io import open_video

        def opened():
            return open_video(path, backend=self.backend, timeout_s=self.timeout_s, short_side=self.spec.test_scale)

        with opened() as video:
            info = video.info
            plans = self.sampler(info)
            if not self.per_view:
                return info, read_views(video, [plans], self.spec.crop_size)[0]
        views = []
        for plan in plans:  # PySlowFast's way: open and decode the video again for every view
            with opened() as video:
                views += read_views(video, [[plan]], self.spec.crop_size)
        merged = {key: torch.cat([v[key] for v in views]) for key in ("clips", "boxes", "timestamps", "pts", "padded")}
        return info, {
            **merged,
            "clip_of_view": torch.arange(len(views)),
            "warnings": sorted({w for v in views for w in v["warnings"]}),
        }


def read_views(video, groups: Sequence[Sequence[ClipPlan]], crop_size: int) -> list[dict]:
    """Read the views of every group of plans (a video's test views; or a tagging window's) with one
    ``read_at`` over the groups' distinct clips, and describe each group as a :class:`VideoViews`
    item does: ``clips`` uint8 ``[C, T, H, W, 3]``, ``clip_of_view``, ``boxes``, ``timestamps``,
    ``pts``, ``padded``, ``warnings``. The crops of one clip share its frames; ``clips`` are views of
    the one decoded tensor (``clone()`` one to keep it alone)."""
    temporal = [list(dict.fromkeys(plan.timestamps for plan in plans)) for plans in groups]
    frames = video.read_at([t for clips in temporal for times in clips for t in times])
    num_frames = len(groups[0][0].timestamps)
    height, width = frames.data.shape[1:3]
    data = frames.data.view(-1, num_frames, height, width, 3)
    pts = frames.pts.view(-1, num_frames)
    out, first = [], 0
    for plans, clips in zip(groups, temporal):
        where = {times: first + i for i, times in enumerate(clips)}
        index = [where[plan.timestamps] for plan in plans]
        out.append(
            {
                "clips": data[first : first + len(clips)],
                "clip_of_view": torch.tensor(index) - first,
                "boxes": torch.tensor(
                    [crop_box(height, width, crop_size, p.crop_index, p.num_crops) for p in plans], dtype=torch.long
                ),
                "timestamps": torch.tensor([p.timestamps for p in plans], dtype=torch.float64),
                "pts": pts[index],
                "padded": torch.tensor([p.padded for p in plans]),
                "warnings": list(frames.warnings),
            }
        )
        first += len(clips)
    return out


def crop_views(clips: torch.Tensor, clip_of_view: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Cut every view of one video: ``clips`` uint8 ``[C, T, H, W, 3]`` (on any device) → ``[V, T, size, size, 3]``."""
    views = [
        clips[c, :, top : top + size, left : left + size]
        for c, (top, left) in zip(clip_of_view.tolist(), boxes.tolist())
    ]
    return torch.stack(views)
