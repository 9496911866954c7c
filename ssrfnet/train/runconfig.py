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

from ssrfnet.config import format_value, read_conf, write_conf
from ssrfnet.errors import SSRFNetError
from ssrfnet.train.options import MODEL_SHAPING_TRAIN_KEYS

log = logging.getLogger("ssrfnet.train")
MODES = ("distill", "ssrfnet")


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
        values.update({f"train.{k}": format_value(self.train[k]) for k in MODEL_SHAPING_TRAIN_KEYS})
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


def write_effective_config(exp: Path, cfg: RunConfig, command: str) -> None:
    header = (f"Effective configuration of {exp} (mode {cfg.mode}), written by ssrfnet.bin.train; every "
              f"option group, read back by the later stages\ncommand: {command}")
    write_conf(exp / "config.conf", cfg.all_values(), header=header)
