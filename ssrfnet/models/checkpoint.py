"""The project's model file format, its one writer, and the loader that also accepts the official formats.

    {'format': 'ssrfnet-model', 'version': 1, 'config': {every model key}, 'state_dict': {...}, **extra}

Training adds `model_part` ('model', or 'student' for a stage-2 file that holds the SV-Mixer alone),
`kd_state_dict`, `aam_state_dict` (the speaker classifier, where stage 7 starts from) and `train_info`; an
untrained model file (`save_initial_model`, e.g. the MFCC sanity baseline) has `untrained`. Files are
written atomically and load with torch.load(weights_only=True).
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ssrfnet.errors import CheckpointError
from ssrfnet.fileio import atomic_torch_save
from ssrfnet.models.build import MODEL_DEFAULTS, build_model, resolve_config
from ssrfnet.models.official import build_recognised, raise_key_mismatch, recognise_official
from ssrfnet.models.official_files import ModelFile, read_model_source, read_torch_file

FORMAT = "ssrfnet-model"
VERSION = 1


def plain_types(value):
    """Tuples (e.g. ReDimNet stages) as lists: weights_only loading accepts plain types only."""
    if isinstance(value, (list, tuple)):
        return [plain_types(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_types(v) for k, v in value.items()}
    return value


def write_model_file(path: str | os.PathLike, config: dict, state_dict: dict, **extra) -> None:
    """Write a model file atomically (a temporary file beside `path`, then a rename)."""
    blob = {"format": FORMAT, "version": VERSION, "config": plain_types(dict(config)),
            "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}, **extra}
    atomic_torch_save(blob, Path(path))


def save_model(model: nn.Module, cfg: dict, path: str | os.PathLike, **extra) -> None:
    """Write `model`'s weights with its resolved model config (every model key) as a model file."""
    resolved = resolve_config(cfg)
    write_model_file(path, {k: resolved[k] for k in MODEL_DEFAULTS}, model.state_dict(), **extra)


def save_initial_model(cfg: dict, path: str | os.PathLike, seed: int = 0) -> nn.Module:
    """Build the model of `cfg` untrained (weights drawn with `seed`; the MFCC sanity baseline has none)
    and write it as a model file marked `untrained`; returns the model."""
    import torch

    torch.manual_seed(seed)
    model = build_model(cfg)
    save_model(model, cfg, path, model_part="model", untrained={"seed": int(seed)})
    return model


def load_state_strictly(model: nn.Module, state: dict, where: str) -> None:
    ours = model.state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    mis_shaped = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
                  for k, v in ours.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    raise_key_mismatch(missing, unexpected, mis_shaped, f"{where}: checkpoint does not match the model")
    model.load_state_dict(state, strict=True)


def _files(source) -> list[ModelFile]:
    return [ModelFile("checkpoint", None, source)] if isinstance(source, dict) else read_model_source(source)


def _ours(files: list[ModelFile]) -> dict | None:
    """The checkpoint dict when `files` is one file of our format (version checked), else None."""
    ckpt = files[0].ckpt
    if len(files) != 1 or ckpt.get("format") != FORMAT:
        return None
    if int(ckpt.get("version", -1)) != VERSION:
        raise CheckpointError(f"{files[0].where}: unsupported {FORMAT} version {ckpt.get('version')!r} "
                              f"(expected {VERSION})")
    for key in ("config", "state_dict"):
        if not isinstance(ckpt.get(key), dict):
            raise CheckpointError(f"{files[0].where}: an {FORMAT} file without its {key!r} dict (expected "
                                  "'config' and 'state_dict', as save_model writes them): incomplete or "
                                  "edited")
    return ckpt


def load_model_and_config(source: str | os.PathLike | dict | list | tuple,
                          **overrides) -> tuple[nn.Module, dict]:
    """(eval-mode model, its flat model config) of a model argument or a loaded dict: our format, or any
    official artifact.

    `source` is our model file, an official checkpoint (`from_official`), a directory holding the released
    SSRFNet pair, 'sv_mixer.pt,classifier.pt', or a list of paths (`ssrfnet.models.official_files`).
    `overrides` set model keys on top of the file's config (e.g. fast_ops, mel_noise; for the released
    SSRFNet weights, which carry no configuration, the structural keys too).
    """
    files = _files(source)
    ckpt = _ours(files)
    if ckpt is not None:
        config = {**ckpt["config"], **overrides}
        model = build_model(config)
        load_state_strictly(model, ckpt["state_dict"], files[0].where)
        return model.eval(), config
    recognised = recognise_official(files)
    return build_recognised(recognised, **overrides), {**recognised.config, **overrides}


def load_model(source: str | os.PathLike | dict | list | tuple, **overrides) -> nn.Module:
    """The eval-mode model of a model argument or a loaded dict (see load_model_and_config)."""
    return load_model_and_config(source, **overrides)[0]


def model_config(source: str | os.PathLike | dict | list | tuple) -> dict:
    """The flat model config stored in (our format) or implied by (official formats) a model argument."""
    files = _files(source)
    ckpt = _ours(files)
    return dict(ckpt["config"]) if ckpt is not None else dict(recognise_official(files).config)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """torch.load(weights_only=True) of a checkpoint file; CheckpointError naming the path when unreadable."""
    return read_torch_file(path)
