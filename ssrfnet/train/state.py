"""The state a training run carries from step to step, as a checkpoint holds it: the position (global step,
epoch, batch within the epoch), the optimizer phase and state, the NaN counters, every RNG.

`TrainState.start` resumes from `<exp>/checkpoints/latest` when there is one (refusing a checkpoint of another
mode or model configuration), otherwise starts at step 0, initialising the stage-3 student from --init (a
model with a student), or the stage-7 model and AAM head from the stage-3 model file --init.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ssrfnet.train import distributed
from ssrfnet.train.checkpoint import capture_rng, find_resume_checkpoint, restore_rng, save_checkpoint
from ssrfnet.train.finetune import init_from_model
from ssrfnet.train.runconfig import RunConfig, RunPaths, TrainError
from ssrfnet.train.setup import TrainParts, init_student
from ssrfnet.train.step import NanCounter, StepResult, make_optimizer

log = logging.getLogger("ssrfnet.train")


@dataclass
class TrainState:
    parts: TrainParts
    options: dict
    params: list
    optimizer_name: str
    optimizer: torch.optim.Optimizer = None
    step: int = 0
    epoch: int = 0
    batch: int = 0
    nans: NanCounter = field(default_factory=NanCounter)
    last_result: StepResult | None = None  # the latest step's losses and gradient norm (for hooks)
    scaler: torch.amp.GradScaler = field(  # bf16 needs no loss scaling; kept for the checkpoint format
        default_factory=lambda: torch.amp.GradScaler("cuda", enabled=False))

    @classmethod
    def start(cls, parts: TrainParts, cfg: RunConfig, paths: RunPaths, force_new: bool,
              spk2id: dict[str, int] | None = None) -> TrainState:
        module = parts.module
        params = [p for p in module.parameters() if p.requires_grad]
        state = cls(parts, cfg.options, params, parts.schedule.phase(0))
        ckpt_dir = Path(paths.exp_dir) / "checkpoints"
        if cfg.mode == "lmft" and not paths.init:
            raise TrainError("--mode lmft needs --init <the stage-3 model, exp/<name>/final.pt>")
        resumed = find_resume_checkpoint(ckpt_dir)
        if resumed is not None:
            state._load(*resumed, cfg.mode, force_new)
        else:
            state.optimizer = make_optimizer(state.optimizer_name, params, state.options)
            if cfg.mode == "lmft":
                init_from_model(module, paths.init, cfg.model, spk2id or {})
            elif cfg.mode == "ssrfnet" and parts.has_student and state.options["init_student"]:
                if not paths.init:
                    raise TrainError("--init-student=true needs --init <stage-2 final.pt> "
                                     "(or set --init-student=false)")
                init_student(module, paths.init)
        return state

    def _load(self, path: Path, ckpt: dict, mode: str, force_new: bool) -> None:
        if ckpt.get("mode") != mode:
            raise TrainError(f"{path} is a --mode {ckpt.get('mode')} checkpoint, this is --mode {mode}")
        if ckpt.get("config_digest") != self.parts.digest and not force_new:
            raise TrainError(f"{path} was trained with another model configuration (digest "
                             f"{ckpt.get('config_digest')} vs {self.parts.digest}); use --force-new to "
                             "start over")
        module = self.parts.module
        module.model.load_state_dict(ckpt["model"])
        if module.kd is not None:
            module.kd.load_state_dict(ckpt["kd"])
        if module.aam is not None:
            module.aam.load_state_dict(ckpt["aam"])
        self.optimizer_name = ckpt["optimizer_name"]
        self.optimizer = make_optimizer(self.optimizer_name, self.params, self.options)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step, self.epoch, self.batch = ckpt["step"], ckpt["epoch"], ckpt["batch"]
        self.nans = NanCounter(ckpt["nan_total"], ckpt["nan_streak"])
        restore_rng(ckpt["rng"])
        log.info("resuming from %s (step %d, epoch %d, batch %d, optimizer %s)", path, self.step, self.epoch,
                 self.batch, self.optimizer_name)

    def enter_phase(self) -> None:
        """Switch AdamW -> SGD when the schedule says so (a fresh optimizer; the old state is dropped)."""
        wanted = self.parts.schedule.phase(self.step)
        if wanted != self.optimizer_name:
            self.optimizer_name = wanted
            self.optimizer = make_optimizer(wanted, self.params, self.options)
            log.info("step %d: switching optimizer to %s (state of the previous one dropped)", self.step,
                     wanted)

    def set_lr(self) -> float:
        lr = self.parts.schedule(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def set_margin(self) -> float | None:
        """The AAM margin of this step (stage 7 ramps it); None without an AAM head."""
        aam = self.parts.module.aam
        if aam is None or self.parts.margin is None:
            return None
        aam.margin = float(self.parts.margin(self.step))
        return aam.margin

    def advance(self) -> None:
        self.step += 1
        self.batch += 1
        if self.batch >= self.parts.sampler.num_batches:
            self.epoch, self.batch = self.epoch + 1, 0

    def checkpoint(self, cfg: RunConfig, world_size: int) -> dict:
        module = self.parts.module
        kd = module.kd
        return {
            "mode": cfg.mode, "config": cfg.all_values(), "model_config": cfg.model,
            "config_digest": self.parts.digest, "step": self.step, "epoch": self.epoch, "batch": self.batch,
            "model": module.model.state_dict(), "kd": kd.state_dict() if kd is not None else None,
            "kd_config": {"student_dim": kd.heads.student_dim, "teacher_dim": kd.heads.teacher_dim,
                          "num_heads": kd.num_heads} if kd is not None else None,
            "aam": module.aam.state_dict() if module.aam is not None else None,
            "optimizer_name": self.optimizer_name, "optimizer": self.optimizer.state_dict(),
            "scheduler": {"step": self.step, "lr": self.parts.schedule(self.step),
                          "phase": self.optimizer_name},
            "scaler": self.scaler.state_dict(), "rng": capture_rng(),
            "nan_total": self.nans.total, "nan_streak": self.nans.streak,
            "num_classes": self.parts.num_classes, "world_size": world_size,
        }

    def save(self, cfg: RunConfig, ckpt_dir: Path, dist: distributed.DistInfo) -> None:
        """Rank 0 writes checkpoints/step_N.pt (and prunes old ones); every rank waits for it."""
        if dist.is_main:
            if not all(bool(torch.isfinite(p).all()) for p in self.parts.module.parameters()):
                raise TrainError(f"step {self.step}: parameters are not finite; no checkpoint written")
            keep = max(self.options["keep_checkpoints"], self.options["num_avg"])
            path = save_checkpoint(ckpt_dir, self.checkpoint(cfg, dist.world_size), keep=keep)
            log.info("step %d: checkpoint %s", self.step, path)
        distributed.barrier(dist)
