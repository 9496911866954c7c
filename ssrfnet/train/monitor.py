"""What a training run reports: train.log (and stderr), TensorBoard scalars and a progress bar, on rank 0.

Every --log-every steps one line gives the mean loss, SV and KD losses, accuracy, LR, gradient norm,
samples/s and the fraction of the interval spent waiting for the data loader (a starving GPU shows at once).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

log = logging.getLogger("ssrfnet.train")
_package_log = logging.getLogger("ssrfnet")  # parent of every module logger (data, checkpoints, ...)


def setup_logging(exp: Path, is_main: bool) -> None:
    """Rank 0 logs the package's INFO messages to <exp>/train.log and stderr; other ranks only warnings."""
    for handler in list(_package_log.handlers):
        _package_log.removeHandler(handler)
        handler.close()
    if not is_main:
        _package_log.setLevel(logging.WARNING)
        return
    _package_log.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    for handler in (logging.FileHandler(exp / "train.log", mode="a", encoding="utf-8"),
                    logging.StreamHandler(sys.stderr)):
        handler.setFormatter(fmt)
        _package_log.addHandler(handler)


class Monitor:
    """Accumulates step statistics and writes them every `log_every` steps (rank 0; a no-op elsewhere)."""

    NAMES = ("loss", "sv", "kd", "acc")

    def __init__(self, exp: Path, is_main: bool, mode: str, start_step: int, total_steps: int,
                 log_every: int):
        self.active = is_main
        self.log_every = log_every
        self.writer = self.progress = None
        if is_main:
            from torch.utils.tensorboard import SummaryWriter
            from tqdm import tqdm

            self.writer = SummaryWriter(str(exp / "tensorboard"), purge_step=start_step + 1)
            self.progress = tqdm(total=total_steps, initial=start_step, file=sys.stderr, dynamic_ncols=True,
                                 desc=mode, mininterval=1.0 if sys.stderr.isatty() else 30.0)
        self._reset()

    def _reset(self) -> None:
        self.sums = dict.fromkeys((*self.NAMES, "gnorm"), 0.0)
        self.count = self.samples = 0
        self.started = time.time()

    def step(self, result, samples: int) -> None:
        """Account one consumed batch (`result`: step.StepResult; skipped steps count samples only)."""
        self.samples += samples
        if result.finite:
            for name, value in zip(self.NAMES, result.losses.tolist()):
                self.sums[name] += value
            self.sums["gnorm"] += result.grad_norm
            self.count += 1
        if self.progress is not None:
            self.progress.update(1)

    def scalar(self, name: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(name, value, step)
            self.writer.flush()

    def due(self, step: int) -> bool:
        return step % self.log_every == 0

    def log(self, step: int, epoch: int, lr: float, wait: float, margin: float | None = None) -> None:
        """The interval's line and scalars; `wait`: the fraction of it spent waiting for data (the largest
        over the ranks: the slowest loader holds every DDP step back); `margin`: the AAM margin, when a
        schedule moves it (stage 7)."""
        if not self.active or not self.count:
            return
        elapsed = max(1e-9, time.time() - self.started)
        means = {k: v / self.count for k, v in self.sums.items()}
        rate = self.samples / elapsed
        log.info("step %d epoch %d loss %.4f sv %.4f kd %.4f acc %.4f lr %.3e grad_norm %.3f samples/s %.1f "
                 "data_wait %.0f%%", step, epoch, means["loss"], means["sv"], means["kd"], means["acc"], lr,
                 means["gnorm"], rate, 100 * wait)
        scalars = {"train/loss": means["loss"], "train/sv_loss": means["sv"], "train/kd_loss": means["kd"],
                   "train/accuracy": means["acc"], "train/lr": lr, "train/grad_norm": means["gnorm"],
                   "train/samples_per_s": rate, "train/data_wait_fraction": wait}
        if margin is not None:
            log.info("step %d: AAM margin %.4f", step, margin)
            scalars["train/aam_margin"] = margin
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)
        self.progress.set_postfix(loss=f"{means['loss']:.3f}", acc=f"{means['acc']:.3f}", lr=f"{lr:.2e}")
        self._reset()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
        if self.writer is not None:
            self.writer.close()
