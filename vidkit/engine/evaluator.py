"""Multi-view inference: per-view logits for every video of a :class:`~vidkit.data.views.VideoViews` set.

Each loader item is one video with all its views (decoded once, in a worker); on the model's device
the views are cut from the clips and normalised, views of several videos are packed into batches of
``batch_size`` clips, and each video's logits come back in input order — with the videos that could
not be read in their place, carrying their error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from vidkit.data.transforms import ClipTransform
from vidkit.data.views import VideoViews, crop_views
from vidkit.engine.loop import Precision

__all__ = ["VideoResult", "predict_views", "views_loader"]


@dataclass
class VideoResult:
    """One video's outcome: ``logits`` float32 ``[V, C]`` (on the CPU), or ``error``."""

    index: int
    label: int
    logits: torch.Tensor | None = None
    error: str | None = None
    info: object = None
    warnings: tuple[str, ...] = ()


def _one(items: list[dict]) -> dict:
    return items[0]


def views_loader(dataset: VideoViews, *, indices: Iterable[int] | None = None, workers: int = 0, pin_memory: bool = False,
                 prefetch: int = 2) -> DataLoader:
    """Videos one by one (all views each), decoded in ``workers`` processes, in ``indices`` order."""
    from torch.utils.data import Subset

    data = dataset if indices is None else Subset(dataset, list(indices))
    return DataLoader(data, batch_size=1, collate_fn=_one, num_workers=workers, pin_memory=pin_memory,
                      prefetch_factor=prefetch if workers else None, persistent_workers=False,
                      multiprocessing_context="fork" if workers and os.name == "posix" else None)


@torch.inference_mode()
def predict_views(model: nn.Module, items: Iterable[dict], *, transform: ClipTransform, crop_size: int,
                  device: torch.device, precision: Precision = Precision(), batch_size: int = 32) -> Iterator[VideoResult]:
    """Yield a :class:`VideoResult` per item, in order. Views of consecutive videos share batches of
    at most ``batch_size`` clips; a video's result is yielded once all its views have been through."""
    model.eval()
    pending: list[tuple[VideoResult, torch.Tensor | None]] = []  # in input order; None = nothing to run
    queued = 0

    def flush() -> Iterator[VideoResult]:
        nonlocal queued
        inputs = [x for _, x in pending if x is not None]
        if inputs:
            logits = _forward(model, torch.cat(inputs), precision=precision, device=device, batch_size=batch_size)
            offset = 0
            for result, x in pending:
                if x is not None:
                    result.logits = logits[offset: offset + len(x)]
                    offset += len(x)
        yield from (result for result, _ in pending)
        pending.clear()
        queued = 0

    for item in items:
        result = VideoResult(index=int(item["index"]), label=int(item["label"]), error=item.get("error"),
                             info=item.get("info"), warnings=tuple(item.get("warnings", ())))
        x = None
        if result.error is None:
            clips = item["clips"].to(device, non_blocking=True)
            x = transform.normalize(crop_views(clips, item["clip_of_view"], item["boxes"], crop_size))
            queued += len(x)
        pending.append((result, x))
        if queued >= batch_size:
            yield from flush()
    yield from flush()


def _forward(model: nn.Module, x: torch.Tensor, *, precision: Precision, device: torch.device, batch_size: int) -> torch.Tensor:
    out = []
    for chunk in x.split(batch_size):
        with precision.autocast(device):
            out.append(model(precision.prepare(chunk)).float())
    return torch.cat(out).cpu()
