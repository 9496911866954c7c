"""The official two-phase learning-rate schedule, as a pure function of the global step.

Phase 1 (AdamW), steps [0, sgd_switch_step):
    [0, warmup)                linear  lr_init -> lr_max
    [warmup, sgd_switch_step)  cosine  lr_max  -> lr_min
Phase 2 (Nesterov SGD, fresh optimizer state), steps [sgd_switch_step, max_steps):
    first sgd_warmup_steps     linear  sgd_lr_init -> sgd_lr_max
    then up to max_steps       cosine  sgd_lr_max  -> sgd_lr_min
With sgd_switch_step = 0 (or >= max_steps) phase 1 runs to max_steps. This reproduces the official
CosineAnnealingWarmUpRestarts trace (T_0=32000, T_up=2000, eta_max=1e-3, gamma=100) plus its optimizer swap,
but never restarts past max_steps. Because the LR depends only on the step, resuming restores it exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LRSchedule:
    max_steps: int
    lr_init: float = 1e-4
    lr_max: float = 1e-3
    warmup_steps: int = 2000
    lr_min: float = 1e-4
    sgd_switch_step: int = 32000
    sgd_lr_init: float = 1e-4
    sgd_lr_max: float = 0.1
    sgd_warmup_steps: int = 2000
    sgd_lr_min: float = 1e-4

    @classmethod
    def from_options(cls, cfg: dict) -> LRSchedule:
        return cls(**{k: cfg[k] for k in cls.__dataclass_fields__})

    @property
    def switch(self) -> int:
        """The step where SGD takes over, or max_steps when it never does."""
        if self.sgd_switch_step <= 0 or self.sgd_switch_step >= self.max_steps:
            return self.max_steps
        return self.sgd_switch_step

    def phase(self, step: int) -> str:
        return "sgd" if step >= self.switch else "adamw"

    @staticmethod
    def _warmup_cosine(t: int, end: int, lr0: float, peak: float, low: float, warmup: int) -> float:
        if t < warmup:
            return lr0 + (peak - lr0) * t / warmup
        span = max(1, end - warmup)
        progress = min(1.0, (t - warmup) / span)
        return low + (peak - low) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def __call__(self, step: int) -> float:
        if step < self.switch:
            return self._warmup_cosine(step, self.switch, self.lr_init, self.lr_max, self.lr_min,
                                       self.warmup_steps)
        return self._warmup_cosine(step - self.switch, self.max_steps - self.switch, self.sgd_lr_init,
                                   self.sgd_lr_max, self.sgd_lr_min, self.sgd_warmup_steps)
