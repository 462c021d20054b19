"""Clip samplers (which moments a model sees, in seconds), clip reading, the built-in data, and the
registry of every dataset name ``--data`` accepts."""

from vidkit.data.clips import Clip, read_clips, sample_clips
from vidkit.data.registry import DatasetInfo, dataset_info, dataset_names, register_dataset
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
    "DatasetInfo",
    "dataset_info",
    "dataset_names",
    "register_dataset",
]
