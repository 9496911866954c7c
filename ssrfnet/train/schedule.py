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

Stage 7 (large-margin fine-tuning) runs the phase-1 shape alone with the optimizer `--lm-optimizer` names
(`LRSchedule.for_mode`), and `MarginSchedule` ramps the AAM margin, also a pure function of the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace


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
    first_phase: str = "adamw"  # the optimizer of phase 1 (stage 7 may run SGD alone)

    @classmethod
    def from_options(cls, cfg: dict) -> LRSchedule:
        return cls(**{f.name: cfg[f.name] for f in fields(cls) if f.name != "first_phase"})

    @classmethod
    def for_mode(cls, mode: str, cfg: dict) -> LRSchedule:
        """The schedule of a training mode: stage 7 (lmft) is one phase of the --lm-optimizer."""
        schedule = cls.from_options(cfg)
        if mode == "lmft":
            return replace(schedule, sgd_switch_step=0, first_phase=cfg["lm_optimizer"])
        return schedule

    @property
    def switch(self) -> int:
        """The step where SGD takes over, or max_steps when it never does."""
        if self.sgd_switch_step <= 0 or self.sgd_switch_step >= self.max_steps:
            return self.max_steps
        return self.sgd_switch_step

    def phase(self, step: int) -> str:
        return "sgd" if step >= self.switch else self.first_phase

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


@dataclass(frozen=True)
class MarginSchedule:
    """The AAM margin of a step: `start` rising linearly to `end` over the first `ramp_steps` steps."""

    start: float
    end: float
    ramp_steps: int = 0

    @classmethod
    def for_mode(cls, mode: str, cfg: dict) -> MarginSchedule:
        """Stage 7: --aam-margin -> --lm-margin over --lm-margin-ramp-steps; other stages: --aam-margin."""
        if mode == "lmft":
            return cls(cfg["aam_margin"], cfg["lm_margin"], max(0, int(cfg["lm_margin_ramp_steps"])))
        return cls(cfg["aam_margin"], cfg["aam_margin"])

    def __call__(self, step: int) -> float:
        if self.ramp_steps <= 0 or step >= self.ramp_steps:
            return self.end
        return self.start + (self.end - self.start) * step / self.ramp_steps
