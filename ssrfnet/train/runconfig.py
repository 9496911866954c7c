"""A training run's configuration, and its checks against the run already in the experiment directory.

The effective configuration of every option group (model, training, evaluation, ...) is written to
`<exp>/config.conf`, so the later stages read exactly what the conf said. A re-start whose model-shaping
options (the model block, the teacher, the speaker count, the mode) differ from the saved ones is refused
unless --force-new.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ssrfnet.config import (
    EFFECTIVE_CONFIG_HEADER,
    OptionSource,
    chosen_options,
    format_value,
    read_conf,
    write_conf,
)
from ssrfnet.errors import ConfError, SSRFNetError
from ssrfnet.models.build import STUDENT_MODEL_TYPES
from ssrfnet.models.options import check_model_keys
from ssrfnet.train.options import MODEL_SHAPING_TRAIN_KEYS, STUDENT_TRAIN_KEYS

log = logging.getLogger("ssrfnet.train")
# distill = stage 2 (the student from the teacher), ssrfnet = stage 3 (the speaker model: OS-KDFT, or AAM
# alone for a student-free model), lmft = stage 7 (large-margin fine-tuning of the stage-3 model)
MODES = ("distill", "ssrfnet", "lmft")


class TrainError(SSRFNetError, RuntimeError):
    """A training run that cannot start or go on; the message names the option, file or step."""


@dataclass
class RunPaths:
    train_data: str
    dev_data: str | None
    dev_trials: str | None
    exp_dir: str
    musan_dir: str | None = None
    rirs_dir: str | None = None
    init: str | None = None


@dataclass
class RunConfig:
    """mode 'distill' (stage 2) or 'ssrfnet' (stage 3); the model and training option values; and the values
    of every other option group, which the run does not use but writes to config.conf for later stages."""

    mode: str
    model: dict
    train: dict
    others: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.mode not in MODES:
            raise TrainError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    @property
    def options(self) -> dict:
        """The training options as this mode runs them (stage 2 may be shorter: --distill-max-steps)."""
        opts = dict(self.train)
        if self.mode == "distill" and opts.get("distill_max_steps", 0) > 0:
            opts["max_steps"] = opts["distill_max_steps"]
        return opts

    def all_values(self) -> dict:
        return {**self.model, **self.train, **self.others}

    def shaping(self, num_classes: int) -> dict:
        """The options that decide the shapes of the trained weights (a checkpoint fits these only)."""
        values = {"mode": self.mode, "num_classes": num_classes}
        values.update({f"model.{k}": format_value(v) for k, v in self.model.items()})
        values.update({f"train.{k}": format_value(self.train[k]) for k in MODEL_SHAPING_TRAIN_KEYS
                       if k != "speed_perturb" or self.train.get(k)})  # off: the digests of earlier runs
        return values

    def digest(self, num_classes: int) -> str:
        """A short stable hash of `shaping(num_classes)`, stored in every checkpoint."""
        values = self.shaping(num_classes)
        text = json.dumps({k: values[k] for k in sorted(values)}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_saved_config(exp: Path, cfg: RunConfig, force_new: bool) -> None:
    """Refuse a re-start whose model-shaping options differ from <exp>/config.conf (unless --force-new);
    log the other options that changed."""
    saved_path = exp / "config.conf"
    if not saved_path.is_file():
        return
    saved = {key.replace("-", "_"): value for key, value, _ in read_conf(saved_path)}
    shaping_keys = set(cfg.model) | set(MODEL_SHAPING_TRAIN_KEYS)
    changed = [(k, saved[k], format_value(v)) for k, v in cfg.all_values().items()
               if saved.get(k) is not None and saved[k] != format_value(v)]
    for key, old, new in changed:
        if key not in shaping_keys:
            log.info("option --%s changed since the last start: %r -> %r", key.replace("_", "-"), old, new)
    refused = [f"--{k.replace('_', '-')}: saved {old!r}, now {new!r}" for k, old, new in changed
               if k in shaping_keys]
    if refused and not force_new:
        raise TrainError(
            f"{exp} already holds a run with another model configuration ({saved_path}: "
            f"{'; '.join(refused)}); "
            "use another --exp-dir, restore the options, or pass --force-new to start over (the old "
            "checkpoints are moved to checkpoints.old-<time>)")


def check_training_options(mode: str, model_type: str, sources: dict[str, OptionSource],
                           init: str | None = None) -> None:
    """Options set for this run that it would ignore are errors naming the option and where it was set:
    model keys the model type does not read; the teacher / KD / stage-2 options (and --init) for a model
    type without a student; the teacher / KD options in stage 7, which trains the speaker loss alone."""
    chosen = chosen_options(sources)
    for dest, source in chosen.items():
        check_model_keys(model_type, [dest], where=str(source))
    has_student = model_type in STUDENT_MODEL_TYPES
    if mode == "distill" and not has_student:
        raise ConfError(f"--model-type={model_type} has no student: stage 2 (--mode distill) does not apply "
                        "(train it with --mode ssrfnet alone)")
    if mode == "lmft":
        why = "--mode lmft (large-margin fine-tuning trains the speaker loss alone, without a teacher)"
    elif not has_student:
        why = f"--model-type={model_type} (it has no student, so no teacher, KD or stage 2)"
    else:
        return
    for dest in STUDENT_TRAIN_KEYS:
        if dest in chosen:
            raise ConfError(f"{chosen[dest]}: --{dest.replace('_', '-')} does not apply to {why}; remove it")
    if init and mode != "lmft":
        raise ConfError(f"the command line: --init {init} does not apply to {why}; remove it")


def write_effective_config(exp: Path, cfg: RunConfig, command: str) -> None:
    header = (f"{EFFECTIVE_CONFIG_HEADER}{exp} (mode {cfg.mode}), written by ssrfnet.bin.train; every "
              f"option group, read back by the later stages\ncommand: {command}")
    write_conf(exp / "config.conf", cfg.all_values(), header=header)
