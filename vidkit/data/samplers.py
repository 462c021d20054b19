"""Clip samplers: which moments of a video a model sees, in seconds.

A sampler looks only at a video's timing (``start_s``, ``duration_s``, ``fps`` — a
:class:`~vidkit.io.VideoInfo` has them) and returns a list of :class:`ClipPlan`: the timestamps of
each output frame, which temporal and spatial view it is, and whether it had to be padded. It never
touches pixels; :func:`vidkit.data.clips.read_clips` asks the decoder for the frames *nearest* to the
planned times, all views in one pass. Planning in time rather than frame indices is what makes
variable-frame-rate files sample correctly: an index-based sampler assumes frame ``k`` is at
``k / fps``, which a phone video breaks.

Worked example — a 10 s, 30 fps video, SlowFast 8×8 training and 10×3-view testing::

    info = video.info                                     # start_s=0, duration_s=10, fps=30
    train = RandomClipSampler.from_sampling_rate(num_frames=8, sampling_rate=8)   # 8/30 s apart
    [plan] = train(info, rng=random.Random(0))            # 8 timestamps, 7 * 8/30 s ≈ 1.87 s span
    test = MultiViewSampler(temporal=UniformClipSampler.from_sampling_rate(
        num_clips=10, num_frames=8, sampling_rate=8), num_crops=3)
    plans = test(info)                                    # 30 plans: clip 0 × crops 0,1,2, clip 1 × ...

Conventions every sampler follows:

* Frames are at ``start_s + k / fps``; the last one at ``last_s = start_s + duration_s − 1/fps``
  (never before ``start_s``, so a one-frame video works whatever duration its container reports).
* Timestamps stay within ``[start_s, last_s]``. A clip longer than the video is still full length:
  times past ``last_s`` are clamped to it (the last frame repeats) and the plan has ``padded=True``.
* Random samplers take an explicit ``rng=random.Random(seed)``: the same seed gives the same plans,
  on any machine and in any data-loader worker. Deterministic samplers ignore ``rng``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import random
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "ClipPlan",
    "ClipSampler",
    "MultiViewSampler",
    "RandomClipSampler",
    "SegmentSampler",
    "UniformClipSampler",
    "VideoTiming",
]

# Float slack when deciding whether a clip fits: a clip that fits exactly must not be marked padded
# because start + i * interval rounded up by one ulp.
_EPS_S = 1e-6


class VideoTiming(Protocol):
    """What a sampler needs to know about a video. :class:`vidkit.io.VideoInfo` is one."""

    @property
    def start_s(self) -> float: ...

    @property
    def duration_s(self) -> float: ...

    @property
    def fps(self) -> float: ...


@dataclass(frozen=True)
class ClipPlan:
    """One view of a video, before decoding: which times to read, and which crop to take later.

    ``timestamps`` has one entry per output frame (seconds, like ``Frames.pts``). ``start_s``/``end_s``
    are the stretch of video the clip covers, half-open: from its first frame's time to one frame
    interval past its last, cut at the video's end. ``clip_index``/``num_clips`` say which temporal
    view this is; ``crop_index``/``num_crops`` which spatial view (``None``: the sampler chose none,
    so the transforms decide, e.g. a random crop in training). Crops are cut later, batched on the
    GPU — the plan only names them. ``padded`` says the video was shorter than the clip, so the
    trailing timestamps were clamped to the last frame and that frame repeats.
    """

    timestamps: tuple[float, ...]
    start_s: float
    end_s: float
    clip_index: int = 0
    num_clips: int = 1
    crop_index: int | None = None
    num_crops: int = 1
    padded: bool = False

    def __post_init__(self) -> None:
        if not self.timestamps:
            raise ValueError("ClipPlan needs at least one timestamp")
        if not 0 <= self.clip_index < self.num_clips:
            raise ValueError(f"clip_index={self.clip_index} is outside 0..num_clips-1 (num_clips={self.num_clips})")
        if self.crop_index is not None and not 0 <= self.crop_index < self.num_crops:
            raise ValueError(f"crop_index={self.crop_index} is outside 0..num_crops-1 (num_crops={self.num_crops})")

    @property
    def num_frames(self) -> int:
        return len(self.timestamps)


class ClipSampler(Protocol):
    """Anything that plans clips from a video's timing: ``sampler(info, rng=...) -> list[ClipPlan]``."""

    def __call__(self, video: VideoTiming, *, rng: random.Random | None = None) -> list[ClipPlan]: ...


