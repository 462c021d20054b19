"""Multi-view inference: per-view logits for every video of a :class:`~vidkit.data.views.VideoViews` set.

Each item is one video with all its views (decoded once, in a worker process); on the model's device
the views are cut from the clips and normalised, views of several videos are packed into batches of
``batch_size`` clips, and each video's logits come back in the order the items came — with the videos
that could not be read in their place, carrying their error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn as nn

from vidkit.data.transforms import ClipTransform
from vidkit.data.views import VideoViews, crop_views
from vidkit.engine.loop import Precision

__all__ = ["VideoResult", "decoded_views", "forward_in_batches", "predict_views"]


@dataclass
class VideoResult:
    """One video's outcome: ``logits`` float32 ``[V, C]`` (on the CPU), or ``error``; ``frames``, for a
    model that chooses which frames to look at (AdaFrame), the mean over the views of the frames it did."""

    index: int
    label: int
    logits: torch.Tensor | None = None
    error: str | None = None
    info: object = None
    warnings: tuple[str, ...] = ()
    frames: float | None = None


def decoded_views(
    dataset: VideoViews, indices: Iterable[int], *, workers: int = 0, silence_s: float = 120.0
) -> Iterator[dict]:
    """The items of ``dataset`` at ``indices``, decoded in ``workers`` crash-isolated processes
    (:func:`vidkit.utils.isolated_map`), in the order they finish; with ``workers=0`` in this process,
    in order. A video whose decoder crashes or stalls for ``silence_s`` comes back as an error item,
    and the run goes on."""
    if workers == 0:
        yield from (dataset[i] for i in indices)
        return
    from vidkit.utils import failure_reason, isolated_map

    def work(index, beat):
        return dataset[index]

    for index, kind, value in isolated_map(work, list(indices), workers=workers, silence_s=silence_s, what="decoder"):
        if kind == "done":
            yield value
        elif kind in ("failed", "error"):
            yield {"index": index, "label": dataset.samples[index][1], "error": failure_reason(kind, value)}


@torch.inference_mode()
def predict_views(
    model: nn.Module,
    items: Iterable[dict],
    *,
    transform: ClipTransform,
    crop_size: int,
    device: torch.device,
    precision: Precision = Precision(),
    batch_size: int = 32,
) -> Iterator[VideoResult]:
    """Yield a :class:`VideoResult` per item, in order. Views of consecutive videos share batches of
    at most ``batch_size`` clips; a video's result is yielded once all its views have been through."""
    model.eval()
    pending: list[tuple[VideoResult, torch.Tensor | None]] = []  # in input order; None = nothing to run
    queued = 0

    def flush() -> Iterator[VideoResult]:
        nonlocal queued
        inputs = [x for _, x in pending if x is not None]
        if inputs:
            looked: list[torch.Tensor] = []
            logits = forward_in_batches(
                model, torch.cat(inputs), precision=precision, device=device, batch_size=batch_size, looked=looked
            )
            frames = torch.cat(looked) if looked else None
            offset = 0
            for result, x in pending:
                if x is not None:
                    result.logits = logits[offset : offset + len(x)]
                    if frames is not None:
                        result.frames = frames[offset : offset + len(x)].mean().item()
                    offset += len(x)
        yield from (result for result, _ in pending)
        pending.clear()
        queued = 0

    for item in items:
        result = VideoResult(
            index=int(item["index"]),
            label=int(item["label"]),
            error=item.get("error"),
            info=item.get("info"),
            warnings=tuple(item.get("warnings", ())),
        )
        x = None
        if result.error is None:
            clips = item["clips"].to(device, non_blocking=True)
            x = transform.normalize(crop_views(clips, item["clip_of_view"], item["boxes"], crop_size))
            queued += len(x)
        pending.append((result, x))
        if queued >= batch_size:
            yield from flush()
    yield from flush()


def forward_in_batches(
    model: nn.Module,
    x: torch.Tensor,
    *,
    precision: Precision,
    device: torch.device,
    batch_size: int,
    looked: list[torch.Tensor] | None = None,
    forward=None,
) -> torch.Tensor:
    """``model(x)`` as float32 logits on the CPU, ``batch_size`` clips at a time (eval and tag). A model
    that chooses which of a clip's frames to look at has an ``infer(x)`` giving ``logits`` and
    ``frames`` (per clip, how many it looked at: AdaFrame's early exit); with ``looked``, those counts
    are appended to it (float32, on the CPU). ``forward(model, chunk)``, when given, is what is computed
    instead of the logits (extract's features)."""
    infer = getattr(model, "infer", None)
    out = []
    for chunk in x.split(batch_size):
        with precision.autocast(device):
            if forward is not None:
                out.append(forward(model, precision.prepare(chunk)).float())
            elif callable(infer):
                result = infer(precision.prepare(chunk))
                out.append(result.logits.float())
                if looked is not None:
                    looked.append(result.frames.float().cpu())
            else:
                out.append(model(precision.prepare(chunk)).float())
    return torch.cat(out).cpu()
