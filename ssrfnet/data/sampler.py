"""An epoch/rank-sharded batch sampler over (epoch, index) keys, and the training DataLoader.

`ShardedBatchSampler` shuffles the whole list per epoch (seeded by ``seed + epoch``; the official code never
shuffles), keeps ``num_batches * batch_size * world_size`` items (drop_last), gives rank r every
world_size-th item of that permutation and cuts it into batches. A map-style DataLoader hands each batch to
exactly one worker, so every kept item is read exactly once per epoch across all ranks and workers.
`set_position(epoch, batch)` skips the first batches of an epoch when a run resumes.
"""

from __future__ import annotations

import numpy as np
import torch

from ssrfnet.data.dataset import CropDataset, DataError


class ShardedBatchSampler(torch.utils.data.Sampler):
    """Batches of (epoch, index) keys for one rank; shuffled per epoch; resumable at a batch position."""

    def __init__(self, num_items: int, batch_size: int, *, rank: int = 0, world_size: int = 1,
                 seed: int = 0, shuffle: bool = True):
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.num_items = int(num_items)
        self.batch_size = int(batch_size)
        self.rank, self.world_size = int(rank), int(world_size)
        self.seed, self.shuffle = int(seed), bool(shuffle)
        self.num_batches = self.num_items // (self.batch_size * self.world_size)
        if self.num_batches == 0:
            raise DataError(
                f"{self.num_items} training utterances are fewer than one global batch "
                f"({self.batch_size} x {self.world_size} ranks)"
            )
        self.epoch = 0
        self.start_batch = 0

    def set_position(self, epoch: int, batch: int = 0) -> None:
        """The next iteration yields epoch `epoch` starting at its batch number `batch`."""
        self.epoch, self.start_batch = int(epoch), int(batch)

    def set_epoch(self, epoch: int) -> None:
        self.set_position(epoch, 0)

    def order(self, epoch: int) -> np.ndarray:
        if self.shuffle:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, epoch, 0x5A3])))
            perm = rng.permutation(self.num_items)
        else:
            perm = np.arange(self.num_items)
        kept = perm[: self.num_batches * self.batch_size * self.world_size]
        return kept[self.rank :: self.world_size]

    def __len__(self) -> int:
        return self.num_batches - self.start_batch

    def __iter__(self):
        epoch = self.epoch
        mine = self.order(epoch)
        for b in range(self.start_batch, self.num_batches):
            chunk = mine[b * self.batch_size : (b + 1) * self.batch_size]
            yield [(epoch, int(i)) for i in chunk]


def collate(batch):
    clean = torch.stack([item[0] for item in batch])
    noisy = torch.stack([item[1] for item in batch])
    labels = torch.tensor([item[2] for item in batch], dtype=torch.long)
    return clean, noisy, labels


def make_loader(dataset: CropDataset, sampler: ShardedBatchSampler, num_workers: int = 0):
    """A DataLoader that never touches the global torch RNG (so resuming mid-epoch stays bit-exact).

    Workers persist across epochs (iterate the same loader again after `sampler.set_position`), so a
    dataset's per-worker cache survives."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(sampler.seed),
        prefetch_factor=4 if num_workers > 0 else None,
    )
