"""The training loop of stage 2 (SV-Mixer distillation) and stage 3 (SSRFNet OS-KDFT).

mode 'distill': the SV-Mixer student alone learns to predict teacher layers (KD loss only); the student
    sees the augmented crop (or the clean one with --distill-augment=false), the frozen WavLM teacher the
    clean one.
    final.pt holds the student's weights ('model_part': 'student') and the KD heads ('kd_state_dict').
mode 'ssrfnet': the whole model is trained with loss = AAM(+top-K) + kd_weight * KD; the student (and the KD
    heads) start from --init (stage 2's final.pt) unless --init-student=false.

Every run resumes by itself from `<exp>/checkpoints/latest`; see checkpoint.py for what a checkpoint holds.
The global step counts batches consumed: a batch whose loss or gradient is not finite is skipped (no optimizer
update), logged and counted, and --max-nan-steps consecutive ones abort the run. The LR is a function of the
step (schedule.py); AdamW becomes Nesterov SGD at --sgd-switch-step (a fresh optimizer, as the official code).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ssrfnet.config import config_dict, read_conf, write_conf
from ssrfnet.data import (
    CropDataset,
    ShardedBatchSampler,
    make_loader,
    read_spk2id,
    speaker_index,
    write_spk2id,
)
from ssrfnet.data.augment import AugmentConfig, Augmenter
from ssrfnet.data.crops import make_crops as eval_crops
from ssrfnet.data.dataset import dev_utterances
from ssrfnet.errors import SSRFNetError
from ssrfnet.train import distributed as D
from ssrfnet.train.checkpoint import (
    CheckpointError,
    average_checkpoints,
    capture_rng,
    config_digest,
    find_resume_checkpoint,
    list_checkpoints,
    restore_rng,
    save_checkpoint,
)
from ssrfnet.train.options import MODEL_SHAPING_TRAIN_KEYS
from ssrfnet.train.schedule import LRSchedule

log = logging.getLogger("ssrfnet.train")

MODEL_GROUP = "ssrfnet.models.options:add_model_options"
TRAIN_GROUP = "ssrfnet.train.options:add_train_options"


class TrainError(SSRFNetError, RuntimeError):
    pass


# -- pluggable construction (the tests plug in tiny stand-ins) ------------------------------------------
def _default_build_model(cfg: dict) -> nn.Module:
    from ssrfnet.models import build_model

    return build_model(cfg)


def _default_build_teacher(train_cfg: dict, device: torch.device) -> nn.Module:
    from ssrfnet.models.teacher import WavLMTeacher

    return WavLMTeacher(train_cfg["teacher"], layers=tuple(train_cfg["teacher_layers"]),
                        bf16=bool(train_cfg["teacher_bf16"]) and device.type == "cuda")


def _default_make_teacher(train_cfg: dict) -> None:
    from ssrfnet.models.teacher import make_random_wavlm

    make_random_wavlm(
        train_cfg["teacher"], hidden_size=train_cfg["teacher_hidden_size"],
        num_layers=train_cfg["teacher_num_layers"], num_heads=train_cfg["teacher_num_heads"],
        intermediate_size=train_cfg["teacher_intermediate_size"], seed=train_cfg["seed"],
        conv_dim=train_cfg["teacher_conv_dim"] or None,
    )


@dataclass
class Builders:
    model: Callable[[dict], nn.Module] = _default_build_model
    teacher: Callable[[dict, torch.device], nn.Module] = _default_build_teacher
    make_teacher: Callable[[dict], None] = _default_make_teacher
    model_config: Callable | None = None  # (namespace) -> model config dict


@dataclass
class RunPaths:
    train_data: str
    dev_data: str | None
    dev_trials: str | None
    exp_dir: str
    musan_dir: str | None = None
    rirs_dir: str | None = None
    init: str | None = None


# -- the module DDP wraps ---------------------------------------------------------------------------------
class TrainModule(nn.Module):
    """Student/model + KD heads (+ AAM head); forward returns the losses of one batch."""

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
            kd = self.kd(hidden[:, -1], targets)
            return kd, zero.detach(), kd, zero.detach()
        emb, hidden = self.model.forward_train(noisy)
        sv, acc = self.aam(emb, labels)
        if self.kd is not None and targets is not None:
            kd = self.kd(hidden[:, -1], targets)
            return sv + self.kd_weight * kd, sv, kd, acc
        return sv, sv, zero.detach(), acc


def student_of(model: nn.Module) -> nn.Module:
    return getattr(model, "student", model)


# -- config handling ----------------------------------------------------------------------------------------
def _fmt(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_fmt(v) for v in value)
    return "" if value is None else str(value)


def shaping_config(mode: str, model_cfg: dict, train_cfg: dict, num_classes: int) -> dict:
    """The options that decide the shapes of the trained weights (a checkpoint is only valid for these)."""
    shaping = {"mode": mode, "num_classes": num_classes}
    shaping.update({f"model.{k}": _fmt(v) for k, v in model_cfg.items()})
    shaping.update({f"train.{k}": _fmt(train_cfg[k]) for k in MODEL_SHAPING_TRAIN_KEYS})
    return shaping


def check_saved_config(exp: Path, model_cfg: dict, train_cfg: dict, force_new: bool) -> None:
    """Refuse a re-start whose model-shaping options differ from <exp>/config.conf (unless --force-new)."""
    saved_path = exp / "config.conf"
    if not saved_path.is_file():
        return
    saved = {key.replace("-", "_"): value for key, value, _ in read_conf(saved_path)}
    shaping_keys = list(model_cfg) + list(MODEL_SHAPING_TRAIN_KEYS)
    current = {**model_cfg, **train_cfg}
    diffs = [(k, saved.get(k), _fmt(current[k])) for k in shaping_keys
             if k in current and saved.get(k) is not None and saved.get(k) != _fmt(current[k])]
    others = [(k, saved.get(k), _fmt(v)) for k, v in current.items()
              if k not in shaping_keys and saved.get(k) is not None and saved.get(k) != _fmt(v)]
    for k, a, b in others:
        log.info("option --%s changed since the last start: %r -> %r", k.replace("_", "-"), a, b)
    if diffs and not force_new:
        lines = "\n".join(f"  --{k.replace('_', '-')}: saved {a!r}, now {b!r}" for k, a, b in diffs)
        raise TrainError(
            f"{exp} already holds a run with a different model configuration ({saved_path}):\n{lines}\n"
            "Use another --exp-dir, restore the options, or pass --force-new to start over (the old "
            "checkpoints are moved to checkpoints.old-<time>)."
        )


# -- helpers -----------------------------------------------------------------------------------------------
def _setup_logging(exp: Path, is_main: bool) -> None:
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    if not is_main:
        log.addHandler(logging.NullHandler())
        return
    fmt = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    fh = logging.FileHandler(exp / "train.log", mode="a", encoding="utf-8")
    fh.setFormatter(fmt)
    log.addHandler(fh)
    sh = logging.StreamHandler(sys.stderr)
    sh.setFormatter(fmt)
    log.addHandler(sh)
    for name in ("ssrfnet.data", "ssrfnet.data.augment", "ssrfnet.train.checkpoint"):
        other = logging.getLogger(name)
        other.setLevel(logging.INFO)
        other.handlers = [fh, sh]
        other.propagate = False


def make_optimizer(name: str, params, cfg: dict) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(params, lr=cfg["lr_init"], weight_decay=cfg["weight_decay"])
    return torch.optim.SGD(params, lr=cfg["sgd_lr_init"], momentum=cfg["sgd_momentum"], nesterov=True,
                           weight_decay=cfg["weight_decay"])


def _finite_params(module: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


def _autocast(device: torch.device, bf16: bool):
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _eer(scores, labels) -> float:
    try:
        from ssrfnet.scoring.metrics import compute_eer
    except ImportError:
        compute_eer = None
    if compute_eer is not None:
        return float(compute_eer(np.asarray(scores), np.asarray(labels))[0])
    order = np.argsort(-np.asarray(scores))
    lab = np.asarray(labels, dtype=bool)[order]
    fnr = 1 - np.cumsum(lab) / lab.sum()
    fpr = np.cumsum(~lab) / (~lab).sum()
    i = int(np.argmin(np.abs(fnr - fpr)))
    return float((fnr[i] + fpr[i]) / 2)


_DEV_CACHE: dict = {}
_DEV_CACHE_MAX_CROPS = 2000  # at most ~400 MB of 3 s float32 crops kept; larger dev sets are re-read


@torch.no_grad()
def validate(tm: TrainModule, dev_wav: dict, trials: list, crop_samples: int, cfg: dict,
             device: torch.device) -> float:
    """Development EER (fraction) from cosine scores of mean crop embeddings (distill: mean student state)."""
    from ssrfnet.audio import read_audio

    was_training = tm.training
    tm.eval()
    needed = sorted({u for e, t, _ in trials for u in (e, t)})
    embs = {}
    batch, owners = [], []

    def flush():
        if not batch:
            return
        wav = torch.from_numpy(np.concatenate(batch)).to(device)
        with _autocast(device, cfg["bf16"]):
            if tm.mode == "distill":
                out = tm.model(wav)[:, -1].mean(dim=1)
            else:
                out = tm.model(wav)
        out = torch.nn.functional.normalize(out.float(), dim=-1).cpu()
        row = 0
        for utt, n in owners:
            e = out[row:row + n].mean(0)
            embs[utt] = torch.nn.functional.normalize(e, dim=0)
            row += n
        batch.clear()
        owners.clear()

    for utt in needed:
        if utt not in dev_wav:
            raise TrainError(f"development trial utterance {utt} is not in the dev data's wav.scp")
        key = (dev_wav[utt], crop_samples, cfg["valid_num_crops"])
        crops = _DEV_CACHE.get(key)
        if crops is None:
            crops = eval_crops(read_audio(dev_wav[utt], where=f"dev wav.scp: {utt}"), crop_samples,
                               cfg["valid_num_crops"])
            if len(needed) * cfg["valid_num_crops"] <= _DEV_CACHE_MAX_CROPS:
                _DEV_CACHE[key] = crops
        batch.append(crops)
        owners.append((utt, len(crops)))
        if sum(len(b) for b in batch) >= cfg["valid_batch_size"]:
            flush()
    flush()
    scores = [float(embs[e] @ embs[t]) for e, t, _ in trials]
    labels = [bool(lab) for _, _, lab in trials]
    tm.train(was_training)
    return _eer(scores, labels)


def _load_init(tm: TrainModule, path: str, mode: str) -> None:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise TrainError(f"--init {path}: cannot load: {err}") from err
    if not isinstance(obj, dict) or "state_dict" not in obj:
        raise TrainError(f"--init {path}: not a model file (no state_dict)")
    student = student_of(tm.model)
    part = obj.get("model_part", "model")
    sd = obj["state_dict"]
    if part != "student":  # a full model file: take its student's weights
        prefix = "student."
        sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)} or sd
    try:
        student.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        raise TrainError(f"--init {path}: the student in it does not match this model configuration: {err}") \
            from err
    if tm.kd is not None and obj.get("kd_state_dict") is not None:
        try:
            tm.kd.load_state_dict(obj["kd_state_dict"], strict=True)
            log.info("KD heads initialised from %s", path)
        except RuntimeError as err:
            log.warning("KD heads not initialised from %s (shapes differ): %s", path, str(err)[:200])
    log.info("student initialised from %s", path)


# -- the run ------------------------------------------------------------------------------------------------
@dataclass
class Counters:
    step: int = 0
    epoch: int = 0
    batch: int = 0
    nan_total: int = 0
    nan_streak: int = 0
    history: list = field(default_factory=list)


def train(ns, mode: str, paths: RunPaths, *, force_new: bool = False, device: str = "auto",
          debug_exit_after_step: int = 0, builders: Builders | None = None, argv: list | None = None) -> Path:
    """Run (or resume) stage 2/3 training; returns the path of final.pt."""
    builders = builders or Builders()
    if mode not in ("distill", "ssrfnet"):
        raise TrainError(f"--mode must be distill or ssrfnet, got {mode!r}")
    info = D.setup(device)
    try:
        return _train(ns, mode, paths, info, force_new, debug_exit_after_step, builders, argv)
    finally:
        D.cleanup(info)


def _train(ns, mode, paths, info, force_new, debug_exit_after_step, builders, argv) -> Path:
    exp = Path(paths.exp_dir)
    ckpt_dir = exp / "checkpoints"
    if info.is_main:
        (exp / "log").mkdir(parents=True, exist_ok=True)
    D.barrier(info)
    _setup_logging(exp, info.is_main)

    model_cfg = builders.model_config(ns) if builders.model_config else config_dict(ns, MODEL_GROUP)
    train_cfg = config_dict(ns, TRAIN_GROUP)
    cfg = dict(train_cfg)
    if mode == "distill" and cfg.get("distill_max_steps", 0) > 0:
        cfg["max_steps"] = cfg["distill_max_steps"]
    if info.is_main:
        check_saved_config(exp, model_cfg, train_cfg, force_new)
        if force_new and ckpt_dir.is_dir() and list_checkpoints(ckpt_dir):
            moved = exp / f"checkpoints.old-{time.strftime('%Y%m%d-%H%M%S')}"
            shutil.move(str(ckpt_dir), str(moved))
            (exp / "spk2id").unlink(missing_ok=True)
            log.info("--force-new: previous checkpoints moved to %s", moved)
    D.barrier(info)

    if cfg["batch_size"] % info.world_size:
        raise TrainError(f"--batch-size {cfg['batch_size']} is not divisible by {info.world_size} ranks")
    per_rank = cfg["batch_size"] // info.world_size
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"] % 2**32)
    import random

    random.seed(cfg["seed"])
    if cfg["deterministic"]:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    elif info.device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    # -- data --
    spk2id_path = exp / "spk2id"
    if spk2id_path.is_file():
        spk2id = read_spk2id(spk2id_path)
    else:
        from ssrfnet.data import read_utt2spk

        spk2id = speaker_index(read_utt2spk(paths.train_data)[1].values())
        if info.is_main:
            write_spk2id(spk2id_path, spk2id)
    num_classes = len(spk2id)

    # -- model --
    model = builders.model(model_cfg)
    crop = int(getattr(model, "crop_samples", 0) or getattr(student_of(model), "crop_samples", 0) or 48000)
    if mode == "distill":
        model = student_of(model)
    use_kd = mode == "distill" or cfg["kd_weight"] > 0
    teacher = None
    if use_kd:
        teacher_path = Path(cfg["teacher"])
        if cfg["teacher_random_init"] and not (teacher_path / "config.json").is_file():
            if info.is_main:
                log.info("creating a RANDOM WavLM teacher at %s (--teacher-random-init=true)", teacher_path)
                builders.make_teacher(cfg)
            D.barrier(info)
        teacher = builders.teacher(cfg, info.device).to(info.device)
        teacher.eval()
    kd = None
    if use_kd:
        from ssrfnet.losses import KDLoss

        teacher_dim = int(teacher.hidden_size)
        kd = KDLoss(student_of(model).hidden_size, teacher_dim, num_heads=len(cfg["teacher_layers"]),
                    cos_lambda=cfg["kd_cos_lambda"], cos_reduction=cfg["kd_cos_reduction"])
    dataset = CropDataset(paths.train_data, crop, seed=cfg["seed"], spk2id=spk2id,
                          cache_pipes=cfg["cache_audio"])
    aam = None
    if mode == "ssrfnet":
        from ssrfnet.losses import AAMSoftmax

        aam = AAMSoftmax(model.embed_dim, num_classes, margin=cfg["aam_margin"], scale=cfg["aam_scale"],
                         class_counts=dataset.class_counts.tolist() if cfg["aam_class_weights"] else None,
                         topk=cfg["aam_topk"], topk_margin=cfg["aam_topk_margin"],
                         topk_mode=cfg["aam_topk_mode"])
    student_input = "augmented" if (mode == "ssrfnet" or cfg["distill_augment"]) else "clean"
    tm = TrainModule(mode, model, kd, aam, cfg["kd_weight"], student_input).to(info.device)

    augment_needed = cfg["augment"] and student_input == "augmented"
    if augment_needed:
        dataset.augmenter = Augmenter.from_dirs(AugmentConfig.from_options(cfg), paths.musan_dir,
                                                paths.rirs_dir)
    sampler = ShardedBatchSampler(len(dataset), per_rank, rank=info.rank, world_size=info.world_size,
                                  seed=cfg["seed"], shuffle=cfg["shuffle"])
    sched = LRSchedule.from_options(cfg)
    digest = config_digest(shaping_config(mode, model_cfg, train_cfg, num_classes))

    # -- resume or start --
    counters = Counters()
    resumed = find_resume_checkpoint(ckpt_dir)
    opt_name = sched.phase(0)
    state = None
    if resumed is not None:
        path, state = resumed
        if state.get("mode") != mode:
            raise TrainError(f"{path} is a --mode {state.get('mode')} checkpoint, this is --mode {mode}")
        if state.get("config_digest") != digest and not force_new:
            raise TrainError(f"{path} was trained with another model configuration (digest "
                             f"{state.get('config_digest')} vs {digest}); use --force-new to start over")
        tm.model.load_state_dict(state["model"])
        if tm.kd is not None:
            tm.kd.load_state_dict(state["kd"])
        if tm.aam is not None:
            tm.aam.load_state_dict(state["aam"])
        opt_name = state["optimizer_name"]
        counters = Counters(step=state["step"], epoch=state["epoch"], batch=state["batch"],
                            nan_total=state["nan_total"], nan_streak=state["nan_streak"])
        log.info("resuming from %s (step %d, epoch %d, batch %d, optimizer %s)", path, counters.step,
                 counters.epoch, counters.batch, opt_name)
    elif mode == "ssrfnet" and cfg["init_student"]:
        if not paths.init:
            raise TrainError("--init-student=true needs --init <stage-2 final.pt> "
                             "(or set --init-student=false)")
        _load_init(tm, paths.init, mode)

    if info.is_main:
        header = (f"Effective configuration of {exp} (mode {mode}), written by ssrfnet.bin.train\n"
                  f"command: {' '.join(argv or sys.argv)}")
        write_conf(exp / "config.conf", {**model_cfg, **train_cfg}, header=header)

    module: nn.Module = tm
    if info.initialised:
        module = nn.parallel.DistributedDataParallel(
            tm, device_ids=[info.local_rank] if info.device.type == "cuda" else None)
    params = [p for p in tm.parameters() if p.requires_grad]
    optimizer = make_optimizer(opt_name, params, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=False)  # bf16 needs no loss scaling; kept for the format
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"])
        state = None
    num_params = sum(p.numel() for p in tm.model.parameters())
    log.info("mode %s: %d training utterances, %d speakers, crop %d samples, %.2f M model parameters, "
             "%d rank(s) x %d per batch, device %s", mode, len(dataset), num_classes, crop, num_params / 1e6,
             info.world_size, per_rank, info.device)

    # -- validation data --
    dev_wav, trials = None, None
    if info.is_main and cfg["valid_every"] > 0 and paths.dev_data and paths.dev_trials:
        from ssrfnet.kaldi.trials import read_trials

        dev_wav = dev_utterances(paths.dev_data)
        trials = read_trials(paths.dev_trials)

    writer = None
    if info.is_main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(exp / "tensorboard"), purge_step=counters.step + 1)

    def checkpoint_state() -> dict:
        return {
            "mode": mode, "config": {**model_cfg, **train_cfg}, "model_config": model_cfg,
            "config_digest": digest, "step": counters.step, "epoch": counters.epoch, "batch": counters.batch,
            "model": tm.model.state_dict(), "kd": tm.kd.state_dict() if tm.kd is not None else None,
            "kd_config": {"student_dim": tm.kd.heads.student_dim, "teacher_dim": tm.kd.heads.teacher_dim,
                          "num_heads": tm.kd.num_heads} if tm.kd is not None else None,
            "aam": tm.aam.state_dict() if tm.aam is not None else None,
            "optimizer_name": opt_name, "optimizer": optimizer.state_dict(),
            "scheduler": {"step": counters.step, "lr": sched(counters.step), "phase": opt_name},
            "scaler": scaler.state_dict(), "rng": capture_rng(),
            "nan_total": counters.nan_total, "nan_streak": counters.nan_streak,
            "num_classes": num_classes, "world_size": info.world_size,
        }

    def save() -> None:
        if info.is_main:
            if not _finite_params(tm):
                raise TrainError(f"step {counters.step}: parameters are not finite; no checkpoint written")
            path = save_checkpoint(ckpt_dir, checkpoint_state(), keep=max(cfg["keep_checkpoints"],
                                                                          cfg["num_avg"]))
            log.info("step %d: checkpoint %s", counters.step, path)
        D.barrier(info)

    def run_validation() -> None:
        if info.is_main and dev_wav is not None:
            t0 = time.time()
            eer = validate(tm, dev_wav, trials, crop, cfg, info.device)
            log.info("step %d: validation EER %.2f%% (%d trials, %.1f s)", counters.step, 100 * eer,
                     len(trials), time.time() - t0)
            writer.add_scalar("valid/eer", 100 * eer, counters.step)
            writer.flush()
        D.barrier(info)

    # -- loop --
    progress = None
    if info.is_main:
        from tqdm import tqdm

        progress = tqdm(total=cfg["max_steps"], initial=counters.step, file=sys.stderr, dynamic_ncols=True,
                        desc=mode, mininterval=1.0 if sys.stderr.isatty() else 30.0)
    tm.train()
    if teacher is not None:
        teacher.eval()
    window = {"loss": 0.0, "sv": 0.0, "kd": 0.0, "acc": 0.0, "gnorm": 0.0, "n": 0, "t": time.time(),
              "samples": 0}
    loader = make_loader(dataset, sampler, cfg["num_workers"])
    while counters.step < cfg["max_steps"]:
        if counters.batch >= sampler.num_batches:
            counters.epoch, counters.batch = counters.epoch + 1, 0
        sampler.set_position(counters.epoch, counters.batch)
        for clean, noisy, labels in loader:
            if counters.step >= cfg["max_steps"]:
                break
            want = sched.phase(counters.step)
            if want != opt_name:
                opt_name = want
                optimizer = make_optimizer(opt_name, params, cfg)
                log.info("step %d: switching optimizer to %s (state of the previous one dropped)",
                         counters.step, opt_name)
            lr = sched(counters.step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            clean = clean.to(info.device, non_blocking=True)
            noisy = noisy.to(info.device, non_blocking=True)
            labels = labels.to(info.device, non_blocking=True)
            targets = None
            if teacher is not None:
                with torch.inference_mode():
                    targets = teacher(clean)
                targets = targets.float().clone()
            optimizer.zero_grad(set_to_none=True)
            with _autocast(info.device, cfg["bf16"]):
                loss, sv, kdl, acc = module(clean, noisy, labels, targets)
            loss.backward()
            clip = cfg["grad_clip"] if cfg["grad_clip"] > 0 else float("inf")
            gnorm = torch.nn.utils.clip_grad_norm_(params, clip)
            loss_value, gnorm_value = float(loss.detach()), float(gnorm)
            bad = D.any_true(not (math.isfinite(loss_value) and math.isfinite(gnorm_value)), info)
            counters.step += 1
            counters.batch += 1
            if bad:
                optimizer.zero_grad(set_to_none=True)
                counters.nan_total += 1
                counters.nan_streak += 1
                log.warning("step %d: non-finite loss %.4g or gradient norm %.4g: step skipped "
                            "(%d in a row, %d in total)", counters.step, loss_value, gnorm_value,
                            counters.nan_streak, counters.nan_total)
                if writer is not None:
                    writer.add_scalar("train/nan_skipped", counters.nan_total, counters.step)
                if counters.nan_streak >= cfg["max_nan_steps"]:
                    raise TrainError(
                        f"{counters.nan_streak} consecutive steps had a non-finite loss or gradient "
                        f"(step {counters.step}); aborting. The last good checkpoint is untouched in "
                        f"{ckpt_dir}; lower the LR or check the data, then re-run to resume.")
            else:
                optimizer.step()
                counters.nan_streak = 0
                stats = torch.stack([loss.detach().float(), sv.detach().float(), kdl.detach().float(),
                                     acc.detach().float()])
                stats = D.mean_over_ranks(stats, info).tolist()
                for key, value in zip(("loss", "sv", "kd", "acc"), stats):
                    window[key] += value
                window["gnorm"] += gnorm_value
                window["n"] += 1
            window["samples"] += len(labels) * info.world_size
            if progress is not None:
                progress.update(1)
            if counters.step % cfg["log_every"] == 0 and window["n"] and info.is_main:
                n = window["n"]
                rate = window["samples"] / max(1e-9, time.time() - window["t"])
                means = {k: window[k] / n for k in ("loss", "sv", "kd", "acc", "gnorm")}
                log.info("step %d epoch %d loss %.4f sv %.4f kd %.4f acc %.4f lr %.3e grad_norm %.3f "
                         "samples/s %.1f", counters.step, counters.epoch, means["loss"], means["sv"],
                         means["kd"], means["acc"], lr, means["gnorm"], rate)
                counters.history.append((counters.step, means["acc"], means["loss"]))
                writer.add_scalar("train/loss", means["loss"], counters.step)
                writer.add_scalar("train/sv_loss", means["sv"], counters.step)
                writer.add_scalar("train/kd_loss", means["kd"], counters.step)
                writer.add_scalar("train/accuracy", means["acc"], counters.step)
                writer.add_scalar("train/lr", lr, counters.step)
                writer.add_scalar("train/grad_norm", means["gnorm"], counters.step)
                writer.add_scalar("train/samples_per_s", rate, counters.step)
                progress.set_postfix(loss=f"{means['loss']:.3f}", acc=f"{means['acc']:.3f}", lr=f"{lr:.2e}")
                window.update(loss=0.0, sv=0.0, kd=0.0, acc=0.0, gnorm=0.0, n=0, t=time.time(), samples=0)
            if counters.batch >= sampler.num_batches:
                counters.epoch, counters.batch = counters.epoch + 1, 0
            last = counters.step >= cfg["max_steps"]
            if last or (cfg["save_every"] > 0 and counters.step % cfg["save_every"] == 0):
                save()
            if cfg["valid_every"] > 0 and (last or counters.step % cfg["valid_every"] == 0):
                run_validation()
            if debug_exit_after_step and counters.step == debug_exit_after_step:
                sys.stderr.flush()
                os._exit(3)  # simulate a crash: no clean-up of any kind
    del loader
    if progress is not None:
        progress.close()

    final = exp / "final.pt"
    if info.is_main:
        ckpts = list_checkpoints(ckpt_dir)[-max(1, cfg["num_avg"]):]
        if not ckpts:
            raise CheckpointError(f"{ckpt_dir}: no checkpoint to average")
        out = average_checkpoints(ckpts, final)
        log.info("final model %s: average of %d checkpoint(s), steps %d-%d", final, len(ckpts),
                 *out["step_range"])
        writer.close()
    D.barrier(info)
    return final
