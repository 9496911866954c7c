"""Loading official checkpoints (IDRnD ReDimNet hub files, dayflys SSRFNet) into our modules.

Our key names differ from the official ones: `official_key` maps each of our keys to its official
name, and loading is strict both ways (missing, unexpected and mis-shaped keys are all reported).
"""

from __future__ import annotations

import re

from torch import nn

from ssrfnet.errors import CheckpointError
from ssrfnet.models.configs import SSRFNET_BACKEND_STAGES

# Official keys we do not load: derived front-end buffers (recomputed), thop counters, training parts.
_IGNORED = re.compile(r"(^|\.)spec\.torchfbank\.|total_ops|total_params")
_TRAINING_PREFIXES = ("teacher_model.", "criterion_sv.", "criterion_kd.", "criterion_")


def raise_key_mismatch(missing: list[str], unexpected: list[str], mis_shaped: list[str]) -> None:
    """Raise CheckpointError listing every missing, unexpected and mis-shaped key (no-op when all match)."""
    if not (missing or unexpected or mis_shaped):
        return
    parts = []
    if missing:
        parts.append(f"missing keys ({len(missing)}): {', '.join(missing)}")
    if unexpected:
        parts.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
    if mis_shaped:
        parts.append(f"mis-shaped keys ({len(mis_shaped)}): {'; '.join(mis_shaped)}")
    raise CheckpointError("checkpoint does not match the model: " + " | ".join(parts))


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


def load_mapped_state_dict(model: nn.Module, official: dict, to_official) -> None:
    """Strictly load an official-layout state_dict via `to_official(model, our_key)`."""
    ours = model.state_dict()
    source = {k: v for k, v in official.items() if not _IGNORED.search(k)}
    mapped, missing, mis_shaped = {}, [], []
    used = set()
    for key, ref in ours.items():
        off = to_official(model, key)
        if off not in source:
            missing.append(off)
            continue
        used.add(off)
        value = source[off]
        if tuple(value.shape) != tuple(ref.shape):
            mis_shaped.append(f"{off}: checkpoint {tuple(value.shape)} vs model {tuple(ref.shape)}")
            continue
        mapped[key] = value.to(ref.dtype)
    unexpected = sorted(set(source) - used)
    raise_key_mismatch(missing, unexpected, mis_shaped)
    model.load_state_dict(mapped, strict=True)


def redimnet_config_from_official(mc: dict) -> dict:
    """IDRnD ReDimNetWrap kwargs -> our flat model config."""
    unsupported = []
    if mc.get("pooling_func", "ASTP") != "ASTP":
        unsupported.append(f"pooling_func={mc['pooling_func']!r}")
    if mc.get("out_channels") is not None:
        unsupported.append(f"out_channels={mc['out_channels']!r}")
    if mc.get("emb_bn", False):
        unsupported.append("emb_bn=True")
    if mc.get("feat_type", "pt") != "pt":
        unsupported.append(f"feat_type={mc['feat_type']!r}")
    if mc.get("tf_optimized_arch", False):
        unsupported.append("tf_optimized_arch=True")
    if mc.get("num_classes") is not None:
        unsupported.append("num_classes (classifier head)")
    if unsupported:
        raise CheckpointError("unsupported official ReDimNet options: " + ", ".join(unsupported))
    spec = mc.get("spec_params") or {}
    return {
        "model_type": "redimnet",
        "redimnet_freq": int(mc["F"]),
        "redimnet_channels": int(mc["C"]),
        "redimnet_stages": [(int(s[0]), int(s[1]), int(s[2]), int(s[4] or 0)) for s in mc["stages_setup"]],
        "redimnet_block_2d": mc.get("block_2d_type", "convnext_like"),
        "redimnet_block_1d": mc.get("block_1d_type", "conv+att"),
        "redimnet_group_divisor": int(mc.get("group_divisor", 4)),
        "redimnet_global_context": bool(mc.get("global_context_att", True)),
        "hop_length": int(mc.get("hop_length", 240)),
        "norm_signal": bool(spec.get("norm_signal", False)),
        "embed_dim": int(mc.get("embed_dim", 192)),
    }


def ssrfnet_config_from_official(mc: dict) -> dict:
    """Fixture/official SSRFNet model_config ({'student': {'kwargs'}, 'backend': {'kwargs'}}) -> ours."""
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


def _is_official_ssrfnet(state: dict) -> bool:
    has_student = any(k.startswith("student_model.") for k in state)
    return has_student and any(k.startswith("classifier.") for k in state)


def official_config(ckpt: dict) -> dict:
    """The flat model config of an official checkpoint dict: the model `from_official` builds for it."""
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError("not an official checkpoint: expected a dict with a 'state_dict' entry")
    mc = ckpt.get("model_config")
    if _is_official_ssrfnet(ckpt["state_dict"]):
        if isinstance(mc, dict) and "student" in mc:
            return ssrfnet_config_from_official(mc)
        return {"model_type": "ssrfnet"}
    if isinstance(mc, dict) and "stages_setup" in mc:
        return redimnet_config_from_official(mc)
    raise CheckpointError("unrecognised official checkpoint: neither an IDRnD ReDimNet hub dict "
                          "(model_config with stages_setup) nor an SSRFNet state_dict "
                          "(student_model.* / classifier.* keys)")


def from_official(ckpt: dict) -> nn.Module:
    """Official checkpoint dict -> eval-mode model mapping float32 16 kHz (B, N) waveform to (B, 192).

    Accepts an IDRnD ReDimNet hub dict {'model_config', 'state_dict'} and an official SSRFNet checkpoint
    ({'model_config': {'student', 'backend'}, 'state_dict'} with `student_model.*` / `classifier.*` keys,
    or a Lightning dict whose extra teacher / criterion / thop entries are dropped). A Lightning dict
    without our 'model_config' is taken to be the full-size official SSRFNet.
    """
    from ssrfnet.models.build import build_model

    cfg = official_config(ckpt)
    model = build_model(cfg)
    state = ckpt["state_dict"]
    if cfg["model_type"] == "ssrfnet":
        state = {k: v for k, v in state.items() if not k.startswith(_TRAINING_PREFIXES)}
        load_mapped_state_dict(model, state, ssrfnet_official_key)
    else:
        load_mapped_state_dict(model, state, redimnet_official_key)
    return model.eval()
