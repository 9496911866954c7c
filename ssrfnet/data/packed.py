"""Packed audio: all clips of a data directory in one contiguous int16 array, for on-the-fly augmentation.

Layout, inside the data directory:
    packed/audio.npy      1-D int16 .npy, the clips one after the other (16 kHz mono PCM)
    packed/index.tsv      `<key> <offset> <num_samples>` per clip, in wav.scp (C-locale) order
    packed/manifest.json  format/version, sample rate, counts, sha256 of wav.scp, index.tsv and audio.npy

Why this format rather than LMDB or tar shards: augmentation draws a random noise/RIR clip and a random
window of it for every training example. A memory-mapped .npy gives zero-copy, O(1) random access to any
window with no decoding and no per-clip file open; the read-only mapping is shared by every DataLoader
worker through the OS page cache (one copy in RAM however many workers); it needs nothing beyond numpy
(LMDB needs a native library and a map size, tar shards are sequential and must be decoded); and the
whole pack is three plain files that are written atomically and checked by a manifest. int16 halves the
size of float32 and is lossless for the 16-bit PCM sources. A pack is *stale* when wav.scp, the index or
the array no longer match the manifest; opening one raises PackError with what to re-run.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ssrfnet.audio import SAMPLE_RATE, read_audio
from ssrfnet.errors import SSRFNetError
from ssrfnet.fileio import atomic_write, atomic_write_text
from ssrfnet.kaldi.table import read_table

PACK_DIR = "packed"
FORMAT = "ssrfnet-packed-audio"
VERSION = 1
AUDIO, INDEX, MANIFEST = "audio.npy", "index.tsv", "manifest.json"


class PackError(SSRFNetError, RuntimeError):
    """A missing, stale, empty or corrupt pack; the message names the data directory and what to do."""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float32 in [-1, 1) -> int16, exact for audio that came from 16-bit PCM."""
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


