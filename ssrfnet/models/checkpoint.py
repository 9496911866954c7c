"""The project's model file format, its one writer, and the loader that also accepts the official formats.

    {'format': 'ssrfnet-model', 'version': 1, 'config': {every model key}, 'state_dict': {...}, **extra}

Training adds `model_part` ('model', or 'student' for a stage-2 file that holds the SV-Mixer alone),
`kd_state_dict` and `train_info`. Files are written atomically and load with torch.load(weights_only=True).
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ssrfnet.errors import CheckpointError
from ssrfnet.fileio import atomic_torch_save
from ssrfnet.models.build import MODEL_DEFAULTS, build_model, resolve_config
from ssrfnet.models.official import from_official, raise_key_mismatch
from ssrfnet.models.official_files import ModelFile, read_model_source, read_torch_file

FORMAT = "ssrfnet-model"
VERSION = 1


def _plain(value):
    """Tuples (e.g. ReDimNet stages) as lists: weights_only loading accepts plain types only."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def write_model_file(path: str | os.PathLike, config: dict, state_dict: dict, **extra) -> None:
    """Write a model file atomically (a temporary file beside `path`, then a rename)."""
    blob = {"format": FORMAT, "version": VERSION, "config": _plain(dict(config)),
            "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}, **extra}
    atomic_torch_save(blob, Path(path))


def save_model(model: nn.Module, cfg: dict, path: str | os.PathLike, **extra) -> None:
    """Write `model`'s weights with its resolved model config (every model key) as a model file."""
    resolved = resolve_config(cfg)
    write_model_file(path, {k: resolved[k] for k in MODEL_DEFAULTS}, model.state_dict(), **extra)


def _strict_load(model: nn.Module, state: dict, where: str) -> None:
    ours = model.state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    mis_shaped = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
                  for k, v in ours.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    raise_key_mismatch(missing, unexpected, mis_shaped, f"{where}: checkpoint does not match the model")
    model.load_state_dict(state, strict=True)


def load_model(source: str | os.PathLike | dict | list | tuple, **overrides) -> nn.Module:
    """A model argument or a loaded dict -> eval-mode model: our format, or any official artifact.

    `source` is our model file, an official checkpoint (`from_official`), a directory holding the released
    SSRFNet pair, 'sv_mixer.pt,classifier.pt', or a list of paths (`ssrfnet.models.official_files`).
    `overrides` set model keys on top of the file's config (e.g. fast_ops, mel_noise; for the released
    SSRFNet weights, which carry no configuration, the structural keys too).
    """
    files = [ModelFile("checkpoint", None, source)] if isinstance(source, dict) else read_model_source(source)
    ckpt = files[0].ckpt
    if len(files) == 1 and ckpt.get("format") == FORMAT:
        if int(ckpt.get("version", -1)) != VERSION:
            raise CheckpointError(f"{files[0].where}: unsupported {FORMAT} version {ckpt.get('version')!r} "
                                  f"(expected {VERSION})")
        model = build_model({**ckpt["config"], **overrides})
        _strict_load(model, ckpt["state_dict"], files[0].where)
        return model.eval()
    return from_official(files, **overrides)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """torch.load(weights_only=True) of a checkpoint file; CheckpointError naming the path when unreadable."""
    return read_torch_file(path)


def model_config(ckpt: dict) -> dict:
    """The flat model config stored in (or implied by) a checkpoint dict."""
    if ckpt.get("format") == FORMAT:
        return dict(ckpt["config"])
    raise CheckpointError("only ssrfnet-model checkpoints carry a flat model config")
