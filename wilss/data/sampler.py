"""Deterministic, resumable sharding of a dataset over ranks.

The sampler yields `(index, seed)` pairs. Both the permutation and each sample's augmentation seed derive
only from (seed, epoch), so an epoch can be resumed at any batch by skipping positions (nothing is loaded
and thrown away), and the augmentation of a sample does not depend on the number of ranks or workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ShardSampler(Sampler[tuple[int, int]]):
    """Training: `global_batch` set → shuffled, the remainder dropped, every global batch split into contiguous
    per-rank chunks (so any world size sees the same global batches). Evaluation: `global_batch` None →
    dataset order, rank r gets items r, r + world, … (exact: no padding, no duplicates)."""

    def __init__(self, size: int, rank: int = 0, world_size: int = 1, seed: int = 0,
                 global_batch: int | None = None, max_batches: int | None = None) -> None:
        if global_batch is not None and global_batch % world_size:
            raise ValueError(f"global batch {global_batch} is not divisible by world size {world_size}")
        self.size, self.rank, self.world_size = size, rank, world_size
        self.seed, self.global_batch, self.max_batches = seed, global_batch, max_batches
        self.epoch, self.skip_batches = 0, 0

    @property
    def local_batch(self) -> int:
        return (self.global_batch or self.world_size) // self.world_size

    def batches_per_epoch(self) -> int:
        if self.global_batch is None:
            raise ValueError("evaluation sampler has no fixed number of batches")
        full = self.size // self.global_batch
        return full if self.max_batches is None else min(full, self.max_batches)

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Select the epoch's permutation; start after `skip_batches` batches (resume inside an epoch)."""
        self.epoch, self.skip_batches = epoch, skip_batches

    def _positions(self) -> list[int]:
        if self.global_batch is None:
            return list(range(self.rank, self.size, self.world_size))
        local = self.local_batch
        return [
            batch * self.global_batch + self.rank * local + offset
            for batch in range(self.skip_batches, self.batches_per_epoch())
            for offset in range(local)
        ]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        if self.global_batch is None:
            order = torch.arange(self.size)
        else:
            order = torch.randperm(self.size, generator=generator)
        seeds = torch.randint(2**62, (self.size,), generator=generator)
        for position in self._positions():
            yield int(order[position]), int(seeds[position])

    def __len__(self) -> int:
        return len(self._positions())
