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

__all__ = [
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
