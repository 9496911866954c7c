"""Wall-clock timing for benchmarks and export reports: the median of several runs after warm-ups."""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, runs: int, warmup: int = 1) -> float:
    """Call `fn` `warmup` times untimed, then `runs` times; return the median wall-clock seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
