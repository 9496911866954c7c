"""How much of the training time goes to waiting for the next batch, so that a starving GPU shows at once.

    meter = DataWaitMeter()
    for clean, noisy, labels in meter.iterate(loader):     # every epoch, the same meter
        ...                                                # the training step
        if step % log_every == 0:
            wait = meter.lap()                             # the interval since the previous lap
            log.info("... data_wait %.1f%%", 100 * wait.fraction)
            writer.add_scalar("train/data_wait_fraction", wait.fraction, step)

`iterate` times every `next()` on the loader (and the `iter()` that starts an epoch, which starts or resets
the workers), i.e. the wall time the consumer is blocked on data; `lap()` returns that against the wall time
since the previous lap (or since the meter was made) and starts a new interval. Host-side timing: with CUDA,
a loop that synchronises once per step (reading the loss, clipping the gradient norm) makes the blocked time
the time the GPU has nothing to do; each DDP rank measures its own loader.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class WaitInterval:
    """One logging interval: seconds blocked on data, wall seconds, and batches delivered."""

    wait_s: float
    total_s: float
    batches: int

    @property
    def fraction(self) -> float:
        """Share of the interval spent waiting for data, in [0, 1] (0 for an empty interval)."""
        if self.total_s <= 0:
            return 0.0
        return min(1.0, max(0.0, self.wait_s / self.total_s))

    @property
    def mean_wait_ms(self) -> float:
        return 1000.0 * self.wait_s / self.batches if self.batches else 0.0


class DataWaitMeter:
    """Accumulates the time spent blocked on an iterable's items, per interval (see the module doc)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self._clock = clock
        self._start = clock()
        self._wait = 0.0
        self._batches = 0

    def iterate(self, iterable: Iterable[T]) -> Iterator[T]:
        """Yield the items of `iterable`, adding the time each one took to arrive to the current interval."""
        clock = self._clock
        before = clock()
        iterator = iter(iterable)
        self._wait += clock() - before
        while True:
            before = clock()
            try:
                item = next(iterator)
            except StopIteration:
                self._wait += clock() - before
                return
            self._wait += clock() - before
            self._batches += 1
            yield item

    def lap(self) -> WaitInterval:
        """The interval since the previous lap; starts the next one."""
        now = self._clock()
        interval = WaitInterval(self._wait, now - self._start, self._batches)
        self._start, self._wait, self._batches = now, 0.0, 0
        return interval