@dataclass(frozen=True)
class _Span:
    """A video's timing, checked, in the terms the samplers use."""

    first_s: float  # the first frame's time
    last_s: float  # the last frame's time
    end_s: float  # the end of the last frame's display: first_s + duration, at least one frame past last_s
    frame_s: float  # one frame period, 1 / fps

    @classmethod
    def of(cls, video: VideoTiming) -> _Span:
        start, duration, fps = float(video.start_s), float(video.duration_s), float(video.fps)
        if not math.isfinite(start):
            raise ValueError(f"video start_s must be a finite number of seconds, got {video.start_s!r}")
        if not (math.isfinite(duration) and duration >= 0):
            raise ValueError(
                f"video duration_s must be finite and >= 0, got {video.duration_s!r} "
                "(the container did not say; probe the file with `vidkit info` or re-encode it)"
            )
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(
                f"video fps must be positive and finite, got {video.fps!r} "
                "(the container did not say; probe the file with `vidkit info` or re-encode it)"
            )
        frame_s = 1.0 / fps
        last = start + max(duration - frame_s, 0.0)
        return cls(first_s=start, last_s=last, end_s=max(start + duration, last + frame_s), frame_s=frame_s)

    def clip(self, start_s: float, *, num_frames: int, interval_s: float, **view) -> ClipPlan:
        """The plan for ``num_frames`` frames ``interval_s`` apart from ``start_s``, clamped to the last frame."""
        wanted = [start_s + i * interval_s for i in range(num_frames)]
        padded = wanted[-1] > self.last_s + _EPS_S
        times = tuple(min(max(t, self.first_s), self.last_s) for t in wanted)
        end = min(start_s + num_frames * interval_s, self.end_s)
        return ClipPlan(timestamps=times, start_s=times[0], end_s=end, padded=padded, **view)

    def slack_s(self, *, num_frames: int, interval_s: float) -> float:
        """How far a clip's first frame can move and its last still be a frame: PySlowFast's ``delta``."""
        return max(self.last_s - self.first_s - (num_frames - 1) * interval_s, 0.0)


def _is_positive(value: object, kind: type) -> bool:
    return not isinstance(value, bool) and isinstance(value, kind) and math.isfinite(value) and value > 0


