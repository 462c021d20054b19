"""Compressed-domain clips for CoViAR (Wu et al., CVPR 2018): per TSN segment, the I-frame of its
GOP, the motion vectors and the residual accumulated back to it (:mod:`vidkit.io.compressed`).

One tensor carries the three, so the data path, the batching and the model contract stay those of
RGB clips: data-loader workers pack float16 ``[T, H, W, 8]`` —

    channels 0-2  the GOP's I-frame, RGB 0..255
    channels 3-4  the accumulated motion vectors (x, y) in pixels, each 4x4 cell's over its pixels
    channels 5-7  the residual, RGB -255..255

— and :class:`CompressedTransform` resizes, crops, flips and normalises the batch on the model's
device like :class:`~vidkit.data.transforms.ClipTransform` does, except that vectors scale with the
picture and a horizontal flip negates their x component. It normalises nothing: the I-frames stay in
0..255, the vectors in pixels and the residuals in -255..255, and the model prepares each stream's
input as it was trained to (:class:`vidkit.models.coviar.CoViAR`'s ``inputs``), so a checkpoint carries
its own input recipe.

The motion and residual channels of a segment never come from an I-frame (whose are zero): as the
authors sample, the frame before it is taken for them (:func:`vidkit.io.compressed.read_compressed_at`'s
``avoid_iframes``).
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidkit.data.datasets import ClipDataset
from vidkit.data.samplers import SegmentSampler
from vidkit.data.transforms import ClipTransform
from vidkit.errors import VideoDecodeError
from vidkit.utils import default_workers

IFRAME, MV, RESIDUAL = slice(0, 3), slice(3, 5), slice(5, 8)
CHANNELS = 8

__all__ = [
    "CHANNELS",
    "IFRAME",
    "MV",
    "RESIDUAL",
    "CompressedClipDataset",
    "CompressedTransform",
    "coviar_format",
    "pack",
]


def pack(iframes: np.ndarray, mv: np.ndarray, residual: np.ndarray) -> torch.Tensor:
    """float16 ``[T, H, W, 8]`` from uint8 ``[T, H, W, 3]`` I-frames, float32 ``[T, 2, H/g, W/g]``
    fields (each cell's value spread over its pixels) and int16 ``[T, H, W, 3]`` residuals."""
    t, height, width = iframes.shape[:3]
    grid = -(-height // mv.shape[2])
    per_pixel = mv.repeat(grid, axis=2).repeat(grid, axis=3)[:, :, :height, :width]
    out = np.empty((t, height, width, CHANNELS), np.float16)
    out[..., IFRAME] = iframes
    out[..., MV] = per_pixel.transpose(0, 2, 3, 1)
    out[..., RESIDUAL] = residual
    return torch.from_numpy(out)


class CompressedClipDataset(ClipDataset):
    """One item per video: ``num_segments`` TSN segments, one frame each (a random one per segment
    in training, the centre one in test; :class:`~vidkit.data.samplers.SegmentSampler`), packed by
    :func:`pack` under ``"frames"``; ``"inexact"`` counts the frames whose stream does not follow
    CoViAR's chain (B-frames, several references: see :mod:`vidkit.io.compressed`), and the first such
    video a process reads gets a warning that says how to convert the set."""

    def __init__(self, samples, *, num_segments: int, train: bool, grid: int = 4, seed: int = 0):
        super().__init__(
            samples, SegmentSampler(num_segments=num_segments, mode="train" if train else "test"), seed=seed
        )
        self.grid = grid
        self._warned = False

    def __getitem__(self, item: int) -> dict:
        from vidkit.io import probe
        from vidkit.io.compressed import read_compressed_at

        path, label = self.samples[item]
        rng = random.Random(hash((self.seed, self.epoch, item)))
        try:
            plan = self.sampler(probe(path), rng=rng)[0]
            clip = read_compressed_at(path, list(plan.timestamps), grid=self.grid, avoid_iframes=True)
        except VideoDecodeError as e:
            return {"index": item, "error": str(e)}
        inexact = [n for n in clip.inexact if n is not None]
        if inexact and not self._warned:
            self._warned = True  # once per worker process: a dataset as downloaded has this on every file
            warnings.warn(
                f"{path}: {len(inexact)} of {len(clip.inexact)} frames are not in CoViAR's chain "
                f"({inexact[0]}); convert the set with tools/reencode_coviar.py (MPEG-4, GOP 12, no B-frames)",
                stacklevel=2,
            )
        return {
            "frames": pack(clip.iframes, clip.mv, clip.residual),
            "label": label,
            "index": item,
            "view": 0,
            "crop_index": -1,
            "padded": False,
            "inexact": len(inexact),
        }


@dataclass(frozen=True)
class CompressedTransform(ClipTransform):
    """:class:`ClipTransform` for packed compressed clips (float ``[B, T, H, W, 8]`` → ``[B, 8, T, crop, crop]``):
    the values as they are (I-frames 0..255, vectors in pixels, residuals -255..255: the model prepares
    them); resizing scales the vectors by the same factor, flipping negates their x."""

    def _check(self, frames: torch.Tensor) -> None:
        if frames.dim() != 5 or frames.shape[-1] != CHANNELS:
            raise ValueError(
                f"expected packed compressed clips [B, T, H, W, {CHANNELS}] (vidkit.data.compressed.pack), "
                f"got {tuple(frames.shape)}"
            )

    def _resized(self, x: torch.Tensor, factor: float) -> torch.Tensor:  # x: [(b t), c, h, w]
        if factor != 1.0:
            x[:, MV] *= factor
        return x

    def _flipped(self, x: torch.Tensor) -> torch.Tensor:  # x: [b, c, t, h, w], already mirrored
        x[:, MV.start] = -x[:, MV.start]
        return x

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x


def coviar_format(
    samples: Sequence[tuple[str | os.PathLike, int]],
    *,
    root: str | os.PathLike,
    dest: str | os.PathLike,
    progress: bool = False,
    workers: int | None = None,
) -> list[tuple[str, int]]:
    """``samples`` (under ``root``) re-encoded to CoViAR's format — MPEG-4 Part 2, GOP 12, no B-frames —
    as ``dest/<same relative path>.avi``, converting the ones not there yet (each written atomically,
    so one that exists is complete; a later call converts only what is missing).

    The encodes run in a process pool started by a fork server, never in this process: a data-loader
    worker forked from a process that has run FFmpeg's encoder can deadlock on a lock it inherited."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    out, todo = [], []
    for path, label in samples:
        target = (Path(dest) / Path(path).relative_to(root)).with_suffix(".avi")
        out.append((os.fspath(target), label))
        if not target.exists():
            todo.append((os.fspath(path), os.fspath(target)))
    if todo:
        workers = workers or min(len(todo), default_workers())
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            jobs = pool.map(_to_coviar, todo, chunksize=8)
            for _ in tqdm(
                jobs,
                total=len(todo),
                desc="CoViAR format (MPEG-4, GOP 12, no B-frames)",
                unit="video",
                disable=not progress,
                leave=False,
            ):
                pass
    return out


def _to_coviar(job: tuple[str, str]) -> None:
    from vidkit.io.reencode import reencode

    reencode(job[0], job[1], codec="mpeg4", gop=12, b_frames=0, threads=1)
