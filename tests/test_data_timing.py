"""The data-wait meter: exact accounting on a fake clock, laps, epochs, and a real DataLoader."""

from __future__ import annotations

import time

import pytest
import torch

from ssrfnet.data.timing import DataWaitMeter, WaitInterval


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class SlowSource:
    """Items that take `waits[i]` fake seconds to arrive; starting an epoch takes `start` seconds."""

    def __init__(self, clock: FakeClock, waits: list[float], start: float = 0.0, end: float = 0.0):
        self.clock, self.waits, self.start, self.end = clock, waits, start, end

    def __iter__(self):
        self.clock.now += self.start
        return self._items()

    def _items(self):
        for i, wait in enumerate(self.waits):
            self.clock.now += wait
            yield i
        self.clock.now += self.end


def test_fraction_of_an_interval_is_exact():
    clock = FakeClock()
    meter = DataWaitMeter(clock)
    source = SlowSource(clock, [0.1, 0.3, 0.1], start=0.5, end=0.2)
    seen = []
    for item in meter.iterate(source):
        seen.append(item)
        clock.now += 1.0  # the training step
    clock.now += 0.3  # logging, checkpointing: not data waiting
    lap = meter.lap()
    assert seen == [0, 1, 2] and lap.batches == 3
    assert lap.wait_s == pytest.approx(0.5 + 0.5 + 0.2)
    assert lap.total_s == pytest.approx(1.2 + 3.0 + 0.3)
    assert lap.fraction == pytest.approx(1.2 / 4.5)
    assert lap.mean_wait_ms == pytest.approx(400.0)


def test_laps_split_the_time_and_epochs_share_the_meter():
    clock = FakeClock()
    meter = DataWaitMeter(clock)
    laps = []
    for _epoch in range(2):
        for step, _ in enumerate(meter.iterate(SlowSource(clock, [0.25, 0.25, 0.25, 0.25])), 1):
            clock.now += 0.75
            if step % 2 == 0:
                laps.append(meter.lap())
    assert len(laps) == 4
    for lap in laps:
        assert lap.batches == 2 and lap.fraction == pytest.approx(0.25)
    empty = meter.lap()
    assert empty == WaitInterval(0.0, 0.0, 0) and empty.fraction == 0.0 and empty.mean_wait_ms == 0.0


def test_leaving_the_loop_early_keeps_the_counts():
    clock = FakeClock()
    meter = DataWaitMeter(clock)
    for item in meter.iterate(SlowSource(clock, [1.0] * 10)):
        clock.now += 3.0
        if item == 1:
            break
    lap = meter.lap()
    assert lap.batches == 2 and lap.wait_s == pytest.approx(2.0) and lap.fraction == pytest.approx(2.0 / 8.0)


class SleepyDataset(torch.utils.data.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        time.sleep(0.03)
        return torch.full((4,), float(i))


def test_a_starving_dataloader_shows_up():
    loader = torch.utils.data.DataLoader(SleepyDataset(), batch_size=2, num_workers=0)
    meter = DataWaitMeter()
    batches = [batch for batch in meter.iterate(loader)]  # a consumer that does nothing: all waiting
    lap = meter.lap()
    assert len(batches) == 3 and lap.batches == 3
    assert lap.wait_s >= 6 * 0.03 and lap.fraction > 0.9
    assert torch.equal(batches[1], torch.tensor([[2.0] * 4, [3.0] * 4]))
