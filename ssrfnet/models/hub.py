"""torch.hub entry points (`hubconf.py` at the repository root calls these): build a model, load weights.

    model = torch.hub.load("<repo dir or owner/repo>", "ssrfnet", weights="exp/ssrfnet/final.pt",
                           source="local")

`weights` is a local path or a URL (http(s)://, file://; fetched with torch.hub.load_state_dict_from_url
into the hub cache) of any model file `ssrfnet.models.load_model` reads: ours, an official ReDimNet hub
file or an official SSRFNet checkpoint. Without weights the entry point builds a randomly initialised
model from the config keyword arguments (every model key of `MODEL_DEFAULTS`; default the full model).
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ssrfnet.errors import CheckpointError, ConfError
from ssrfnet.models.build import MODEL_DEFAULTS, build_model
from ssrfnet.models.checkpoint import load_model, model_config, read_checkpoint

URL_SCHEMES = ("http://", "https://", "file://")
RUNTIME_KEYS = ("fast_ops",)  # the only config keys that may accompany weights (they change no weight)


def fetch_checkpoint(weights: str | os.PathLike, model_dir: str | None = None) -> dict:
    """A checkpoint dict from a local path or a URL (weights_only loading either way)."""
    text = str(weights)
    if text.startswith(URL_SCHEMES):
        import torch

        try:
            ckpt = torch.hub.load_state_dict_from_url(text, model_dir=model_dir, map_location="cpu",
                                                      progress=False, weights_only=True)
        except Exception as err:  # urllib and torch.load raise many types
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise CheckpointError(f"{text}: cannot fetch model weights ({first})") from None
        if not isinstance(ckpt, dict):
            raise CheckpointError(f"{text}: expected a checkpoint dict, got {type(ckpt).__name__}")
        return ckpt
    return read_checkpoint(Path(text))


def hub_model(model_type: str, weights=None, model_dir: str | None = None, **config) -> nn.Module:
    """An eval-mode `model_type` model: randomly initialised from `config`, or loaded from `weights`."""
    unknown = sorted(set(config) - set(MODEL_DEFAULTS))
    if unknown:
        raise ConfError(f"unknown model option(s) {', '.join(unknown)}; known: {', '.join(MODEL_DEFAULTS)}")
    if weights is None:
        return build_model({**config, "model_type": model_type}).eval()
    structural = sorted(set(config) - set(RUNTIME_KEYS))
    if structural:
        raise ConfError(f"{', '.join(structural)}: the weights file decides the model configuration; "
                        f"only {', '.join(RUNTIME_KEYS)} may be given with weights")
    ckpt = fetch_checkpoint(weights, model_dir)
    found = model_config(ckpt).get("model_type", "ssrfnet")
    if found != model_type:
        raise CheckpointError(f"{weights}: holds a {found} model, not a {model_type} (use the '{found}' "
                              "entry point)")
    return load_model(ckpt, **config)
