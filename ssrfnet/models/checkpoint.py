"""The project's model file format, its one writer, and the loader that also accepts the official formats.

    {'format': 'ssrfnet-model', 'version': 1, 'config': {every model key}, 'state_dict': {...}, **extra}

Training adds `model_part` ('model', or 'student' for a stage-2 file that holds the SV-Mixer alone),
`kd_state_dict` and `train_info`. Files are written atomically and load with torch.load(weights_only=True).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ssrfnet.errors import CheckpointError
from ssrfnet.fileio import atomic_torch_save
from ssrfnet.models.build import MODEL_DEFAULTS, build_model, resolve_config
from ssrfnet.models.fast import use_fast_kernels, use_plain_ops
from ssrfnet.models.official import from_official, official_config, raise_key_mismatch

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


def _strict_load(model: nn.Module, state: dict) -> None:
    ours = model.state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    mis_shaped = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
                  for k, v in ours.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    raise_key_mismatch(missing, unexpected, mis_shaped)
    model.load_state_dict(state, strict=True)


def load_model(source: str | os.PathLike | dict, **overrides) -> nn.Module:
    """Path or loaded dict -> eval-mode model. Dispatches: our format / official ReDimNet / official SSRFNet.

    `overrides` may set non-structural keys such as fast_ops or mel_noise for our format.
    """
    if isinstance(source, dict):
        ckpt = source
    else:
        ckpt = read_checkpoint(source)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"checkpoint must be a dict, got {type(ckpt).__name__}")
    if ckpt.get("format") == FORMAT:
        if int(ckpt.get("version", -1)) != VERSION:
            raise CheckpointError(
                f"unsupported {FORMAT} version {ckpt.get('version')!r} (expected {VERSION})")
        model = build_model({**ckpt["config"], **overrides})
        _strict_load(model, ckpt["state_dict"])
        return model.eval()
    model = from_official(ckpt)
    if "fast_ops" in overrides:
        model = use_fast_kernels(model) if overrides["fast_ops"] else use_plain_ops(model)
    return model


def read_checkpoint(path: str | os.PathLike) -> dict:
    """torch.load(weights_only=True) of a checkpoint file; CheckpointError naming the path when unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises a zoo of types (RuntimeError, UnpicklingError, EOFError, ...)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({first})") from err
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a checkpoint dict, got {type(obj).__name__}")
    return obj


def model_config(ckpt: dict) -> dict:
    """The flat model config stored in (our format) or implied by (official formats) a checkpoint dict."""
    if ckpt.get("format") == FORMAT:
        return dict(ckpt["config"])
    return official_config(ckpt)


def load_model_and_config(path: str | os.PathLike, **overrides) -> tuple[nn.Module, dict]:
    """(eval-mode model, its flat model config) of any model file load_model reads."""
    ckpt = read_checkpoint(path)
    return load_model(ckpt, **overrides), model_config(ckpt)
