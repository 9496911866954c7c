"""Loader feed rate: augmented 3 s training crops per second per DataLoader worker, the training loader as it
is (CropDataset + ShardedBatchSampler + make_loader, the official six-type mix of AugmentConfig()), reading
wav files from disk and drawing noise and RIRs from augmentation packs of realistic size; the workers per
GPU that rate implies at a stated GPU step rate; and the share of time a consumer waits on data.

    python bench/bench_loader.py --pack-scale 0.01 --batches 6      # a smoke run (small packs)
    python bench/bench_loader.py                                    # the real measurement (14.5 GB of packs)

Augmentation packs (ssrfnet.data.packed, written by its write_pack, generated once under --cache and reused):
MUSAN stand-ins of the real counts and total lengths (noise 930 clips / 6.2 h, music 660 / 42.6 h, speech
426 / 60.4 h: 2,016 clips, 109 h, 12.6 GB of int16) and 60,000 simulated-RIR stand-ins of --rir-seconds each
(an assumed length: check it against your copy of RIRS_NOISES), all times --pack-scale. Clip lengths spread
from 0.5x to 1.5x the category mean; the content is synthetic (noise, chords, a voiced talker, decaying
noise), which costs the augmenter exactly what real clips cost. With 60,000 RIRs the per-worker cache of
256 RIR spectra mostly misses, as in training (a handful of test RIRs would always hit).

Crops: --data (a data dir of wav files, e.g. data/vox2_train of a converted VoxCeleb2), or by default
data/vox2_train of a small scale-corpus tree (ssrfnet.corpus.scale, wav, 5-11 s sources) prepared by stage 0.
`cold` reads drop each file from the page cache right after reading it (posix_fadvise DONTNEED), as for a
corpus far larger than RAM (VoxCeleb2 as wav is about 280 GB); `warm` reads leave the cache alone (the
hard-linked files are then all in RAM). Packs are dropped from the page cache before each cold run; whether
they then stay cold depends on RAM (their size and MemAvailable are printed). A virtual disk may still be
cached by its host: the cold/warm read times of one file are printed as a check.

Workers per GPU = ceil(batch per GPU x GPU steps/s / crops per second per worker), assuming rates add up
over workers with a core each. --gpu-steps-per-s defaults to 15: the issue's aim of 35 % bf16 MFU on an
A100-class GPU (312 TFLOP/s peak) for a batch-32 OS-KDFT step of 7.28 TFLOP (227.5 GFLOP per crop: the
WavLM-Large teacher's forward and 3x the model's forward, `bench_gpu_train_step.py --count-flops`);
replace it with the step rate bench_gpu_train_step.py measures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ssrfnet.audio import SAMPLE_RATE, write_wav  # noqa: E402
from ssrfnet.corpus.scale import make_scale_corpus, speechlike  # noqa: E402
from ssrfnet.data.augment import AugmentConfig, Augmenter  # noqa: E402
from ssrfnet.data.dataset import CropDataset  # noqa: E402
from ssrfnet.data.packed import AUDIO, PACK_DIR, check_pack, write_pack  # noqa: E402
from ssrfnet.data.sampler import ShardedBatchSampler, make_loader  # noqa: E402
from ssrfnet.data.timing import DataWaitMeter  # noqa: E402
from ssrfnet.fileio import atomic_write, atomic_write_text  # noqa: E402
from ssrfnet.prep.voxceleb import prepare_voxceleb  # noqa: E402

# name: (clips, total hours) of MUSAN; the RIR set is 60,000 clips of --rir-seconds.
MUSAN = {"musan_noise": (930, 6.2), "musan_music": (660, 42.6), "musan_speech": (426, 60.4)}
NUM_RIRS = 60000
SOURCES_PER_SET = 8
CROP_SAMPLES = 3 * SAMPLE_RATE
BATCH_PER_GPU = 32


def _source_signal(name: str, n: int, seed: int) -> np.ndarray:
    """`n` samples of a stand-in clip for augmentation set `name`."""
    rng = np.random.default_rng(seed)
    if name == "musan_speech":
        return speechlike((n + 0.5) / SAMPLE_RATE, seed)[:n]
    if name == "musan_music":
        t = np.arange(n) / SAMPLE_RATE
        notes = 220.0 * 2 ** (rng.integers(0, 24, size=(n // 8000 + 1, 3)) / 12)
        freq = np.repeat(notes, 8000, axis=0)[:n]
        wave = np.sin(2 * np.pi * np.cumsum(freq, axis=0) / SAMPLE_RATE).sum(axis=1)
        return (0.2 * wave / 3 * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
    if name == "rirs":
        decay = np.exp(-np.arange(n) / (0.08 * SAMPLE_RATE))
        rir = rng.standard_normal(n) * decay * 0.3
        rir[0] = 1.0
        return (rir / np.max(np.abs(rir)) * 0.9).astype(np.float32)
    white = rng.standard_normal(n)
    brown = np.cumsum(white)
    brown -= np.convolve(brown, np.ones(801) / 801, mode="same")
    wave = 0.5 * white / np.std(white) + 0.5 * brown / (np.std(brown) + 1e-9)
    return (0.1 * wave).astype(np.float32)


def pack_specs(pack_scale: float, rir_seconds: float) -> dict[str, tuple[int, float]]:
    """name -> (clips, mean seconds) of the four augmentation sets at `pack_scale`."""
    specs = {name: (max(SOURCES_PER_SET, round(count * pack_scale)), hours * 3600 / count)
             for name, (count, hours) in MUSAN.items()}
    specs["rirs"] = (max(SOURCES_PER_SET, round(NUM_RIRS * pack_scale)), rir_seconds)
    return specs


def ensure_pack(root: Path, name: str, clips: int, mean_seconds: float, nj: int) -> Path:
    """<root>/<name>: wav.scp over SOURCES_PER_SET source wavs (0.5x-1.5x the mean) and its packed/ form."""
    data = root / name
    stamp = {"clips": clips, "mean_seconds": mean_seconds, "sources": SOURCES_PER_SET, "version": 1}
    marker = data / "bench_pack.json"
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        try:
            check_pack(data)
            return data
        except Exception as err:  # noqa: BLE001 - any stale or broken pack is rebuilt
            print(f"  {data}: rebuilding ({err})")
    sources = root / "sources"
    paths, lengths = [], []
    for i, factor in enumerate(np.linspace(0.5, 1.5, SOURCES_PER_SET)):
        samples = max(1, int(mean_seconds * float(factor) * SAMPLE_RATE))
        paths.append(sources / f"{name}-{i}-{samples}.wav")
        lengths.append(samples)
        if not paths[-1].is_file():
            write_wav(paths[-1], _source_signal(name, samples, seed=i))
    keys = [f"{name.split('_')[-1]}-bench-{i:06d}" for i in range(clips)]
    with atomic_write(data / "wav.scp") as handle:
        for i, key in enumerate(keys):
            handle.write(f"{key} {paths[i % SOURCES_PER_SET]}\n")
    start = time.perf_counter()
    write_pack(data, nj=nj, num_samples={key: lengths[i % SOURCES_PER_SET] for i, key in enumerate(keys)})
    atomic_write_text(marker, json.dumps(stamp) + "\n")
    size = (data / PACK_DIR / AUDIO).stat().st_size
    print(f"  {data}: packed {clips} clips, {size / 2**30:.2f} GiB in {time.perf_counter() - start:.0f} s")
    return data


def ensure_crop_data(root: Path, scale: float, nj: int) -> Path:
    """data/vox2_train of a scale-corpus tree of wav files (5-11 s sources), prepared by stage 0."""
    manifest = make_scale_corpus(root / "corpus", scale=scale, vox2_format="wav", seed=1,
                                 source_seconds=(5.0, 6.5, 8.0, 9.5, 11.0), log=lambda m: None)
    data = root / "data"
    speakers = manifest["counts"]["vox2_speakers"]
    prepare_voxceleb(manifest["voxceleb1"], manifest["voxceleb2"], data, nj=nj,
                     num_heldout_spk=min(40, speakers // 2))
    return data / "vox2_train"


def evict(path: str | os.PathLike) -> None:
    """Drop a file's clean pages from this machine's page cache (no root needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class ColdReads(torch.utils.data.Dataset):
    """A CropDataset whose every file read comes from the disk: each file is evicted right after its read."""

    def __init__(self, dataset: CropDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        item = self.dataset[key]
        evict(self.dataset.wav[self.dataset.utts[key[1]]])
        return item


def batches_forever(loader, sampler: ShardedBatchSampler):
    epoch = 0
    while True:
        sampler.set_position(epoch)
        yield from loader
        epoch += 1


def feed_rate(dataset, workers: int, batches: int, warmup: int, seed: int) -> float:
    """Augmented crops per second delivered by `workers` DataLoader workers to a consumer doing nothing."""
    sampler = ShardedBatchSampler(len(dataset), BATCH_PER_GPU, seed=seed)
    loader = make_loader(dataset, sampler, workers)
    stream = batches_forever(loader, sampler)
    for _ in range(warmup):
        next(stream)
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    rate = batches * BATCH_PER_GPU / (time.perf_counter() - start)
    del stream, loader
    return rate


def wait_fraction(dataset, workers: int, batches: int, warmup: int, step_s: float, seed: int):
    """The DataWaitMeter interval of a consumer spending `step_s` per batch (asleep: a GPU-bound step)."""
    sampler = ShardedBatchSampler(len(dataset), BATCH_PER_GPU, seed=seed)
    loader = make_loader(dataset, sampler, workers)
    meter = DataWaitMeter()
    for count, _ in enumerate(meter.iterate(batches_forever(loader, sampler)), 1):
        if count == warmup:
            meter.lap()
        time.sleep(step_s)
        if count == warmup + batches:
            break
    interval = meter.lap()
    del loader
    return interval


def read_check(path: str) -> tuple[float, float]:
    """(cold, warm) milliseconds to read one whole file: shows whether eviction reaches the disk."""
    times = {}
    for mode in ("cold", "warm"):
        runs = []
        for _ in range(5):
            if mode == "cold":
                evict(path)
            start = time.perf_counter()
            with open(path, "rb") as handle:
                handle.read()
            runs.append(time.perf_counter() - start)
        times[mode] = statistics.median(runs) * 1000
    return times["cold"], times["warm"]


def memory_line(packs: list[Path]) -> str:
    size = sum((p / PACK_DIR / AUDIO).stat().st_size for p in packs)
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    total, avail = (int(meminfo[k].split()[0]) / 2**20 for k in ("MemTotal", "MemAvailable"))
    fits = "fit" if size / 2**30 < avail else "do NOT fit"
    return (f"augmentation packs {size / 2**30:.2f} GiB; RAM {total:.1f} GiB, available {avail:.1f} GiB: the "
            f"packs {fits} in the page cache")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--cache", type=Path, default=Path.home() / ".cache" / "ssrfnet" / "bench_loader",
        help="where the packs and the crop corpus are generated once and reused")
    add("--data", type=Path, default=None,
        help="data dir of wav files to crop (default: a scale-corpus vox2_train under --cache)")
    add("--crop-scale", type=float, default=0.005, help="scale of the default crop corpus")
    add("--pack-scale", type=float, default=1.0, help="fraction of the real pack sizes")
    add("--rir-seconds", type=float, default=1.0, help="length of each simulated RIR")
    add("--workers", default="1,2", help="DataLoader worker counts to measure")
    add("--reads", default="cold,warm", help="cold and/or warm file reads (the first one sizes the workers)")
    add("--batches", type=int, default=40, help=f"timed batches of {BATCH_PER_GPU} crops")
    add("--warmup", type=int, default=4, help="batches left out at the start (worker start-up)")
    add("--gpu-steps-per-s", type=float, default=15.0,
        help="GPU training steps per second at batch 32 (see the module doc for the default)")
    add("--step-ms", type=float, default=None,
        help="consumer time per batch for the wait measurement (default 1000 / --gpu-steps-per-s)")
    add("--nj", type=int, default=2, help="threads/jobs for generating the packs and data")
    add("--seed", type=int, default=0)
    return parser


def setup(args) -> tuple[CropDataset, list[Path]]:
    aug_root = args.cache / f"aug_scale{args.pack_scale:g}_rir{args.rir_seconds:g}"
    specs = pack_specs(args.pack_scale, args.rir_seconds)
    print(f"augmentation packs under {aug_root} (pack scale {args.pack_scale:g}):")
    packs = [ensure_pack(aug_root, name, clips, mean, args.nj) for name, (clips, mean) in specs.items()]
    for name, (clips, mean) in specs.items():
        print(f"  {name:13s} {clips:6d} clips, mean {mean:7.1f} s, {clips * mean / 3600:7.1f} h")
    data = args.data
    if data is None:
        data = ensure_crop_data(args.cache / f"crops_scale{args.crop_scale:g}", args.crop_scale, args.nj)
    augmenter = Augmenter.from_dirs(AugmentConfig(), str(aug_root), str(aug_root / "rirs"))
    dataset = CropDataset(data, CROP_SAMPLES, seed=args.seed, augmenter=augmenter)
    cold, warm = read_check(dataset.wav[dataset.utts[0]])
    print(f"crops from {data}: {len(dataset)} utterances; one file read cold {cold:.2f} ms, "
          f"warm {warm:.2f} ms")
    print(memory_line(packs))
    print(f"mix: {', '.join(augmenter.types)} with p={augmenter.config.prob}; batch {BATCH_PER_GPU}; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    return dataset, packs


def source_for(mode: str, dataset: CropDataset, packs: list[Path]):
    """The dataset to load from in `mode`; cold runs start with the packs out of the page cache too."""
    if mode == "warm":
        return dataset
    for pack in packs:
        evict(pack / PACK_DIR / AUDIO)
    return ColdReads(dataset)


def main(argv=None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    workers = [int(w) for w in args.workers.split(",")]
    modes = [m for m in args.reads.split(",") if m]
    if not modes or any(m not in ("cold", "warm") for m in modes):
        parser.error(f"--reads takes cold and/or warm, not {args.reads!r}")
    step_s = (args.step_ms / 1000) if args.step_ms else 1.0 / args.gpu_steps_per_s
    dataset, packs = setup(args)

    rates: dict[tuple[str, int], float] = {}
    for mode in modes:
        for count in workers:
            rate = feed_rate(source_for(mode, dataset, packs), count, args.batches, args.warmup, args.seed)
            rates[mode, count] = rate
            print(f"  {mode} reads, {count} worker(s): {rate:7.1f} crops/s = {rate / count:7.1f} per worker")

    mode = modes[0]
    per_worker = min(rates[mode, count] / count for count in workers)
    need = BATCH_PER_GPU * args.gpu_steps_per_s
    print(f"\nat {args.gpu_steps_per_s:g} GPU steps/s of batch {BATCH_PER_GPU}: {need:.0f} crops/s per GPU; "
          f"at {per_worker:.1f} crops/s per worker ({mode} reads, the lowest per-worker rate measured) "
          f"that is {math.ceil(need / per_worker)} workers per GPU (plus the training process; a core each)")
    print(f"consumer spending {step_s * 1000:.1f} ms per batch ({mode} reads):")
    for count in workers:
        interval = wait_fraction(source_for(mode, dataset, packs), count, args.batches, args.warmup, step_s,
                                 args.seed)
        expected = max(0.0, 1 - step_s * rates[mode, count] / BATCH_PER_GPU)
        print(f"  {count} worker(s): waits {100 * interval.fraction:5.1f} % of the time "
              f"({interval.mean_wait_ms:.1f} ms per batch; the feed rate alone predicts "
              f"{100 * expected:.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
