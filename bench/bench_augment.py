"""Augmented 3 s crops per second in one process (= one DataLoader worker), per augmentation type.

    python bench/bench_augment.py [--musan-dir data --rirs-dir data/rirs] [--crops 300] [--runs 5]

Without stage-1 directories it synthesises stand-in sources (noise, music, babble talkers, RIRs of 0.3-1.0 s).
Prints the median over --runs of crops/s for the default mix (p=0.8, six types) and for each type alone, and
the load average (this machine is shared, so timings are noisy). Target: >= 150 crops/s per CPU core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssrfnet.data.augment import AUG_TYPES, ArraySource, AugmentConfig, Augmenter  # noqa: E402


def synthetic_sources(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)

    def clips(count, lo, hi, scale=0.1):
        return ArraySource([(rng.standard_normal(int(rng.integers(lo, hi))) * scale).astype(np.float32)
                            for _ in range(count)])

    rirs = []
    for _ in range(40):
        n = int(rng.integers(4800, 16000))
        rirs.append((rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 6))).astype(np.float32))
    return {"musan_noise": clips(30, 16000, 160000), "musan_music": clips(20, 160000, 480000),
            "musan_speech": clips(40, 48000, 200000), "rirs": ArraySource(rirs)}


def rate(aug: Augmenter, crops: int, aug_type: str | None) -> float:
    x = (np.random.default_rng(1).standard_normal(48000) * 0.1).astype(np.float32)
    start = time.perf_counter()
    for i in range(crops):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([0, 0, i])))
        if aug_type is None:
            aug(x, rng)
        else:
            aug.apply(x, aug_type, rng)
    return crops / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--musan-dir", default=None)
    parser.add_argument("--rirs-dir", default=None)
    parser.add_argument("--crops", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cfg = AugmentConfig()
    if args.musan_dir or args.rirs_dir:
        aug = Augmenter.from_dirs(cfg, args.musan_dir, args.rirs_dir)
        where = f"{args.musan_dir} / {args.rirs_dir}"
    else:
        aug = Augmenter(cfg, synthetic_sources())
        where = "synthetic stand-in sources"
    rate(aug, 50, None)  # warm up (RIR spectrum cache, FFT plans)
    print(f"augmented 3 s crops per second, one process, median of {args.runs} runs x {args.crops} crops "
          f"({where})")
    rows = [("mix (p=0.8, 6 types)", None)] + [(t, t) for t in AUG_TYPES if t in aug.types]
    for name, aug_type in rows:
        rates = [rate(aug, args.crops, aug_type) for _ in range(args.runs)]
        median = statistics.median(rates)
        print(f"  {name:22s} {median:8.0f} crops/s   (min {min(rates):.0f}, max {max(rates):.0f})")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
