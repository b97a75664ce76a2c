"""Deterministic, resumable sharding of a dataset over ranks.

The samplers yield `(index, seed)` pairs. Both the permutation and each sample's augmentation seed derive
only from (seed, epoch) — or, for the mixed sampler, from (seed, stream, pass) — so an epoch can be resumed at
any batch by skipping positions (nothing is loaded and thrown away), and the augmentation of a sample does not
depend on the number of ranks or workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


def _draw(size: int, key: int, shuffle: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The order of `size` items and one augmentation seed per position, both fixed by `key`."""
    generator = torch.Generator().manual_seed(key)
    order = torch.randperm(size, generator=generator) if shuffle else torch.arange(size)
    return order, torch.randint(2**62, (size,), generator=generator)


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
        order, seeds = _draw(self.size, self.seed * 1_000_003 + self.epoch, shuffle=self.global_batch is not None)
        for position in self._positions():
            yield int(order[position]), int(seeds[position])

    def __len__(self) -> int:
        return len(self._positions())


class MixedShardSampler(ShardSampler):
    """Training batches that mix two datasets in a fixed proportion (the new-class data and the replay data,
    addressed as one by `ConcatenatedDataset`: first part, then second).

    Every per-rank batch holds `per_rank[0]` items of the first part followed by `per_rank[1]` of the second.
    Each part is an endless stream of shuffled passes (pass p of part k is fixed by (seed, k, p)); global batch
    g takes the next `per_rank[k] · world_size` positions of stream k, rank r its r-th contiguous chunk. A batch
    is thus a function of its global iteration number only: resuming skips positions, and any world size with
    the same global composition sees the same global batches. The iterations per epoch are those of a plain
    `ShardSampler` over `epoch_size` items (see `wilss.data.build.replay_epoch_size`), independent of when a
    stream completes a pass.
    """

    def __init__(self, sizes: tuple[int, int], per_rank: tuple[int, int], rank: int = 0, world_size: int = 1,
                 seed: int = 0, epoch_size: int | None = None, max_batches: int | None = None) -> None:
        if min(sizes) < 1 or min(per_rank) < 1:
            raise ValueError(f"both parts need items and a share of every batch: sizes {sizes}, per rank {per_rank}")
        global_batch = sum(per_rank) * world_size
        super().__init__(epoch_size or sizes[0], rank, world_size, seed, global_batch, max_batches)
        self.sizes, self.per_rank = sizes, per_rank
        self._passes: dict[int, tuple[int, torch.Tensor, torch.Tensor]] = {}

    def _stream_item(self, part: int, position: int) -> tuple[int, int]:
        pass_number, offset = divmod(position, self.sizes[part])
        cached = self._passes.get(part)
        if cached is None or cached[0] != pass_number:
            key = (self.seed * 1_000_003 + pass_number) * len(self.sizes) + part
            cached = (pass_number, *_draw(self.sizes[part], key, shuffle=True))
            self._passes[part] = cached
        _, order, seeds = cached
        return int(order[offset]), int(seeds[offset])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        per_epoch = self.batches_per_epoch()
        first = self.epoch * per_epoch
        for batch in range(first + self.skip_batches, first + per_epoch):
            start = 0
            for part, count in enumerate(self.per_rank):
                chunk = batch * count * self.world_size + self.rank * count
                for position in range(chunk, chunk + count):
                    index, seed = self._stream_item(part, position)
                    yield start + index, seed
                start += self.sizes[part]

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch() - self.skip_batches) * self.local_batch
