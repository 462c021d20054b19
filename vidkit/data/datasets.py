"""Datasets of (video, label) pairs that decode clips in data-loader workers.

Workers only decode and pack uint8 frames (``[T, H, W, 3]``); the numeric transforms run batched on
the model's device (:mod:`vidkit.data.transforms`). A video that cannot be decoded does not stop
training: its item carries the error, :func:`collate_clips` leaves it out of the batch and reports it.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from vidkit.data.clips import read_clips
from vidkit.data.samplers import ClipSampler
from vidkit.errors import VideoDecodeError


class ClipDataset(Dataset):
    """One item per (video, view): ``{"frames", "label", "index", "view", "crop_index", "padded"}``,
    or ``{"index", "error"}`` when the video cannot be read.

    Random samplers draw from ``random.Random((seed, epoch, index))``, so a run is reproducible
    whatever the number of workers; call :meth:`set_epoch` each epoch for fresh clips.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str | os.PathLike, int]],
        sampler: ClipSampler,
        *,
        backend: str = "pyav",
        seed: int = 0,
        views_per_video: int = 1,
    ):
        self.samples = [(os.fspath(p), int(label)) for p, label in samples]
        self.sampler = sampler
        self.backend = backend
        self.seed = seed
        self.views_per_video = views_per_video
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples) * self.views_per_video

    def __getitem__(self, item: int) -> dict:
        from vidkit.io import open_video

        index, view = divmod(item, self.views_per_video)
        path, label = self.samples[index]
        rng = random.Random(hash((self.seed, self.epoch, item)))
        try:
            with open_video(path, backend=self.backend) as video:
                plans = self.sampler(video.info, rng=rng)
                clip = read_clips(video, [plans[view]])[0]
        except VideoDecodeError as e:
            return {"index": index, "error": str(e)}
        return {
            "frames": clip.frames.contiguous(),
            "label": label,
            "index": index,
            "view": view,
            "crop_index": clip.plan.crop_index if clip.plan.crop_index is not None else -1,
            "padded": clip.plan.padded,
        }


def collate_frames(items: list[dict]) -> tuple[list[dict], dict]:
    """``(decodable items, batch)``: the batch lists the others' errors under ``"errors"`` and, when any
    item decoded, holds their ``"frames"`` stacked (a list of clips when their sizes differ). The
    start of every collate function here (:func:`collate_clips`, ``vidkit.data.ava.collate_persons``)."""
    good = [it for it in items if "error" not in it]
    batch: dict = {"errors": [it["error"] for it in items if "error" in it]}
    if good:
        shapes = {tuple(it["frames"].shape) for it in good}
        # Videos of different sizes (real datasets) stay a list; the device transform scales each to one size.
        batch["frames"] = (
            torch.stack([it["frames"] for it in good]) if len(shapes) == 1 else [it["frames"] for it in good]
        )
    return good, batch


def collate_clips(items: list[dict]) -> dict:
    """Stack the decodable items (a list of clips when their sizes differ); list the others' errors
    under ``"errors"``."""
    good, batch = collate_frames(items)
    if not good:
        return batch
    for key in ("label", "index", "view", "crop_index"):
        batch[key] = torch.tensor([it[key] for it in good])
    batch["padded"] = torch.tensor([it["padded"] for it in good])
    return batch