def write_pack(
    data_dir: str | os.PathLike, *, nj: int = 1, num_samples: dict[str, int] | None = None
) -> Path:
    """Pack every clip of `data_dir/wav.scp` into `data_dir/packed/`; returns the pack directory.

    `num_samples` (key -> length) avoids a second pass over the headers when the caller has them.
    Raises PackError (empty wav.scp) or AudioError (naming the clip) on bad input.
    """
    data_dir = Path(data_dir)
    wav_scp = data_dir / "wav.scp"
    items = read_table(wav_scp, require_sorted=True)
    if not items:
        raise PackError(f"{wav_scp}: no clips to pack")
    pack = data_dir / PACK_DIR
    pack.mkdir(parents=True, exist_ok=True)
    where = {key: f"{wav_scp}: utterance {key}" for key, _ in items}

    def load(item: tuple[str, str]) -> np.ndarray:
        key, entry = item
        return to_int16(read_audio(entry, where=where[key]))

    lengths: list[int] = []
    if num_samples is None:
        with ThreadPoolExecutor(max(1, nj)) as pool:
            lengths = [len(clip) for clip in pool.map(load, items)]
    else:
        lengths = [num_samples[key] for key, _ in items]
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    total = int(offsets[-1])
    tmp = pack / f".{AUDIO}.{os.getpid()}.tmp"
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.int16, shape=(total,))
        batch = max(1, nj) * 8
        with ThreadPoolExecutor(max(1, nj)) as pool:
            for first in range(0, len(items), batch):
                chunk = items[first : first + batch]
                for i, clip in enumerate(pool.map(load, chunk), first):
                    if len(clip) != lengths[i]:
                        raise PackError(
                            f"{where[items[i][0]]}: decoded {len(clip)} samples, header says {lengths[i]}"
                        )
                    array[offsets[i] : offsets[i + 1]] = clip
        array.flush()
        del array
        os.replace(tmp, pack / AUDIO)
    finally:
        tmp.unlink(missing_ok=True)
    with atomic_write(pack / INDEX) as handle:
        for (key, _), offset, length in zip(items, offsets[:-1], lengths):
            handle.write(f"{key} {int(offset)} {length}\n")
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "sample_rate": SAMPLE_RATE,
        "dtype": "int16",
        "num_clips": len(items),
        "total_samples": total,
        "audio_bytes": (pack / AUDIO).stat().st_size,
        "wav_scp_sha256": _sha256_file(wav_scp),
        "index_sha256": _sha256_file(pack / INDEX),
        "audio_sha256": _sha256_file(pack / AUDIO),
    }
    atomic_write_text(pack / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return pack


def check_pack(data_dir: str | os.PathLike, *, verify_audio: bool = False) -> dict:
    """Return the manifest of a current pack, or raise PackError saying why it is missing or stale."""
    data_dir = Path(data_dir)
    pack = data_dir / PACK_DIR
    hint = "re-run stage 1 (local/prepare_augmentation.sh)"
    if not (pack / MANIFEST).is_file():
        raise PackError(f"{data_dir}: no packed audio ({pack / MANIFEST} missing); {hint}")
    try:
        manifest = json.loads((pack / MANIFEST).read_text())
    except (OSError, ValueError) as err:
        raise PackError(f"{pack / MANIFEST}: unreadable manifest ({err}); {hint}") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise PackError(f"{pack / MANIFEST}: not a version-{VERSION} {FORMAT} pack; {hint}")
    if manifest.get("num_clips", 0) <= 0 or manifest.get("total_samples", 0) <= 0:
        raise PackError(f"{pack}: the pack is empty; {hint}")
    for name in (INDEX, AUDIO):
        if not (pack / name).is_file():
            raise PackError(f"{pack / name}: missing; {hint}")
    if not (data_dir / "wav.scp").is_file():
        raise PackError(f"{data_dir / 'wav.scp'}: missing")
    if _sha256_file(data_dir / "wav.scp") != manifest["wav_scp_sha256"]:
        raise PackError(f"{pack}: stale pack, {data_dir / 'wav.scp'} changed since it was packed; {hint}")
    if _sha256_file(pack / INDEX) != manifest["index_sha256"]:
        raise PackError(
            f"{pack / INDEX}: stale or corrupt index (checksum differs from the manifest); {hint}"
        )
    if (pack / AUDIO).stat().st_size != manifest["audio_bytes"]:
        raise PackError(f"{pack / AUDIO}: size differs from the manifest (stale or truncated); {hint}")
    if verify_audio and _sha256_file(pack / AUDIO) != manifest["audio_sha256"]:
        raise PackError(f"{pack / AUDIO}: checksum differs from the manifest (stale or corrupt); {hint}")
    return manifest


class PackedAudio:
    """Read-only random access to a data directory's packed clips.

        pa = PackedAudio("data/musan_noise")
        len(pa), pa.keys, pa[i] (float32 in [-1, 1)), pa.num_samples(i), pa.segment(i, start, length)

    The array is memory-mapped lazily and re-mapped after unpickling, so a PackedAudio handed to
    DataLoader workers costs no copy: every worker maps the same file and shares the page cache.
    """

    def __init__(self, data_dir: str | os.PathLike, *, verify_audio: bool = False):
        self.data_dir = Path(data_dir)
        self.manifest = check_pack(self.data_dir, verify_audio=verify_audio)
        keys, offsets, lengths = [], [], []
        index = self.data_dir / PACK_DIR / INDEX
        with open(index, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                fields = line.split()
                if len(fields) != 3:
                    raise PackError(f"{index}:{lineno}: expected '<key> <offset> <num_samples>'")
                keys.append(fields[0])
                offsets.append(int(fields[1]))
                lengths.append(int(fields[2]))
        self.keys: list[str] = keys
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._lengths = np.asarray(lengths, dtype=np.int64)
        self._key_index = {key: i for i, key in enumerate(keys)}
        if (
            len(keys) != self.manifest["num_clips"]
            or int(self._lengths.sum()) != self.manifest["total_samples"]
        ):
            raise PackError(f"{index}: does not match {self.data_dir / PACK_DIR / MANIFEST}")
        self._audio: np.ndarray | None = None
        if self.audio.shape != (self.manifest["total_samples"],) or self.audio.dtype != np.int16:
            raise PackError(f"{self.data_dir / PACK_DIR / AUDIO}: shape/dtype differs from the manifest")

    @property
    def audio(self) -> np.ndarray:
        """The whole int16 array (memory-mapped, read-only)."""
        if self._audio is None:
            self._audio = np.load(self.data_dir / PACK_DIR / AUDIO, mmap_mode="r")
        return self._audio

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_audio"] = None
        return state

    def __len__(self) -> int:
        return len(self.keys)

    def index(self, key: str) -> int:
        try:
            return self._key_index[key]
        except KeyError:
            raise KeyError(f"{self.data_dir}: no clip {key!r} in the pack") from None

    def _check(self, i: int) -> int:
        if not -len(self.keys) <= i < len(self.keys):
            raise IndexError(f"{self.data_dir}: clip index {i} out of range (0..{len(self.keys) - 1})")
        return i % len(self.keys)

    def num_samples(self, i: int) -> int:
        return int(self._lengths[self._check(i)])

    def __getitem__(self, i: int) -> np.ndarray:
        i = self._check(i)
        return self.segment(i, 0, int(self._lengths[i]))

    def segment(self, i: int, start: int, length: int) -> np.ndarray:
        """float32 samples [start, start+length) of clip i; the window must lie inside the clip."""
        i = self._check(i)
        n = int(self._lengths[i])
        if start < 0 or length < 0 or start + length > n:
            raise ValueError(
                f"{self.data_dir}: segment [{start}, {start + length}) is outside clip {self.keys[i]!r} "
                f"of {n} samples"
            )
        offset = int(self._offsets[i]) + start
        return self.audio[offset : offset + length].astype(np.float32) / np.float32(32768.0)
