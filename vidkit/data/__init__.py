"""Clip samplers (which moments a model sees, in seconds), clip reading, and the built-in data."""

from vidkit.data.clips import Clip, read_clips, sample_clips
from vidkit.data.samplers import (
    ClipPlan,
    ClipSampler,
    MultiViewSampler,
    RandomClipSampler,
    SegmentSampler,
    UniformClipSampler,
    VideoTiming,
)
from vidkit.data.synthetic import (
    CLASSES,
    REVERSAL_PAIRS,
    RenderedVideo,
    SyntheticDataset,
    SyntheticSpec,
    SyntheticVideo,
    render_video,
    synthetic_dataset,
)

__all__ = [
    "CLASSES",
    "REVERSAL_PAIRS",
    "RenderedVideo",
    "SyntheticDataset",
    "SyntheticSpec",
    "SyntheticVideo",
    "render_video",
    "synthetic_dataset",
    "Clip",
    "ClipPlan",
    "ClipSampler",
    "MultiViewSampler",
    "RandomClipSampler",
    "SegmentSampler",
    "UniformClipSampler",
    "VideoTiming",
    "read_clips",
    "sample_clips",
]
