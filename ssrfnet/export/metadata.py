"""What an exported ONNX graph claims to be: stored in its `metadata_props`, checked before it is run.

Stage 6 writes into every ONNX file it produces (and into `export.json` as `identity`):

    ssrfnet.format          'ssrfnet-onnx-embedder'
    ssrfnet.format_version  FORMAT_VERSION (the input/output contract of the graph; bumped when it changes)
    ssrfnet.config_sha256   digest of the structural model config and of every tensor's name and shape
    ssrfnet.weights_sha256  digest of the weight values (which trained model this is)
    ssrfnet.embed_dim       output size
    ssrfnet.input_samples   samples per input row at 16 kHz, 0 when any length is accepted
    ssrfnet.model_config    the model config as JSON ('' when the exporter was not given one)
    ssrfnet.quantization    'none' or 'int8-dynamic'

A graph without these keys, of another format version, or whose digests differ from the ones expected
(the export directory's export.json, or the model file it is said to come from) is refused with an
OnnxModelError naming the file and the mismatch, before onnxruntime sees it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ssrfnet.export.errors import OnnxModelError

FORMAT = "ssrfnet-onnx-embedder"
FORMAT_VERSION = 1
PREFIX = "ssrfnet."
# config keys that change neither the graph nor its weights (training switches, kernel choice, presets
# whose values are already applied to the other keys)
NON_STRUCTURAL_KEYS = ("fast_ops", "mel_noise", "svmixer_dropout", "redimnet_preset")


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=list)


def structural_config(config: dict | None) -> dict | None:
    """The resolved model config without the keys that do not change the exported graph."""
    if config is None:
        return None
    from ssrfnet.models.build import resolve_config

    resolved = resolve_config(config)
    return {k: v for k, v in resolved.items() if k not in NON_STRUCTURAL_KEYS}


def model_identity(model, config: dict | None = None) -> dict:
    """The identity record of `model` (an nn.Module with embed_dim and crop_samples) and its config."""
    state = model.state_dict()
    structure = [[name, list(t.shape)] for name, t in state.items()]
    cfg = structural_config(config)
    config_digest = hashlib.sha256(_canonical({"config": cfg, "tensors": structure}).encode()).hexdigest()
    weights = hashlib.sha256()
    for name, tensor in state.items():
        weights.update(name.encode())
        weights.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    fixed = getattr(model, "crop_samples", None)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config_sha256": config_digest,
        "weights_sha256": weights.hexdigest(),
        "embed_dim": int(model.embed_dim),
        "input_samples": int(fixed) if fixed is not None else 0,
        "model_config": _canonical(cfg) if cfg is not None else "",
    }


def write_metadata(onnx_path: str | os.PathLike, identity: dict, quantization: str = "none") -> None:
    """Set the identity keys in the metadata_props of the ONNX file at `onnx_path` (rewritten in place)."""
    import onnx

    model = onnx.load(str(onnx_path))
    props = {p.key: p.value for p in model.metadata_props if not p.key.startswith(PREFIX)}
    props.update({PREFIX + k: str(v) for k, v in identity.items()})
    props[PREFIX + "quantization"] = quantization
    onnx.helper.set_model_props(model, props)
    tmp = Path(onnx_path).with_name(f".{Path(onnx_path).name}.meta{os.getpid()}")
    onnx.save(model, str(tmp))
    os.replace(tmp, onnx_path)


def metadata_of(meta_map: dict, path: str | os.PathLike) -> dict:
    """Parse a session's custom metadata map into an identity record; refuse foreign or newer files."""
    fmt = meta_map.get(PREFIX + "format")
    if fmt is None:
        raise OnnxModelError(
            f"{path}: no ssrfnet metadata in this ONNX file (not exported by this version of ssrfnet-export, "
            "or by another tool): re-export the model with ssrfnet-export")
    if fmt != FORMAT:
        raise OnnxModelError(f"{path}: ssrfnet.format is {fmt!r}, expected {FORMAT!r}")
    version = meta_map.get(PREFIX + "format_version", "")
    if version != str(FORMAT_VERSION):
        raise OnnxModelError(
            f"{path}: exported in ssrfnet ONNX format version {version or '?'}, this ssrfnet reads version "
            f"{FORMAT_VERSION}: re-export the model with this version's ssrfnet-export")
    try:
        meta = {key: meta_map[PREFIX + key] for key in ("config_sha256", "weights_sha256", "model_config")}
        meta["embed_dim"] = int(meta_map[PREFIX + "embed_dim"])
        meta["input_samples"] = int(meta_map[PREFIX + "input_samples"])
    except (KeyError, ValueError) as err:
        raise OnnxModelError(f"{path}: incomplete or malformed ssrfnet metadata ({err})") from None
    meta["quantization"] = meta_map.get(PREFIX + "quantization", "none")
    return meta


def check_identity(meta: dict, expected: dict, path: str | os.PathLike, expected_from: str) -> None:
    """Refuse `path` when its identity differs from `expected` (from `expected_from`, e.g. export.json)."""
    for key, what in (("config_sha256", "model config"), ("weights_sha256", "weights"),
                      ("embed_dim", "embedding size"), ("input_samples", "input length")):
        if key in expected and str(meta[key]) != str(expected[key]):
            got, want = str(meta[key]), str(expected[key])
            if key.endswith("sha256"):
                got, want = got[:12], want[:12]
            raise OnnxModelError(
                f"{path}: exported from another model than {expected_from} ({what} {got} vs {want}): "
                "re-export the model with ssrfnet-export")