def _check_count(name: str, value: int) -> None:
    if not _is_positive(value, numbers.Integral):
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_seconds(name: str, value: float) -> None:
    if not _is_positive(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def _interval_from_rate(sampling_rate: int, target_fps: float) -> float:
    _check_count("sampling_rate", sampling_rate)
    if not _is_positive(target_fps, numbers.Real):
        raise ValueError(f"target_fps must be a positive number of frames per second, got {target_fps!r}")
    return sampling_rate / target_fps


def _require_rng(sampler: object, rng: random.Random | None) -> random.Random:
    if rng is None:
        raise ValueError(
            f"{type(sampler).__name__} is random: pass rng=random.Random(seed) "
            "(one per data-loader worker, seeded from the epoch and worker id, for reproducible runs)"
        )
    if not isinstance(rng, random.Random):
        raise ValueError(f"rng must be a random.Random, got {type(rng).__name__}")
    return rng


@dataclass(frozen=True, kw_only=True)
class RandomClipSampler:
    """Training: one clip of ``num_frames`` frames, ``interval_s`` apart, at a uniformly random start.

    The first frame's time is uniform over ``[start_s, start_s + delta]`` with
    ``delta = max(last_s − start_s − (num_frames − 1) · interval_s, 0)``, so every clip lies within
    the video's frames and every frame can be chosen — the random jitter of PySlowFast's decoder
    (Feichtenhofer et al., SlowFast, ICCV 2019, §4), in seconds and with exact spacing.
    """

    num_frames: int
    interval_s: float

    def __post_init__(self) -> None:
        _check_count("num_frames", self.num_frames)
        _check_seconds("interval_s", self.interval_s)

    @classmethod
    def from_sampling_rate(cls, *, num_frames: int, sampling_rate: int, target_fps: float = 30.0) -> RandomClipSampler:
        """PySlowFast's terms: every ``sampling_rate``-th frame of the video resampled to ``target_fps``
        (``NUM_FRAMES``, ``SAMPLING_RATE``, ``TARGET_FPS``), i.e. ``interval_s = sampling_rate / target_fps``."""
        return cls(num_frames=num_frames, interval_s=_interval_from_rate(sampling_rate, target_fps))

    def __call__(self, video: VideoTiming, *, rng: random.Random | None = None) -> list[ClipPlan]:
        rng = _require_rng(self, rng)
        span = _Span.of(video)
        slack = span.slack_s(num_frames=self.num_frames, interval_s=self.interval_s)
        start = span.first_s + rng.uniform(0.0, slack)  # one draw per call, even when slack is 0
        return [span.clip(start, num_frames=self.num_frames, interval_s=self.interval_s)]


@dataclass(frozen=True, kw_only=True)
class UniformClipSampler:
    """Testing: ``num_clips`` clips spread evenly over the whole video; ``rng`` is ignored.

    Clip ``i`` starts at ``start_s + delta · i / (num_clips − 1)`` (``delta`` as in
    :class:`RandomClipSampler`), so the first clip starts on the first frame, the last ends on the
    last frame, and the set is symmetric about the middle; a single clip is centred. This is
    PySlowFast's offset rule (``DATA.USE_OFFSET_SAMPLING``), without its rounding to whole frames;
    its older rule, ``delta · i / num_clips``, never reaches the end of the video.
    """

    num_clips: int
    num_frames: int
    interval_s: float

    def __post_init__(self) -> None:
        _check_count("num_clips", self.num_clips)
        _check_count("num_frames", self.num_frames)
        _check_seconds("interval_s", self.interval_s)

    @classmethod
    def from_sampling_rate(
        cls, *, num_clips: int, num_frames: int, sampling_rate: int, target_fps: float = 30.0
    ) -> UniformClipSampler:
        """PySlowFast's terms (``NUM_ENSEMBLE_VIEWS``, ``NUM_FRAMES``, ``SAMPLING_RATE``, ``TARGET_FPS``)."""
        return cls(
            num_clips=num_clips, num_frames=num_frames, interval_s=_interval_from_rate(sampling_rate, target_fps)
        )

    def __call__(self, video: VideoTiming, *, rng: random.Random | None = None) -> list[ClipPlan]:
        span = _Span.of(video)
        slack = span.slack_s(num_frames=self.num_frames, interval_s=self.interval_s)
        n = self.num_clips
        fractions = [0.5] if n == 1 else [i / (n - 1) for i in range(n)]
        return [
            span.clip(
                span.first_s + slack * f,
                num_frames=self.num_frames,
                interval_s=self.interval_s,
                clip_index=i,
                num_clips=n,
            )
            for i, f in enumerate(fractions)
        ]


@dataclass(frozen=True, kw_only=True)
class SegmentSampler:
    """TSN sampling: split the video into ``num_segments`` equal segments and take one frame from each
    (Wang et al., Temporal Segment Networks, ECCV 2016, §3.2) — at a uniformly random time within
    the segment in ``"train"`` mode, at the segment's centre in ``"test"`` mode.

    The segments split the times the decoder maps to each frame: frame ``k`` is nearest to every
    time within half a frame period of its own, so the video covers ``[start_s − ½/fps,
    start_s + duration_s − ½/fps)``. Then a segment of an odd number of frames has its middle frame
    exactly at its centre (8 frames, 8 segments: frames 0…7, each once), and in training each
    frame of a segment is equally likely. Returned times are clamped to ``[start_s, last_s]``,
    which does not change the frame they select. A video with fewer frames than segments repeats
    frames; ``padded`` stays False, since the plan still covers the whole video.

    ``snippet`` > 1 takes that many frames ``interval_s`` apart around each segment's time instead of
    one (TSN's snippets; AdaFrame's "frames" may be such stacks), segment by segment in the plan.
    """

    num_segments: int
    mode: Literal["train", "test"]
    snippet: int = 1
    interval_s: float = 0.0

    def __post_init__(self) -> None:
        _check_count("num_segments", self.num_segments)
        _check_count("snippet", self.snippet)
        if self.snippet > 1:
            _check_seconds("interval_s", self.interval_s)
        if self.mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {self.mode!r}")

    def __call__(self, video: VideoTiming, *, rng: random.Random | None = None) -> list[ClipPlan]:
        span = _Span.of(video)
        if self.mode == "train":
            rng = _require_rng(self, rng)
        n = self.num_segments
        origin = span.first_s - span.frame_s / 2
        length = span.end_s - span.first_s
        seg = length / n
        if self.mode == "test":
            wanted = [origin + (k + 0.5) * seg for k in range(n)]
        else:
            wanted = [origin + (k + rng.random()) * seg for k in range(n)]
        offsets = [(j - (self.snippet - 1) / 2) * self.interval_s for j in range(self.snippet)]
        times = tuple(min(max(t + o, span.first_s), span.last_s) for t in wanted for o in offsets)
        return [ClipPlan(timestamps=times, start_s=span.first_s, end_s=span.end_s)]


@dataclass(frozen=True, kw_only=True)
class MultiViewSampler:
    """Multi-view testing: every clip of ``temporal`` × ``num_crops`` spatial crops.

    Returns ``len(temporal plans) × num_crops`` plans, clip-major (clip 0 crops 0…M−1, then clip 1, …),
    as PySlowFast orders its test views (``NUM_ENSEMBLE_VIEWS × NUM_SPATIAL_CROPS``, e.g. 10 × 3).
    The crops of one clip share its timestamps exactly, so
    :func:`~vidkit.data.clips.read_clips` decodes and stores their frames once. ``rng`` is passed on
    to ``temporal``.
    """

    temporal: ClipSampler
    num_crops: int = 3

    def __post_init__(self) -> None:
        if not callable(self.temporal):
            raise ValueError(f"temporal must be a clip sampler (e.g. UniformClipSampler(...)), got {self.temporal!r}")
        _check_count("num_crops", self.num_crops)

    def __call__(self, video: VideoTiming, *, rng: random.Random | None = None) -> list[ClipPlan]:
        return [
            dataclasses.replace(plan, crop_index=c, num_crops=self.num_crops)
            for plan in self.temporal(video, rng=rng)
            for c in range(self.num_crops)
        ]
