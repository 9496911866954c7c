"""Building what a run trains: seeds, the speaker list, the model, the frozen teacher, the KD and AAM heads,
the training data with its augmentation and sampler, the student initialisation of stage 3 and the whole-model
initialisation of stage 7 (large-margin fine-tuning).

A model type without a student (ReDimNet, the no-fusion ablation) has no stage 2, no teacher and no KD: stage
3 trains it with the speaker loss alone. Stage 7 trains every model type with the speaker loss alone, on
longer crops where the model accepts any length.

`build_model(model_cfg)` and `build_teacher(train_options, device)` are parameters of `build_parts` (the
tests pass small stand-ins); the defaults build the project's models and the WavLM teacher.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ssrfnet.audio import SAMPLE_RATE
from ssrfnet.data import (
    CropDataset,
    ShardedBatchSampler,
    read_spk2id,
    read_utt2spk,
    speaker_index,
    write_spk2id,
)
from ssrfnet.data.augment import AugmentConfig, Augmenter
from ssrfnet.data.speed import expanded_speaker_index, is_active, parse_speeds
from ssrfnet.errors import CheckpointError
from ssrfnet.losses import AAMSoftmax, KDLoss
from ssrfnet.models import build_model as default_build_model
from ssrfnet.models import student_of as distillable_student
from ssrfnet.models.checkpoint import read_checkpoint
from ssrfnet.models.teacher import WavLMTeacher, make_random_wavlm
from ssrfnet.train import distributed
from ssrfnet.train.runconfig import RunConfig, RunPaths, TrainError
from ssrfnet.train.schedule import LRSchedule, MarginSchedule
from ssrfnet.train.step import TrainModule, student_of

log = logging.getLogger("ssrfnet.train")


def default_build_teacher(options: dict, device: torch.device) -> nn.Module:
    """The frozen WavLM teacher named by --teacher (created first when --teacher-random-init asks for it)."""
    return WavLMTeacher(options["teacher"], layers=tuple(options["teacher_layers"]),
                        bf16=bool(options["teacher_bf16"]) and device.type == "cuda")


def make_random_teacher(options: dict) -> None:
    make_random_wavlm(
        options["teacher"], hidden_size=options["teacher_hidden_size"],
        num_layers=options["teacher_num_layers"], num_heads=options["teacher_num_heads"],
        intermediate_size=options["teacher_intermediate_size"], seed=options["seed"],
        conv_dim=options["teacher_conv_dim"] or None, config_file=options["teacher_random_config"] or None,
    )


@dataclass
class TrainParts:
    """Everything one run trains and reads."""

    module: TrainModule
    teacher: nn.Module | None
    dataset: CropDataset
    sampler: ShardedBatchSampler
    schedule: LRSchedule
    crop_samples: int
    num_classes: int
    digest: str
    margin: MarginSchedule | None = None
    has_student: bool = True


def seed_everything(options: dict, device: torch.device) -> None:
    seed = options["seed"]
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    if options["deterministic"]:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def speaker_list(exp: Path, train_data: str, dist: distributed.DistInfo, speed_perturb: str = ""
                 ) -> dict[str, int]:
    """The speaker -> label map, fixed at the first start in <exp>/spk2id; with speed perturbation the
    original speakers, then each other speed's `sp<f>-<spk>` speakers."""
    path = exp / "spk2id"
    if path.is_file():
        return read_spk2id(path)
    speeds = parse_speeds(speed_perturb)
    speakers = read_utt2spk(train_data)[1].values()
    spk2id = expanded_speaker_index(speakers, speeds) if is_active(speeds) else speaker_index(speakers)
    if dist.is_main:
        write_spk2id(path, spk2id)
    return spk2id


def prepare_teacher(options: dict, dist: distributed.DistInfo, build_teacher) -> nn.Module:
    if options["teacher_random_init"] and not (Path(options["teacher"]) / "config.json").is_file():
        if dist.is_main:
            log.info("creating a RANDOM WavLM teacher at %s (--teacher-random-init=true)", options["teacher"])
            make_random_teacher(options)
        distributed.barrier(dist)
    teacher = build_teacher(options, dist.device).to(dist.device)
    return teacher.eval()


def training_crop(model: nn.Module, mode: str, options: dict) -> int:
    """Samples per training crop: a fixed-length model's own length; otherwise 3 s, or --lm-crop-seconds in
    stage 7."""
    fixed = getattr(model, "crop_samples", 0) or getattr(student_of(model), "crop_samples", 0)
    if fixed:
        return int(fixed)
    return int(round(options["lm_crop_seconds"] * SAMPLE_RATE)) if mode == "lmft" else 48000


