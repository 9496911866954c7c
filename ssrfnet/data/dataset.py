"""Training data: random fixed-length crops of a Kaldi data directory, with their speaker labels.

`CropDataset` reads `wav.scp` (plain paths or `... |` pipes) and `utt2spk`; labels index the sorted speaker
list. Items are addressed as ``(epoch, index)`` so every random draw of an item (crop start, augmentation)
comes from a generator seeded by ``(seed, epoch, index)``: results do not depend on the number of DataLoader
workers, ranks or on where a run was resumed (see `ssrfnet.data.sampler`).

With `speeds` (e.g. (0.9, 1.0, 1.1); `ssrfnet.data.speed`) each item is played at a speed drawn per
(seed, epoch, index) on a stream of its own, and each speed is a speaker of its own (`sp0.9-<spk>`): labels,
`spk2id` and `class_counts` cover the expanded speakers. Off (the default) nothing changes.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from ssrfnet.audio import audio_num_samples, is_pipe, read_audio
from ssrfnet.data.crops import random_crop_start, tile_crop
from ssrfnet.data.speed import (
    expanded_speaker_index,
    is_active,
    parse_speeds,
    perturbed_crop,
    source_length,
    speed_speaker,
)
from ssrfnet.errors import SSRFNetError
from ssrfnet.kaldi.datadir import DataDirError, validate
from ssrfnet.kaldi.table import TableError, read_dict, write_table

log = logging.getLogger(__name__)
SPEED_STREAM = 1  # item_rng stream of the speed draw, apart from the crop/augmentation draws (stream 0)


class DataError(SSRFNetError, RuntimeError):
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
        validate(data_dir)
    except (DataDirError, TableError, OSError) as err:
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
        speeds=(),
    ):
        self.data_dir = Path(data_dir)
        self.wav, utt2spk = read_utt2spk(data_dir)
        self.utts = sorted(utt2spk)
        self.spks = [utt2spk[u] for u in self.utts]
        speeds = parse_speeds(speeds)
        self.speeds = speeds if is_active(speeds) else ()
        if spk2id is None:
            spk2id = expanded_speaker_index(self.spks, self.speeds) if self.speeds else None
        self.spk2id = spk2id if spk2id is not None else speaker_index(self.spks)
        names = [[speed_speaker(s, f) for s in self.spks] for f in self.speeds or (1.0,)]
        unknown = sorted({s for row in names for s in row if s not in self.spk2id})
        if unknown:
            raise DataError(f"{data_dir}: speaker(s) {unknown[:3]} are not in the speaker list (spk2id)")
        # speed_labels[k, i]: label of utterance i at speed k; labels: at speed 1.0 (the original speakers)
        self.speed_labels = np.array([[self.spk2id[s] for s in row] for row in names], dtype=np.int64)
        self.labels = self.speed_labels[self.speeds.index(1.0) if self.speeds else 0]
        counts = np.bincount(self.speed_labels.ravel(), minlength=len(self.spk2id))
        singles = int(np.sum(np.bincount(self.labels) == 1))
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

    def item_speed(self, epoch: int, index: int) -> int:
        """Index into `speeds` of the speed item (epoch, index) is played at (0 when off)."""
        if not self.speeds:
            return 0
        return int(item_rng(self.seed, epoch, index, SPEED_STREAM).integers(len(self.speeds)))

    def _load_crop(self, index: int, rng: np.random.Generator, length: int | None = None) -> np.ndarray:
        length = self.crop_samples if length is None else int(length)
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
        start = random_crop_start(total, length, rng)
        if wave is None:
            if total >= length:
                wave = read_audio(entry, where=where, start=start, frames=length)
                start = 0
            else:
                wave = read_audio(entry, where=where)
        return np.ascontiguousarray(tile_crop(wave, start, length), dtype=np.float32)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = item_rng(self.seed, epoch, index)
        k = self.item_speed(epoch, index)
        factor = self.speeds[k] if self.speeds else 1.0
        if factor == 1.0:
            clean = self._load_crop(index, rng)
        else:
            source = self._load_crop(index, rng, source_length(self.crop_samples, factor))
            clean = perturbed_crop(source, factor, self.crop_samples)
        noisy = self.augmenter(clean, rng) if self.augmenter is not None else clean
        label = int(self.speed_labels[k, index])
        return torch.from_numpy(clean), torch.from_numpy(np.ascontiguousarray(noisy)), label


def dev_utterances(data_dir: str | os.PathLike) -> dict[str, str]:
    """utt -> wav.scp entry of a development data directory."""
    data_dir = Path(data_dir)
    if not (data_dir / "wav.scp").is_file():
        raise DataError(f"{data_dir}: wav.scp missing (development data)")
    return read_dict(data_dir / "wav.scp")
