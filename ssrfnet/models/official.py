"""Loading the official released artifacts (IDRnD ReDimNet hub files, dayflys SSRFNet) into our modules.

`from_official(source, **overrides)` accepts a checkpoint dict, the released SSRFNet pair (two dicts, two
paths, 'a.pt,b.pt' or a directory), an official SSRFNet Lightning checkpoint, or an IDRnD hub file in the
current or the pre-Nov-2024 key layout; `recognise_official` says what a source is and which configuration
it needs, without building anything. Loading is strict both ways: missing, unexpected and mis-shaped keys
are all reported, summarised on one line.

Configuration: a ReDimNet hub file carries its model_config (or its released name gives it); an SSRFNet
checkpoint with our fixtures' model_config uses it; the released SSRFNet weights carry none and are the
full-size official model. `overrides` (our flat model keys, e.g. fast_ops=False) apply on top.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from torch import nn

from ssrfnet.errors import CheckpointError
from ssrfnet.models.build import build_model
from ssrfnet.models.official_files import ModelFile, read_model_source
from ssrfnet.models.official_keys import (
    first_items,
    is_old_redimnet_layout,
    official_key_function,
    redimnet_official_key,
    redimnet_state_from_old_layout,
    ssrfnet_backend_official_key,
    ssrfnet_official_key,
    to_official_state_dict,
)
from ssrfnet.models.official_redimnet import (
    canonical_hub_model,
    hub_preset,
    parse_hub_filename,
    redimnet_config_from_official,
)
from ssrfnet.models.official_ssrfnet import (
    is_thop_key,
    merge_ssrfnet_pair,
    normalise_ssrfnet_state,
    ssrfnet_config_from_official,
    ssrfnet_half,
    state_dict_of,
)

__all__ = [
    "Recognised", "from_official", "load_mapped_state_dict", "match_official_state", "raise_key_mismatch",
    "recognise_official", "redimnet_config_from_official", "redimnet_official_key",
    "ssrfnet_backend_official_key", "ssrfnet_config_from_official", "ssrfnet_official_key",
    "to_official_state_dict",
]

_LIGHTNING_VERSION = "pytorch-lightning_version"
_HALF_NAMES = {"student": "SV-Mixer (student_model)", "classifier": "classifier (ReDimNet backend)"}


def raise_key_mismatch(missing: list[str], unexpected: list[str], mis_shaped: list[str],
                       context: str = "checkpoint does not match the model") -> None:
    """Raise one CheckpointError line: each kind of difference with its count and its first few keys."""
    if not (missing or unexpected or mis_shaped):
        return
    parts = []
    if missing:
        parts.append(f"missing keys ({len(missing)}): {first_items(missing)}")
    if unexpected:
        parts.append(f"unexpected keys ({len(unexpected)}): {first_items(unexpected)}")
    if mis_shaped:
        parts.append(f"mis-shaped keys ({len(mis_shaped)}): {first_items(mis_shaped, 3, '; ')}")
    raise CheckpointError(f"{context}: " + " | ".join(parts))


def _ignorable(key: str) -> bool:
    """Derived front-end buffers (we recompute them) and thop counters."""
    return key.startswith(("spec.", "classifier.spec.")) or is_thop_key(key)


def match_official_state(model: nn.Module, official: dict, to_official) -> tuple[dict, list, list, list]:
    """-> (our-key state dict, missing official keys, unexpected official keys, mis-shaped descriptions).

    Works on a model built on the meta device too (shapes only)."""
    ours = model.state_dict()
    mapped, missing, mis_shaped, used = {}, [], [], set()
    for key, ref in ours.items():
        off = to_official(model, key)
        if off not in official:
            missing.append(off)
            continue
        used.add(off)
        value = official[off]
        if tuple(value.shape) != tuple(ref.shape):
            mis_shaped.append(f"{off}: checkpoint {tuple(value.shape)} vs model {tuple(ref.shape)}")
            continue
        mapped[key] = value.to(ref.dtype)
    unexpected = [k for k in official if k not in used and not _ignorable(k)]
    return mapped, missing, unexpected, mis_shaped


def load_mapped_state_dict(model: nn.Module, official: dict, to_official,
                           context: str = "checkpoint does not match the model") -> None:
    """Strictly load an official-layout state_dict via `to_official(model, our_key)`."""
    mapped, missing, unexpected, mis_shaped = match_official_state(model, official, to_official)
    raise_key_mismatch(missing, unexpected, mis_shaped, context)
    model.load_state_dict(mapped, strict=True)


@dataclass
class Recognised:
    """What an official source is, the configuration it needs, and its state dict in the current layout."""

    where: str
    what: str
    config: dict
    config_source: str
    state: dict
    dropped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        dropped = ", ".join(f"{n} {kind}" for kind, n in sorted(self.dropped.items()))
        return (f"{self.where}: {self.what}; configuration: {self.config_source}; "
                f"{len(self.state)} tensors kept" + (f", dropped {dropped}" if dropped else ""))


def _drop_frontend_buffers(state: dict, dropped: Counter) -> dict:
    """Drop (and count) the keys `_ignorable` names."""
    for key in state:
        if _ignorable(key):
            dropped["thop counters" if is_thop_key(key) else "front-end buffers (recomputed)"] += 1
    return {k: v for k, v in state.items() if not _ignorable(k)}


def _converted_config(convert, mc: dict, where: str) -> dict:
    """`convert(model_config)`; a malformed model_config is a CheckpointError naming the file."""
    try:
        return convert(mc)
    except CheckpointError as err:
        raise CheckpointError(f"{where}: {err}") from err
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise CheckpointError(f"{where}: malformed model_config ({type(err).__name__}: {err})") from err


def _recognise_redimnet(file: ModelFile, state: dict) -> Recognised:
    mc = file.ckpt.get("model_config")
    hub = parse_hub_filename(file.name) if file.name else None
    model_name = canonical_hub_model(hub, file.where) if hub else None  # an unknown name is an error
    if isinstance(mc, dict) and "stages_setup" in mc:
        config = _converted_config(redimnet_config_from_official, mc, file.where)
        source = "the file's model_config"
    elif hub:
        config = {"model_type": "redimnet", "redimnet_preset": hub_preset(hub, file.where)}
        source = f"the released configuration of ReDimNet {model_name} (no model_config in the file)"
    else:
        raise CheckpointError(f"{file.where}: ReDimNet state dict without a model_config, and the file name "
                              "is not a released hub name ({model}-{dataset}-{train_type}.pt)")
    old = is_old_redimnet_layout(state)
    if old:
        state = redimnet_state_from_old_layout(state)
    dropped: Counter = Counter()
    state = _drop_frontend_buffers(state, dropped)
    layout = "pre-Nov-2024 key layout" if old else "current key layout"
    what = f"IDRnD ReDimNet hub file{f' {hub}' if hub else ''} ({layout})"
    return Recognised(file.where, what, config, source, state, dropped)


def _ssrfnet_what(ckpt: dict) -> str:
    if _LIGHTNING_VERSION in ckpt:
        extra = first_items(sorted(k for k in ckpt if k not in ("state_dict", "model_config")), 8)
        return (f"SSRFNet Lightning checkpoint (pytorch-lightning {ckpt[_LIGHTNING_VERSION]}, epoch "
                f"{ckpt.get('epoch', '?')}, global step {ckpt.get('global_step', '?')}; not read: {extra})")
    return "SSRFNet checkpoint (student_model.* + classifier.*)"


def _ssrfnet_recognised(where: str, what: str, ckpt_config, state: dict, dropped: Counter) -> Recognised:
    if isinstance(ckpt_config, dict) and "student" in ckpt_config:
        config = _converted_config(ssrfnet_config_from_official, ckpt_config, where)
        source = "the file's model_config"
    else:
        config = {"model_type": "ssrfnet"}
        source = "the full-size official SSRFNet (the released weights carry no configuration)"
    return Recognised(where, what, config, source, _drop_frontend_buffers(state, dropped), dropped)


def _recognise_one(file: ModelFile) -> Recognised:
    ckpt = file.ckpt
    if ckpt.get("format") == "ssrfnet-model":
        raise CheckpointError(f"{file.where}: already an ssrfnet-model file (load it with load_model)")
    mc = ckpt.get("model_config")
    state = state_dict_of(ckpt, file.where)
    if (isinstance(mc, dict) and "stages_setup" in mc) or is_old_redimnet_layout(state) or any(
            k.startswith("backbone.stem.0.") for k in state):
        return _recognise_redimnet(file, state)
    half = ssrfnet_half(state)
    if half == "both":
        state, dropped = normalise_ssrfnet_state(state, half)
        return _ssrfnet_recognised(file.where, _ssrfnet_what(ckpt), mc, state, dropped)
    if half is not None:
        raise CheckpointError(f"{file.where}: holds only the {_HALF_NAMES[half]} half of the released "
                              "SSRFNet pair; name both files: their directory, or sv_mixer.pt,classifier.pt")
    raise CheckpointError(f"{file.where}: not an official SSRFNet or ReDimNet checkpoint (first keys: "
                          f"{first_items(list(state))})")


def _as_files(source, where: str | None) -> list[ModelFile]:
    if isinstance(source, dict):
        return [ModelFile(where or "checkpoint", None, source)]
    if isinstance(source, (list, tuple)) and source and all(isinstance(s, ModelFile) for s in source):
        return list(source)
    if isinstance(source, (list, tuple)) and source and all(isinstance(s, dict) for s in source):
        return [ModelFile(f"{where or 'checkpoint'} #{i + 1}", None, s) for i, s in enumerate(source)]
    if isinstance(source, (str, os.PathLike, list, tuple)):
        return read_model_source(source)
    raise CheckpointError(f"not an official checkpoint: expected a dict, a path or a pair, got "
                          f"{type(source).__name__}")


def recognise_official(source, where: str | None = None) -> Recognised:
    """Identify an official source (see from_official) -> Recognised; CheckpointError naming the file."""
    files = _as_files(source, where)
    if len(files) == 1:
        return _recognise_one(files[0])
    state, dropped = merge_ssrfnet_pair([(f.where, f.ckpt) for f in files])
    configs = [f.ckpt.get("model_config") for f in files if isinstance(f.ckpt.get("model_config"), dict)]
    where_all = " + ".join(f.where for f in files)
    return _ssrfnet_recognised(where_all, "released SSRFNet pair (SV-Mixer + classifier state dicts)",
                               configs[0] if configs else None, state, dropped)


def build_recognised(rec: Recognised, **overrides) -> nn.Module:
    """Build the model a Recognised source needs (with `overrides` on its config) and load it strictly."""
    try:
        model = build_model({**rec.config, **overrides})
    except ValueError as err:  # ConfError, or a layout the modules reject (e.g. too few PFM layers)
        raise CheckpointError(f"{rec.where}: {rec.config_source} cannot be built: {err}") from err
    context = f"{rec.where}: the weights do not fit {rec.config_source}"
    structural = sorted(set(overrides) - {"fast_ops", "mel_noise"})
    if structural:
        context += f" with {', '.join(structural)} set by the caller"
    load_mapped_state_dict(model, rec.state, official_key_function(model), context)
    return model.eval()


def from_official(source, *, where: str | None = None, **overrides) -> nn.Module:
    """Official checkpoint dict / pair / path -> eval-mode model (float32 16 kHz (B, N) -> (B, 192)).

    `source`: a dict ({'model_config', 'state_dict'} hub dict, an SSRFNet or Lightning checkpoint, one half
    of the released pair is refused with a hint), a list of two dicts (the pair), or a model argument as
    `official_files` describes (a path, a directory holding the pair, 'a.pt,b.pt', a list of paths).
    """
    return build_recognised(recognise_official(source, where), **overrides)
