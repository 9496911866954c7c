"""Our model checkpoint format and a loader that also accepts the official formats.

{'format': 'ssrfnet-model', 'version': 1, 'config': {model keys}, 'state_dict': {...}}
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ssrfnet.fileio import atomic_torch_save
from ssrfnet.models.build import MODEL_DEFAULTS, build_model, resolve_config
from ssrfnet.models.official import CheckpointError, from_official, raise_key_mismatch

FORMAT = "ssrfnet-model"
VERSION = 1


def _plain_config(cfg: dict) -> dict:
    """Model keys only, with tuples turned into lists (weights_only loading accepts plain types)."""
    c = resolve_config(cfg)
    c["redimnet_stages"] = [list(s) for s in c["redimnet_stages"]]
    return {k: c[k] for k in MODEL_DEFAULTS}


def save_model(model: nn.Module, cfg: dict, path: str | os.PathLike) -> None:
    """Write the model atomically: a temp file in the same directory, then os.replace."""
    path = Path(path)
    blob = {"format": FORMAT, "version": VERSION, "config": _plain_config(cfg),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    atomic_torch_save(blob, path)


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
        ckpt = torch.load(source, map_location="cpu", weights_only=True)
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
        from ssrfnet.models.build import set_fast

        set_fast(model, overrides["fast_ops"])
    return model


def model_config(ckpt: dict) -> dict:
    """The flat model config stored in (or implied by) a checkpoint dict."""
    if ckpt.get("format") == FORMAT:
        return dict(ckpt["config"])
    raise CheckpointError("only ssrfnet-model checkpoints carry a flat model config")
