"""Training data: random fixed-length crops of a Kaldi data directory and an epoch/rank-sharded batch sampler.

`CropDataset` reads `wav.scp` (plain paths or `... |` pipes) and `utt2spk`; labels index the sorted speaker
list. Items are addressed as ``(epoch, index)`` so every random draw of an item (crop start, augmentation)
comes from a generator seeded by ``(seed, epoch, index)``: results do not depend on the number of DataLoader
workers, ranks or on where a run was resumed.

`ShardedBatchSampler` shuffles the whole list per epoch (seeded by ``seed + epoch``; the official code never
shuffles), keeps ``num_batches * batch_size * world_size`` items (drop_last), gives rank r every
world_size-th item of that permutation and cuts it into batches. A map-style DataLoader hands each batch to
exactly one worker, so every kept item is read exactly once per epoch across all ranks and workers.
`set_position(epoch, batch)` skips the first batches of an epoch when a run resumes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from ssrfnet.audio import audio_num_samples, is_pipe, read_audio
from ssrfnet.kaldi.table import read_dict, write_table

log = logging.getLogger(__name__)

CROP_HOP = 320  # crop starts are multiples of the 20 ms frame hop, as in the official code


class DataError(RuntimeError):
    pass


def item_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator for one item of one epoch, independent of workers and ranks."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, index, stream])))


def read_utt2spk(data_dir: str | os.PathLike) -> tuple[dict[str, str], dict[str, str]]:
    """Return (wav, utt2spk) of a data directory; clear errors for a broken directory."""
    data_dir = Path(data_dir)
    for name in ("wav.scp", "utt2spk"):
        if not (data_dir / name).is_file():
            raise DataError(f"{data_dir}: not a valid data directory ({name} missing)")
    try:
        from ssrfnet.kaldi.datadir import validate  # the data-prep stage's checker, when present
    except ImportError:
        validate = None
    if validate is not None:
        try:
            validate(data_dir)
        except Exception as err:
            raise DataError(f"{data_dir}: data directory failed validation: {err}") from err
    wav = read_dict(data_dir / "wav.scp")
    utt2spk = read_dict(data_dir / "utt2spk")
    missing = [u for u in utt2spk if u not in wav]
    if missing:
        raise DataError(f"{data_dir}: {len(missing)} utterance(s) of utt2spk have no wav.scp entry, "
                        f"e.g. {missing[0]}")
    if not utt2spk:
        raise DataError(f"{data_dir}: utt2spk is empty")
    return wav, utt2spk


def speaker_index(speakers) -> dict[str, int]:
    return {spk: i for i, spk in enumerate(sorted(set(speakers)))}


def write_spk2id(path: str | os.PathLike, spk2id: dict[str, int]) -> None:
    write_table(path, [(spk, str(i)) for spk, i in spk2id.items()])


def read_spk2id(path: str | os.PathLike) -> dict[str, int]:
    return {spk: int(i) for spk, i in read_dict(path).items()}


def tile_crop(wave: np.ndarray, start: int, length: int) -> np.ndarray:
    """`length` samples from `start`; a short recording is repeated end to end (never an error)."""
    if len(wave) >= start + length:
        return wave[start : start + length]
    reps = -(-(start + length) // len(wave))
    return np.tile(wave, reps)[start : start + length]


class CropDataset(torch.utils.data.Dataset):
    """(clean crop, augmented crop, speaker label) for item (epoch, index)."""

    def __init__(
        self,
        data_dir: str | os.PathLike,
        crop_samples: int = 48000,
        *,
        seed: int = 0,
        augmenter=None,
        spk2id: dict[str, int] | None = None,
        cache_pipes: bool = False,
    ):
        self.data_dir = Path(data_dir)
        self.wav, utt2spk = read_utt2spk(data_dir)
        self.utts = sorted(utt2spk)
        self.spks = [utt2spk[u] for u in self.utts]
        self.spk2id = spk2id if spk2id is not None else speaker_index(self.spks)
        unknown = sorted({s for s in self.spks if s not in self.spk2id})
        if unknown:
            raise DataError(f"{data_dir}: speaker(s) {unknown[:3]} are not in the speaker list (spk2id)")
        self.labels = np.array([self.spk2id[s] for s in self.spks], dtype=np.int64)
        counts = np.bincount(self.labels, minlength=len(self.spk2id))
        singles = int(np.sum(counts == 1))
        if singles:
            log.warning("%s: %d speaker(s) have a single utterance", data_dir, singles)
        self.class_counts = counts
        self.crop_samples = int(crop_samples)
        self.seed = int(seed)
        self.augmenter = augmenter
        self.cache_pipes = bool(cache_pipes)
        self._lengths: dict[int, int] = {}
        self._cache: dict[int, np.ndarray] = {}  # decoded pipe audio (int16), per worker process

    @property
    def num_classes(self) -> int:
        return len(self.spk2id)

    def __len__(self) -> int:
        return len(self.utts)

    def _load_crop(self, index: int, rng: np.random.Generator) -> np.ndarray:
        utt = self.utts[index]
        entry = self.wav[utt]
        where = f"{self.data_dir}/wav.scp: {utt}"
        if is_pipe(entry):
            cached = self._cache.get(index)
            if cached is not None:
                wave = cached.astype(np.float32) / np.float32(32768.0)
            else:
                wave = read_audio(entry, where=where)  # a pipe must be decoded whole anyway
                if self.cache_pipes:
                    self._cache[index] = np.clip(np.round(wave * 32768.0), -32768, 32767).astype(np.int16)
            total = len(wave)
        else:
            total = self._lengths.get(index)
            if total is None:
                total = self._lengths[index] = audio_num_samples(entry, where=where)
            wave = None
        if total >= self.crop_samples:
            start = int(rng.integers(0, (total - self.crop_samples) // CROP_HOP + 1)) * CROP_HOP
        else:
            rng.integers(0, 1)  # keep the number of draws independent of the length
            start = 0
        if wave is None:
            if total >= self.crop_samples:
                wave = read_audio(entry, where=where, start=start, frames=self.crop_samples)
                start = 0
            else:
                wave = read_audio(entry, where=where)
        return np.ascontiguousarray(tile_crop(wave, start, self.crop_samples), dtype=np.float32)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = item_rng(self.seed, epoch, index)
        clean = self._load_crop(index, rng)
        noisy = self.augmenter(clean, rng) if self.augmenter is not None else clean
        return torch.from_numpy(clean), torch.from_numpy(np.ascontiguousarray(noisy)), int(self.labels[index])


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


def dev_utterances(data_dir: str | os.PathLike) -> dict[str, str]:
    """utt -> wav.scp entry of a development data directory."""
    data_dir = Path(data_dir)
    if not (data_dir / "wav.scp").is_file():
        raise DataError(f"{data_dir}: wav.scp missing (development data)")
    return read_dict(data_dir / "wav.scp")


def eval_crops(wave: np.ndarray, crop_samples: int, num_crops: int) -> np.ndarray:
    """`num_crops` evenly spaced fixed-length crops (tiled when short): (num_crops, crop_samples)."""
    if len(wave) <= crop_samples:
        return np.stack([tile_crop(wave, 0, crop_samples)] * max(1, num_crops))
    starts = np.linspace(0, len(wave) - crop_samples, num=max(1, num_crops)).astype(np.int64)
    if num_crops == 1:
        starts = np.array([(len(wave) - crop_samples) // 2])
    return np.stack([wave[s : s + crop_samples] for s in starts])
