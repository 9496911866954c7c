"""Stage 2 (student distillation), stage 3 (OS-KDFT, or AAM alone for a student-free model) and stage 7
(large-margin fine-tuning: the margin ramped, longer crops) training: the run from start to final.pt.

Every run resumes by itself from `<exp>/checkpoints/latest` (see checkpoint.py for what a checkpoint holds and
state.py for what it restores). The global step counts batches consumed; the LR is a function of the step
(schedule.py), and AdamW becomes Nesterov SGD at --sgd-switch-step. Checkpoints every --save-every steps, the
development EER every --valid-every (validate.py), and at the end final.pt = the average of the last
--num-avg checkpoints.

`build_model`, `build_teacher` and `after_step(state)` are ordinary parameters: the tests pass small
stand-ins, an `after_step` that kills the process to simulate a crash, or one that reads a step's gradients.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from torch import nn

from ssrfnet.data import DataWaitMeter, make_loader
from ssrfnet.errors import CheckpointError
from ssrfnet.models import build_model as default_build_model
from ssrfnet.train import distributed
from ssrfnet.train.checkpoint import average_checkpoints, list_checkpoints, select_for_average
from ssrfnet.train.monitor import Monitor, log, setup_logging
from ssrfnet.train.runconfig import RunConfig, RunPaths, check_saved_config, write_effective_config
from ssrfnet.train.setup import TrainParts, build_parts, default_build_teacher, seed_everything, speaker_list
from ssrfnet.train.state import TrainState
from ssrfnet.train.step import train_step
from ssrfnet.train.validate import StudentEmbedder, Validator


def train(cfg: RunConfig, paths: RunPaths, *, force_new: bool = False, device: str = "auto",
          build_model: Callable = default_build_model, build_teacher: Callable = default_build_teacher,
          after_step: Callable[[TrainState], None] | None = None, command: str = "") -> Path:
    """Run (or resume) stage 2/3 training; returns the path of final.pt."""
    dist = distributed.setup(device)
    try:
        exp = prepare_experiment(cfg, paths, force_new, dist)
        seed_everything(cfg.options, dist.device)
        spk2id = speaker_list(exp, paths.train_data, dist, cfg.options["speed_perturb"])
        parts = build_parts(cfg, paths, spk2id, dist, build_model, build_teacher)
        state = TrainState.start(parts, cfg, paths, force_new, spk2id)
        if dist.is_main:
            write_effective_config(exp, cfg, command)
        log.info("mode %s: %d training utterances, %d speakers, crop %d samples, %.2f M model parameters, "
                 "%d rank(s) x %d per batch, device %s", cfg.mode, len(parts.dataset), parts.num_classes,
                 parts.crop_samples, sum(p.numel() for p in parts.module.model.parameters()) / 1e6,
                 dist.world_size, parts.sampler.batch_size, dist.device)
        run_steps(state, cfg, paths, dist, after_step)
        return finish(exp, state.options, dist)
    finally:
        distributed.cleanup(dist)


def prepare_experiment(cfg: RunConfig, paths: RunPaths, force_new: bool, dist: distributed.DistInfo) -> Path:
    """<exp>/log, logging, the saved-config check and --force-new (old checkpoints moved aside)."""
    exp = Path(paths.exp_dir)
    ckpt_dir = exp / "checkpoints"
    if dist.is_main:
        (exp / "log").mkdir(parents=True, exist_ok=True)
    distributed.barrier(dist)
    setup_logging(exp, dist.is_main)
    if dist.is_main:
        check_saved_config(exp, cfg, force_new)
        if force_new and list_checkpoints(ckpt_dir):
            moved = exp / f"checkpoints.old-{time.strftime('%Y%m%d-%H%M%S')}"
            shutil.move(str(ckpt_dir), str(moved))
            (exp / "spk2id").unlink(missing_ok=True)
            log.info("--force-new: previous checkpoints moved to %s", moved)
    distributed.barrier(dist)
    return exp


def make_validator(parts: TrainParts, paths: RunPaths, options: dict, dist) -> Validator | None:
    if dist.is_main and options["valid_every"] > 0 and paths.dev_data and paths.dev_trials:
        return Validator(paths.dev_data, paths.dev_trials, options)
    return None


def validate(validator: Validator | None, parts: TrainParts, step: int, monitor: Monitor, dist) -> None:
    if validator is not None:
        started = time.time()
        model = parts.module.model
        embedder = StudentEmbedder(model, parts.crop_samples) if parts.module.mode == "distill" else model
        eer = validator.eer(embedder, dist.device)
        log.info("step %d: validation EER %.2f%% (%d trials, %.1f s)", step, 100 * eer, len(validator.trials),
                 time.time() - started)
        monitor.scalar("valid/eer", 100 * eer, step)
    distributed.barrier(dist)


def run_steps(state: TrainState, cfg: RunConfig, paths: RunPaths, dist, after_step=None) -> None:
    """Train from the state's position to --max-steps: steps, logging, checkpoints, validation."""
    parts, opts = state.parts, state.options
    ckpt_dir = Path(paths.exp_dir) / "checkpoints"
    module: nn.Module = parts.module
    if dist.initialised:
        module = nn.parallel.DistributedDataParallel(
            parts.module, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None)
    validator = make_validator(parts, paths, opts, dist)
    monitor = Monitor(Path(paths.exp_dir), dist.is_main, cfg.mode, state.step, opts["max_steps"],
                      opts["log_every"])
    loader = make_loader(parts.dataset, parts.sampler, opts["num_workers"])
    data_wait = DataWaitMeter()
    parts.module.train()
    while state.step < opts["max_steps"]:
        parts.sampler.set_position(state.epoch, state.batch)
        for batch in data_wait.iterate(loader):
            state.enter_phase()
            lr = state.set_lr()
            margin = state.set_margin()
            result = state.last_result = train_step(module, state.optimizer, state.params, batch,
                                                    parts.teacher, opts, dist)
            state.advance()
            warning = state.nans.update(result, state.step, opts["max_nan_steps"], ckpt_dir)
            if warning:
                log.warning(warning)
                monitor.scalar("train/nan_skipped", state.nans.total, state.step)
            monitor.step(result, len(batch[2]) * dist.world_size)
            if monitor.due(state.step):
                wait = distributed.max_over_ranks(data_wait.lap().fraction, dist)
                monitor.log(state.step, state.epoch, lr, wait, margin if cfg.mode == "lmft" else None)
            last = state.step >= opts["max_steps"]
            if last or (opts["save_every"] > 0 and state.step % opts["save_every"] == 0):
                state.save(cfg, ckpt_dir, dist)
            if opts["valid_every"] > 0 and (last or state.step % opts["valid_every"] == 0):
                validate(validator, parts, state.step, monitor, dist)
            if after_step is not None:
                after_step(state)  # after the update: the step's gradients are still in .grad
            if last:
                break
    del loader
    monitor.close()


def finish(exp: Path, options: dict, dist) -> Path:
    """final.pt = the average of the last --num-avg checkpoints (rank 0); every rank waits for it."""
    final = exp / "final.pt"
    if dist.is_main:
        # unreadable members (a truncated file of a killed run) are named and left out, never fatal
        ckpts, _ = select_for_average(exp / "checkpoints", max(1, options["num_avg"]), options["max_steps"])
        if not ckpts:
            raise CheckpointError(f"{exp / 'checkpoints'}: no readable checkpoint to average")
        info = average_checkpoints(ckpts, final)
        log.info("final model %s: average of %d checkpoint(s), steps %d-%d", final, len(ckpts),
                 *info["step_range"])
    distributed.barrier(dist)
    return final
