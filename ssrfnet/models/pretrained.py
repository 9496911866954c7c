"""The Hugging Face style model directory: `config.json` + `model.safetensors`.

    config.json         {"format": "ssrfnet-pretrained", "version": 1, "model_config": {every model key},
                         "embed_dim": 192, "crop_samples": 48000 or null, "library": "ssrfnet"}
    model.safetensors   the state_dict (float tensors, no pickle)

`huggingface_hub` uploads and downloads such a directory as a model repository (`ssrfnet.api.from_pretrained`
resolves repository ids); loading needs no code from the checkpoint, only this package.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from torch import nn

from ssrfnet.errors import CheckpointError
from ssrfnet.fileio import atomic_write_json
from ssrfnet.models.build import MODEL_DEFAULTS, build_model, resolve_config
from ssrfnet.models.checkpoint import load_state_strictly, plain_types

FORMAT = "ssrfnet-pretrained"
VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def is_pretrained_dir(path: str | os.PathLike) -> bool:
    path = Path(path)
    return (path / CONFIG_NAME).is_file() and (path / WEIGHTS_NAME).is_file()


def save_pretrained(model: nn.Module, config: dict, directory: str | os.PathLike) -> Path:
    """Write `model` (built from `config`) as config.json + model.safetensors; config.json goes last, so a
    directory that has it is complete."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    resolved = resolve_config(config)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = directory / f".{WEIGHTS_NAME}.tmp{os.getpid()}"
    try:
        save_file(state, str(tmp), metadata={"format": FORMAT})
        os.replace(tmp, directory / WEIGHTS_NAME)
    finally:
        if tmp.exists():
            tmp.unlink()
    info = {"format": FORMAT, "version": VERSION, "library": "ssrfnet",
            "model_config": plain_types({k: resolved[k] for k in MODEL_DEFAULTS}),
            "embed_dim": int(model.embed_dim), "crop_samples": getattr(model, "crop_samples", None)}
    atomic_write_json(directory / CONFIG_NAME, info, indent=2)
    return directory


def read_pretrained_config(directory: str | os.PathLike) -> dict:
    path = Path(directory) / CONFIG_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable JSON model config ({err})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an ssrfnet model config (format {FORMAT!r} expected)")
    if int(info.get("version", -1)) != VERSION:
        raise CheckpointError(
            f"{path}: unsupported {FORMAT} version {info.get('version')!r} (expected {VERSION})")
    if not isinstance(info.get("model_config"), dict):
        raise CheckpointError(f"{path}: no 'model_config' object")
    return info


def load_pretrained(directory: str | os.PathLike, **overrides) -> tuple[nn.Module, dict]:
    """(eval-mode model, its model config) from a config.json + model.safetensors directory."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    if not is_pretrained_dir(directory):
        raise CheckpointError(f"{directory}: expected {CONFIG_NAME} and {WEIGHTS_NAME} (save_pretrained)")
    config = dict(read_pretrained_config(directory)["model_config"])
    try:
        state = load_file(str(directory / WEIGHTS_NAME))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{directory / WEIGHTS_NAME}: not a readable safetensors file ({err})") \
            from None
    model = build_model({**config, **overrides})
    load_state_strictly(model, state, str(directory))
    return model.eval(), config
