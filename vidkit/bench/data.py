"""Data-loading throughput: clips/s from video files to device-ready batches (decoded in data-loader
workers, then converted, scaled, cropped and normalised batched on the device), with 0..N workers.

The clips are the default training run's (16 frames 0.12 s apart, random clips, 32² crops from a
short side of 32-40) on a small synthetic-motion set generated once into the cache; the figure is
what the training loop could be fed at most, to hold against a model's train clips/s.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch


@dataclass
class DataRow:
    workers: int
    batch: int
    clips: int
    clips_per_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def data_rows(
    workers=(0, 1, 2),
    *,
    batch: int = 16,
    videos_per_class: int = 16,
    device: torch.device | str = "cpu",
    num_frames: int = 16,
    interval_s: float = 0.12,
) -> list[DataRow]:
    """One pass over the set's training videos per worker count; the first batch (worker start-up) is
    left out of the timing."""
    from torch.utils.data import DataLoader

    from vidkit.data import RandomClipSampler
    from vidkit.data.datasets import ClipDataset, collate_clips
    from vidkit.data.synthetic import SyntheticSpec, synthetic_dataset
    from vidkit.data.transforms import ClipTransform

    device = torch.device(device)
    dataset = synthetic_dataset(
        SyntheticSpec(num_train_per_class=videos_per_class, num_val_per_class=0, size=(64, 64), background="dark"),
        progress=False,
    )
    clips = ClipDataset(dataset.samples("train"), RandomClipSampler(num_frames=num_frames, interval_s=interval_s))
    transform = ClipTransform(crop_size=32, train_scale=(32, 40), test_scale=32)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for count in workers:
        # forkserver: workers forked from a process that has encoded video with PyAV can hang
        loader = DataLoader(
            clips,
            batch_size=batch,
            num_workers=count,
            collate_fn=collate_clips,
            shuffle=False,
            pin_memory=device.type == "cuda",
            prefetch_factor=4 if count else None,
            multiprocessing_context="forkserver" if count else None,
        )
        seen, started = 0, None
        for batch_items in loader:
            x = transform(batch_items["frames"].to(device, non_blocking=True), train=True, generator=generator)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if started is None:
                started = time.perf_counter()
                continue
            seen += x.shape[0]
        seconds = time.perf_counter() - started if started is not None else 0.0
        rows.append(DataRow(count, batch, seen, round(seen / seconds, 2) if seconds > 0 else 0.0))
    return rows
