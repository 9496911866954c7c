"""One optimisation step: the module DDP wraps (model + KD heads + AAM head returning the losses), the
optimizers of the two phases, and the policy for steps whose loss or gradient is not finite.

A batch whose loss or gradient norm is not finite on any rank is skipped (no optimizer update); the step
still counts as consumed, and --max-nan-steps consecutive ones abort the run.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from ssrfnet.train import distributed
from ssrfnet.train.runconfig import TrainError


def student_of(model: nn.Module) -> nn.Module:
    return getattr(model, "student", model)


class TrainModule(nn.Module):
    """Student/model + KD heads (+ AAM head); forward returns (loss, sv_loss, kd_loss, accuracy) of a batch.

    mode 'distill': the student alone learns to predict teacher layers (KD loss only) from the augmented
    crop (or the clean one, student_input='clean'); mode 'ssrfnet': loss = AAM(+top-K) + kd_weight * KD.
    """

    def __init__(self, mode: str, model: nn.Module, kd: nn.Module | None, aam: nn.Module | None,
                 kd_weight: float, student_input: str):
        super().__init__()
        self.mode = mode
        self.model = model
        self.kd = kd
        self.aam = aam
        self.kd_weight = float(kd_weight)
        self.student_input = student_input

    def forward(self, clean, noisy, labels, targets):
        zero = noisy.new_zeros(())
        if self.mode == "distill":
            hidden = self.model(noisy if self.student_input == "augmented" else clean)
            kd_loss = self.kd(hidden[:, -1], targets)
            return kd_loss, zero.detach(), kd_loss, zero.detach()
        emb, hidden = self.model.forward_train(noisy)
        sv_loss, accuracy = self.aam(emb, labels)
        if self.kd is not None and targets is not None:
            kd_loss = self.kd(hidden[:, -1], targets)
            return sv_loss + self.kd_weight * kd_loss, sv_loss, kd_loss, accuracy
        return sv_loss, sv_loss, zero.detach(), accuracy


def make_optimizer(name: str, params, options: dict) -> torch.optim.Optimizer:
    """AdamW for phase 1, Nesterov SGD for phase 2 (a fresh optimizer at the switch, as the official code)."""
    if name == "adamw":
        return torch.optim.AdamW(params, lr=options["lr_init"], weight_decay=options["weight_decay"])
    return torch.optim.SGD(params, lr=options["sgd_lr_init"], momentum=options["sgd_momentum"], nesterov=True,
                           weight_decay=options["weight_decay"])


def autocast(device: torch.device, bf16: bool):
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class StepResult:
    losses: torch.Tensor  # (loss, sv_loss, kd_loss, accuracy), detached, averaged over the ranks
    grad_norm: float
    finite: bool
    loss_value: float


def train_step(module: nn.Module, optimizer: torch.optim.Optimizer, params: list, batch, teacher,
               options: dict, dist: distributed.DistInfo) -> StepResult:
    """Forward (the teacher sees the clean crop), backward, clipping, and the update when finite."""
    clean, noisy, labels = (t.to(dist.device, non_blocking=True) for t in batch)
    targets = None
    if teacher is not None:
        with torch.inference_mode():
            targets = teacher(clean)
        targets = targets.float().clone()  # a normal tensor: the KD loss keeps it in its graph
    optimizer.zero_grad(set_to_none=True)
    with autocast(dist.device, options["bf16"]):
        loss, sv_loss, kd_loss, accuracy = module(clean, noisy, labels, targets)
    loss.backward()
    clip = options["grad_clip"] if options["grad_clip"] > 0 else float("inf")
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
    loss_value = float(loss.detach())
    bad = distributed.any_true(not (math.isfinite(loss_value) and math.isfinite(grad_norm)), dist)
    stats = torch.stack([v.detach().float() for v in (loss, sv_loss, kd_loss, accuracy)])
    if bad:
        optimizer.zero_grad(set_to_none=True)
    else:
        optimizer.step()
        stats = distributed.mean_over_ranks(stats, dist)
    return StepResult(stats.cpu(), grad_norm, not bad, loss_value)


@dataclass
class NanCounter:
    total: int = 0
    streak: int = 0

    def update(self, result: StepResult, step: int, limit: int, ckpt_dir) -> str | None:
        """Count a skipped step; raise after `limit` in a row. Returns the warning to log, if any."""
        if result.finite:
            self.streak = 0
            return None
        self.total += 1
        self.streak += 1
        if self.streak >= limit:
            raise TrainError(
                f"{self.streak} consecutive steps had a non-finite loss or gradient (step {step}); aborting. "
                f"The last good checkpoint is untouched in {ckpt_dir}; lower the LR or check the data, then "
                "re-run to resume.")
        return (f"step {step}: non-finite loss {result.loss_value:.4g} or gradient norm "
                f"{result.grad_norm:.4g}: step skipped ({self.streak} in a row, {self.total} in total)")
