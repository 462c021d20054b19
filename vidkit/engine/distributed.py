"""Multi-GPU and multi-node runs through ``torchrun`` and ``torch.distributed`` (DDP); nothing home-made.

``torchrun --nproc_per_node 8 -m vidkit.cli train ...`` starts one process per GPU with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set; :func:`setup` joins the process group (NCCL on GPUs, gloo on
the CPU) and picks the process's device. A plain ``vidkit train`` is a world of one and never touches
``torch.distributed``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler, Sampler


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, shows progress and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> DistContext:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE > 1``); choose the device.

    ``device="auto"`` takes ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif device == "cuda":
        device = f"cuda:{local_rank}"
    target = torch.device(device)
    if target.type == "cuda":
        torch.cuda.set_device(target)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if target.type == "cuda" else "gloo")
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=target)


def teardown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], ctx: DistContext) -> list[float]:
    """Sum ``values`` over every process (a no-op in a world of one)."""
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device if ctx.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return t.tolist()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that can start part-way into an epoch.

    The order of an epoch depends only on ``(seed, epoch)`` (PyTorch shuffles with
    ``seed + epoch``), so a run resumed at step ``k`` skips the first ``k`` batches' indices and
    sees exactly the clips the uninterrupted run would have seen next. With ``weights`` (one per
    item) an epoch is as many items drawn with replacement in proportion to them (a balanced
    sampler: each class's clips weighted by one over its size), from ``(seed, epoch)`` too.
    """

    def __init__(
        self,
        dataset,
        *,
        ctx: DistContext,
        shuffle: bool,
        seed: int,
        drop_last: bool,
        weights: Sequence[float] | None = None,
    ):
        super().__init__(
            dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=shuffle, seed=seed, drop_last=drop_last
        )
        if weights is not None and len(weights) != len(dataset):
            raise ValueError(f"{len(weights)} sampling weights for {len(dataset)} items")
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.start_index = 0

    def set_start(self, index: int) -> None:
        """Skip the first ``index`` indices of this process's share of the current epoch."""
        self.start_index = index

    def __iter__(self) -> Iterator[int]:
        if self.weights is None:
            indices = list(super().__iter__())
        else:  # drawn with replacement in proportion to the weights, as the same (seed, epoch) always draws them
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            drawn = torch.multinomial(self.weights, self.total_size, replacement=True, generator=generator)
            indices = drawn[self.rank : self.total_size : self.num_replicas].tolist()
        return iter(indices[self.start_index :])

    def __len__(self) -> int:
        return max(0, super().__len__() - self.start_index)


class ShardSampler(Sampler[int]):
    """Every index exactly once over all processes (``rank::world_size``), no padding: evaluation
    metrics summed over processes then count each video once, unlike ``DistributedSampler``'s."""

    def __init__(self, length: int, ctx: DistContext):
        self.indices = range(ctx.rank, length, ctx.world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def step_seed(seed: int, epoch: int, step: int, rank: int) -> int:
    """The seed of one training step: a run restarted at any step draws the same random numbers
    (crops, flips, dropout) from there on as the run that was never stopped."""
    mixed = (seed * 1_000_003 + epoch) * 1_000_003 + step
    return (mixed * 1_000_003 + rank) % (2**63 - 1)


__all__ = [
    "DistContext",
    "ResumableSampler",
    "ShardSampler",
    "all_reduce_sum",
    "barrier",
    "setup",
    "step_seed",
    "teardown",
]