def build_parts(cfg: RunConfig, paths: RunPaths, spk2id: dict[str, int], dist: distributed.DistInfo,
                build_model=default_build_model, build_teacher=default_build_teacher) -> TrainParts:
    opts = cfg.options
    model = build_model(cfg.model)
    crop = training_crop(model, cfg.mode, opts)
    has_student = distillable_student(model) is not None
    if cfg.mode == "distill":
        if not has_student:
            raise TrainError(f"--model-type={cfg.model.get('model_type')} has no student: stage 2 "
                             "(--mode distill) does not apply")
        model = student_of(model)
    use_kd = cfg.mode == "distill" or (cfg.mode == "ssrfnet" and has_student and opts["kd_weight"] > 0)
    teacher = prepare_teacher(opts, dist, build_teacher) if use_kd else None
    kd = None
    if teacher is not None:
        kd = KDLoss(student_of(model).hidden_size, int(teacher.hidden_size),
                    num_heads=len(opts["teacher_layers"]), cos_lambda=opts["kd_cos_lambda"],
                    cos_reduction=opts["kd_cos_reduction"])
    dataset = CropDataset(paths.train_data, crop, seed=opts["seed"], spk2id=spk2id,
                          cache_pipes=opts["cache_audio"], speeds=parse_speeds(opts["speed_perturb"]))
    aam = None
    if cfg.mode in ("ssrfnet", "lmft"):
        aam = AAMSoftmax(model.embed_dim, len(spk2id), margin=opts["aam_margin"], scale=opts["aam_scale"],
                         class_counts=dataset.class_counts.tolist() if opts["aam_class_weights"] else None,
                         topk=opts["aam_topk"], topk_margin=opts["aam_topk_margin"],
                         topk_mode=opts["aam_topk_mode"])
    student_input = "augmented" if (cfg.mode != "distill" or opts["distill_augment"]) else "clean"
    module = TrainModule(cfg.mode, model, kd, aam, opts["kd_weight"], student_input).to(dist.device)
    if opts["augment"] and student_input == "augmented":
        dataset.augmenter = Augmenter.from_dirs(AugmentConfig.from_options(opts), paths.musan_dir,
                                                paths.rirs_dir)
    if opts["batch_size"] % dist.world_size:
        raise TrainError(f"--batch-size {opts['batch_size']} is not divisible by {dist.world_size} ranks")
    if cfg.mode == "ssrfnet" and opts["batch_size"] // dist.world_size < 2:
        raise TrainError(f"--batch-size {opts['batch_size']} over {dist.world_size} rank(s) leaves one crop "
                         "per rank: the embedding head's BatchNorm needs at least 2 per rank")
    sampler = ShardedBatchSampler(len(dataset), opts["batch_size"] // dist.world_size, rank=dist.rank,
                                  world_size=dist.world_size, seed=opts["seed"], shuffle=opts["shuffle"])
    return TrainParts(module, teacher, dataset, sampler, LRSchedule.for_mode(cfg.mode, opts), crop,
                      len(spk2id), cfg.digest(len(spk2id)), MarginSchedule.for_mode(cfg.mode, opts),
                      has_student)


def init_student(module: TrainModule, path: str) -> None:
    """Stage 3: the student (and the KD heads, when their shapes fit) from a stage-2 model file."""
    try:
        obj = read_checkpoint(path)
    except CheckpointError as err:
        raise TrainError(f"--init {err}") from err
    if "state_dict" not in obj:
        raise TrainError(f"--init {path}: not a model file (no state_dict)")
    student, weights = student_of(module.model), obj["state_dict"]
    if obj.get("model_part", "model") != "student":  # a whole model file: take its student's weights
        weights = {k[len("student."):]: v for k, v in weights.items() if k.startswith("student.")} or weights
    try:
        student.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise TrainError(f"--init {path}: its student does not match this model configuration "
                         f"({first})") from err
    if module.kd is not None and obj.get("kd_state_dict") is not None:
        try:
            module.kd.load_state_dict(obj["kd_state_dict"], strict=True)
            log.info("KD heads initialised from %s", path)
        except RuntimeError as err:
            log.warning("KD heads not initialised from %s (shapes differ): %s", path, str(err)[:200])
    log.info("student initialised from %s", path)
