"""Key names: our state_dict keys <-> the official ones (IDRnD ReDimNet hub files, dayflys SSRFNet).

Each `*_official_key(model, our_key)` gives the official name of one of our keys; loading walks our keys
and looks each one up in the official dict, so one direction serves both ways. `to_official_state_dict`
writes a model's weights under the official names (the released layout, front-end buffers included).

IDRnD renamed its keys in Nov 2024. The older layout kept the mixing weights in a list
`backbone.inputs_weights.{i}` (the last one is the final mix) and numbered each stage's layers from the
stride conv (`.0`), two places lower than now; `redimnet_state_from_old_layout` maps it to the current one.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from ssrfnet.errors import CheckpointError
from ssrfnet.models.fusion import SSRFNet
from ssrfnet.models.redimnet import ReDimNet

# The official front ends keep their derived constants as buffers (we recompute them).
_FRONTEND_BUFFERS = (("torchfbank.1.flipped_filter", "emphasis"),
                     ("torchfbank.2.spectrogram.window", "window"),
                     ("torchfbank.2.mel_scale.fb", "fbank"))
_OLD_WEIGHT = re.compile(r"backbone\.inputs_weights\.(\d+)$")


def _stage_key(stage_idx: int, stage, rest: str) -> str:
    """Our 'stages.i.<rest>' -> official 'stage{i}.<k>...' (the official stage is one nn.Sequential)."""
    n = len(stage.blocks)
    head, _, tail = rest.partition(".")
    if head == "mix":
        return f"stage{stage_idx}.0.{tail}"
    if head == "down":
        return f"stage{stage_idx}.2.{tail}"
    if head == "blocks":
        j, _, inner = tail.partition(".")
        return f"stage{stage_idx}.{3 + int(j)}.conv_block.{inner}"
    if head == "squeeze":
        return f"stage{stage_idx}.{3 + n}.{tail}"
    if head == "context":
        return f"stage{stage_idx}.{4 + n + (stage.squeeze is not None)}.{tail}"
    raise KeyError(rest)


def _body_key(body, rest: str) -> str:
    if rest.startswith("final_mix."):
        return "fin_wght1d." + rest[len("final_mix."):]
    m = re.match(r"stages\.(\d+)\.(.*)", rest)
    if not m:
        raise KeyError(rest)
    i = int(m.group(1))
    return _stage_key(i, body.stages[i], m.group(2))


def redimnet_official_key(model, key: str) -> str:
    if key.startswith("stem.conv."):
        return "backbone.stem.0." + key[len("stem.conv."):]
    if key.startswith("stem.norm."):
        return "backbone.stem.1." + key[len("stem.norm."):]
    if key.startswith("body."):
        return "backbone." + _body_key(model.body, key[len("body."):])
    if key.startswith("head."):
        return key[len("head."):]
    raise KeyError(key)


def ssrfnet_backend_official_key(backend, key: str) -> str:
    m = re.match(r"pfm\.mix\.(\d+)\.(.*)", key)
    if m:
        return f"conv_list.{m.group(1)}.{m.group(2)}"
    m = re.match(r"pfm\.proj\.(\d+)\.(conv|norm)\.(.*)", key)
    if m:
        return f"backbone.stems.{m.group(1)}.{0 if m.group(2) == 'conv' else 1}.{m.group(3)}"
    if key.startswith("stem.conv."):
        return "backbone.stem_spec.0." + key[len("stem.conv."):]
    if key.startswith("body."):
        return "backbone." + _body_key(backend.body, key[len("body."):])
    if key.startswith("head."):
        return key[len("head."):]
    raise KeyError(key)


def ssrfnet_official_key(model, key: str) -> str:
    if key.startswith("student."):
        return "student_model." + key[len("student."):]
    if key.startswith("backend."):
        return "classifier." + ssrfnet_backend_official_key(model.backend, key[len("backend."):])
    raise KeyError(key)


def official_key_function(model: nn.Module):
    """The `(model, our_key) -> official key` function for an SSRFNet or a ReDimNet model."""
    if isinstance(model, SSRFNet):
        return ssrfnet_official_key
    if isinstance(model, ReDimNet):
        return redimnet_official_key
    raise CheckpointError(f"{type(model).__name__} has no official counterpart (only SSRFNet and ReDimNet)")


def to_official_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Our SSRFNet / ReDimNet weights under the official key names, with the official front-end buffers.

    SSRFNet keys come as `student_model.*` and `classifier.*` (the training module's layout; the released
    pair holds each half without its prefix); ReDimNet keys as in an IDRnD hub file's `state_dict`.
    """
    to_official = official_key_function(model)
    out = {to_official(model, k): v.detach().clone() for k, v in model.state_dict().items()}
    frontend, prefix = (model.backend.frontend, "classifier.spec.") if hasattr(model, "backend") else (
        model.frontend, "spec.")
    for official, ours in _FRONTEND_BUFFERS:
        out[prefix + official] = getattr(frontend, ours).detach().clone()
    return out


def is_old_redimnet_layout(state: dict) -> bool:
    return any(k.startswith("backbone.inputs_weights.") for k in state)


def redimnet_state_from_old_layout(state: dict) -> dict:
    """A pre-Nov-2024 IDRnD state_dict -> the current key layout (see the module docstring)."""
    stage_ids = {int(m.group(1)) for k in state if (m := re.match(r"backbone\.stage(\d+)\.", k))}
    num_stages = len(stage_ids)
    weight_ids = sorted(int(m.group(1)) for k in state if (m := _OLD_WEIGHT.match(k)))
    if stage_ids != set(range(num_stages)) or weight_ids != list(range(num_stages + 1)):
        raise CheckpointError(
            f"old-layout ReDimNet state_dict has stages {sorted(stage_ids)} and mixing weights "
            f"backbone.inputs_weights.{weight_ids}; expected stages 0..S-1 and weights 0..S")
    out = {}
    for key, value in state.items():
        m = _OLD_WEIGHT.match(key)
        if m:
            i = int(m.group(1))
            out["backbone.fin_wght1d.w" if i == num_stages else f"backbone.stage{i}.0.w"] = value
            continue
        m = re.match(r"backbone\.stage(\d+)\.(\d+)\.(.*)", key)
        out[f"backbone.stage{m.group(1)}.{int(m.group(2)) + 2}.{m.group(3)}" if m else key] = value
    return out


def first_items(items, n: int = 5, sep: str = ", ") -> str:
    """'a, b, c, d, e, ... (7 more)': the first `n` of a list, for one-line messages."""
    items = list(items)
    shown = sep.join(str(i) for i in items[:n])
    return shown + (f"{sep}... ({len(items) - n} more)" if len(items) > n else "")
