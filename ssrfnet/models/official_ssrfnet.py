"""The official SSRFNet artifacts (dayflys/SSRFNet): which half a state dict holds, and the released pair.

The training module (`ModelModule`) keeps the SV-Mixer as `student_model` and the ReDimNet backend as
`classifier`; its Lightning checkpoints also hold `teacher_model.*` (the frozen WavLM), `criterion_sv.*`,
`criterion_kd.*` and thop's `total_ops` / `total_params` counters. The released pair
`ssrfnet_eer0.60_sv_mixer_state_dict.pt` + `ssrfnet_eer0.60_classifier_state_dict.pt` holds one half
each, as a plain state dict or {'state_dict': ...}, with or without the prefix (the hub code strips it).
`normalise_ssrfnet_state` brings every variant to one `student_model.*` + `classifier.*` dict.
"""

from __future__ import annotations

from collections import Counter

import torch

from ssrfnet.errors import CheckpointError
from ssrfnet.models.configs import SSRFNET_BACKEND_STAGES
from ssrfnet.models.official_keys import first_items

STUDENT, CLASSIFIER = "student_model.", "classifier."
TRAINING_PREFIXES = ("teacher_model.", "criterion_")  # criterion_sv., criterion_kd., ...
_THOP = ("total_ops", "total_params")
# Top-level module names of the official SVMixer and of SSRFNet's ReDimNetWrap (the unprefixed halves).
_STUDENT_ROOTS = {"conv_layers", "feat_projection", "layers", "layer_norm"}
_CLASSIFIER_MARKS = ("conv_list.", "backbone.stem_spec.", "backbone.stems.")


def is_thop_key(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in _THOP


def state_dict_of(ckpt: dict, where: str) -> dict:
    """ckpt['state_dict'] when present, else the dict itself when it is a plain state dict."""
    state = ckpt.get("state_dict", ckpt)
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{where}: no state_dict (top-level keys: {first_items(list(ckpt))})")
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{where}: neither a state dict nor a dict with a 'state_dict' entry "
                              f"({len(not_tensors)} non-tensor entries: {first_items(not_tensors)})")
    return state


def ssrfnet_half(state: dict) -> str | None:
    """'student' / 'classifier' / 'both' for a (prefixed or bare) SSRFNet state dict; None when neither."""
    keys = [k for k in state if not is_thop_key(k) and not k.startswith(TRAINING_PREFIXES)]
    prefixed = {k.partition(".")[0] + "." for k in keys} & {STUDENT, CLASSIFIER}
    if prefixed == {STUDENT, CLASSIFIER}:
        return "both"
    if prefixed:
        return "student" if prefixed == {STUDENT} else "classifier"
    if keys and all(k.partition(".")[0] in _STUDENT_ROOTS for k in keys):
        return "student"
    if any(k.startswith(_CLASSIFIER_MARKS) for k in keys):
        return "classifier"
    return None


def normalise_ssrfnet_state(state: dict, half: str) -> tuple[dict, Counter]:
    """-> (student_model.* + classifier.* tensors, counts of what was dropped by kind)."""
    dropped: Counter = Counter()
    out = {}
    for key, value in state.items():
        if is_thop_key(key):
            dropped["thop counters"] += 1
        elif key.startswith(TRAINING_PREFIXES):
            dropped[key.partition(".")[0]] += 1
        elif half == "both" or key.startswith((STUDENT, CLASSIFIER)):
            out[key] = value
        else:
            out[(STUDENT if half == "student" else CLASSIFIER) + key] = value
    return out, dropped


def merge_ssrfnet_pair(parts: list[tuple[str, dict]]) -> tuple[dict, Counter]:
    """The released pair [(where, ckpt), (where, ckpt)], in either order -> one prefixed state dict."""
    if len(parts) != 2:
        raise CheckpointError(f"the released SSRFNet pair is two files, got {len(parts)}: "
                              f"{', '.join(w for w, _ in parts)}")
    halves = {}
    merged: dict = {}
    dropped: Counter = Counter()
    for where, ckpt in parts:
        state = state_dict_of(ckpt, where)
        half = ssrfnet_half(state)
        if half not in ("student", "classifier"):
            what = "a whole SSRFNet model" if half == "both" else "neither SSRFNet half"
            raise CheckpointError(f"{where}: expected one half of the released SSRFNet pair "
                                  f"(SV-Mixer or classifier state dict), found {what}")
        if half in halves:
            raise CheckpointError(f"{halves[half]} and {where} both hold the {half} half of SSRFNet; "
                                  "the pair is the sv_mixer and the classifier state dict")
        halves[half] = where
        state, counts = normalise_ssrfnet_state(state, half)
        merged.update(state)
        dropped.update(counts)
    return merged, dropped


def ssrfnet_config_from_official(mc: dict) -> dict:
    """The fixtures' SSRFNet model_config ({'student': {'kwargs'}, 'backend': {'kwargs'}}) -> ours."""
    student = mc["student"]["kwargs"]
    backend = mc["backend"]["kwargs"]
    stages = [(int(s[0]), int(s[1]), int(s[2]), int(s[4] or 0))
              for s in backend.get("stages_setup", [(*s[:3], None, s[3]) for s in SSRFNET_BACKEND_STAGES])]
    hidden = int(student.get("hidden_size", 1024))
    if int(backend["F"]) * int(backend["C"]) != hidden:
        raise CheckpointError(
            f"backend F*C={backend['F']}*{backend['C']} must equal the student width {hidden}")
    return {
        "model_type": "ssrfnet",
        "svmixer_layers": int(student.get("num_hidden_layers", 12)),
        "svmixer_hidden": hidden,
        "svmixer_seq_len": int(student.get("seq_len", 149)),
        "svmixer_dropout": float(student.get("dropout", 0.1)),
        "redimnet_freq": int(backend["F"]),
        "redimnet_channels": int(backend["C"]),
        "redimnet_stages": stages,
        "redimnet_block_2d": backend.get("block_2d_type", "convnext_like"),
        "redimnet_block_1d": backend.get("block_1d_type", "conv+att"),
        "redimnet_group_divisor": int(backend.get("group_divisor", 4)),
        "redimnet_global_context": bool(backend.get("global_context_att", True)),
        "mel_bins": int(backend.get("mel_bin", 80)),
        "hop_length": int(backend.get("hop_length", 160)),
        "pfm_windows": int(backend.get("insert_feature_num", 4)),
        "pfm_layers": int(backend.get("merge_layer_num", 4)),
        "embed_dim": int(backend.get("embed_dim", 192)),
    }

