"""Model construction from a flat config dict, defaults (the full official SSRFNet), parameter counts."""

from __future__ import annotations

from torch import nn

from ssrfnet.errors import ConfError
from ssrfnet.models.baseline import MFCCStats
from ssrfnet.models.configs import REDIMNET_CONFIGS, SSRFNET_BACKEND_STAGES, stages_from_str, stages_to_str
from ssrfnet.models.ecapa import ECAPA_CHANNELS, MERGE_CHANNELS, ECAPABackend, StudentECAPA
from ssrfnet.models.fast import resolve_fast_ops, use_fast_kernels
from ssrfnet.models.fusion import SSRFBackend, SSRFNet
from ssrfnet.models.nofusion import SSRFNoFusion
from ssrfnet.models.redimnet import ReDimNet
from ssrfnet.models.svmixer import SVMixer, SVMixerEmbedder
from ssrfnet.models.transformer_student import TransformerStudent

MODEL_TYPES = ("ssrfnet", "svmixer", "redimnet", "ssrfnet_nofusion", "svmixer_ecapa", "transformer_ecapa",
               "mfcc_stats")
# Model types with a distillable student (`model.student`): stage 2 and the KD loss apply to these only.
STUDENT_MODEL_TYPES = ("ssrfnet", "svmixer", "svmixer_ecapa", "transformer_ecapa")

# Every model key with its default: the full official SSRFNet (75,164,380 inference parameters).
MODEL_DEFAULTS: dict = {
    "model_type": "ssrfnet",
    "embed_dim": 192,
    "svmixer_layers": 12,
    "svmixer_hidden": 1024,
    "svmixer_seq_len": 149,
    "svmixer_dropout": 0.1,
    "svmixer_cnn_channels": 512,
    "svmixer_group_dim": 128,
    "svmixer_expansion": 4,
    "svmixer_length_agnostic": False,
    "redimnet_preset": "",
    "redimnet_freq": 64,
    "redimnet_channels": 16,
    "redimnet_stages": stages_to_str(SSRFNET_BACKEND_STAGES),
    "redimnet_block_2d": "convnext_like",
    "redimnet_block_1d": "conv+att",
    "redimnet_group_divisor": 4,
    "redimnet_global_context": True,
    "mel_bins": 80,
    "hop_length": 160,
    "norm_signal": False,
    "mel_noise": True,
    "pfm_windows": 4,
    "pfm_layers": 4,
    "ecapa_channels": ECAPA_CHANNELS,
    "ecapa_merge_channels": MERGE_CHANNELS,
    "ecapa_feature_noise": True,
    "transformer_layers": 12,
    "transformer_hidden": 1024,
    "transformer_heads": 16,
    "transformer_ffn": 4096,
    "transformer_cnn_channels": 512,
    "transformer_dropout": 0.1,
    "fast_ops": "auto",
}

# The model keys each model type reads (build_model ignores the others; ssrfnet.models.options.
# check_model_keys turns a conf that sets one of them into an error).
_COMMON_KEYS = ("model_type", "embed_dim", "fast_ops")
_SVMIXER_KEYS = tuple(k for k in MODEL_DEFAULTS if k.startswith("svmixer_"))
_BACKBONE_KEYS = tuple(k for k in MODEL_DEFAULTS if k.startswith("redimnet_") and k != "redimnet_preset")
_ECAPA_KEYS = tuple(k for k in MODEL_DEFAULTS if k.startswith("ecapa_"))
_TRANSFORMER_KEYS = tuple(k for k in MODEL_DEFAULTS if k.startswith("transformer_"))
_SPECTROGRAM_KEYS = ("mel_bins", "hop_length", "mel_noise")
MODEL_KEYS: dict[str, tuple[str, ...]] = {
    "ssrfnet": (_COMMON_KEYS + _SVMIXER_KEYS + _BACKBONE_KEYS + _SPECTROGRAM_KEYS
                + ("pfm_windows", "pfm_layers")),
    "svmixer": _COMMON_KEYS + _SVMIXER_KEYS,
    "redimnet": _COMMON_KEYS + _BACKBONE_KEYS + ("redimnet_preset", "hop_length", "norm_signal"),
    "ssrfnet_nofusion": _COMMON_KEYS + _BACKBONE_KEYS + _SPECTROGRAM_KEYS,
    "svmixer_ecapa": _COMMON_KEYS + _SVMIXER_KEYS + _ECAPA_KEYS,
    "transformer_ecapa": _COMMON_KEYS + _TRANSFORMER_KEYS + _ECAPA_KEYS,
    # the no-training sanity baseline: 30 MFCCs' mean and std (60 values), nothing to configure
    "mfcc_stats": ("model_type",),
}

_PRESET_KEYS = {"F": "redimnet_freq", "C": "redimnet_channels", "stages": "redimnet_stages",
                "block_2d": "redimnet_block_2d", "group_divisor": "redimnet_group_divisor",
                "hop_length": "hop_length", "norm_signal": "norm_signal"}


def resolve_config(cfg: dict) -> dict:
    """Defaults + the model keys of `cfg` (other keys are ignored), with a ReDimNet preset applied."""
    out = dict(MODEL_DEFAULTS)
    out.update({k: v for k, v in cfg.items() if k in MODEL_DEFAULTS})
    if out["model_type"] not in MODEL_TYPES:
        raise ConfError(f"--model-type must be one of {MODEL_TYPES}, got {out['model_type']!r}")
    preset = str(out["redimnet_preset"] or "").lower()
    if preset and out["model_type"] == "redimnet":
        if preset not in REDIMNET_CONFIGS:
            raise ConfError(f"--redimnet-preset: unknown ReDimNet preset {preset!r}; "
                            f"known: {sorted(REDIMNET_CONFIGS)}")
        table = dict(REDIMNET_CONFIGS[preset])
        table.setdefault("norm_signal", False)
        for name, key in _PRESET_KEYS.items():
            out[key] = table[name]
    if isinstance(out["redimnet_stages"], str):
        out["redimnet_stages"] = stages_from_str(out["redimnet_stages"])
    out["redimnet_stages"] = [tuple(int(v) for v in s) for s in out["redimnet_stages"]]
    return out


def _student(c: dict) -> SVMixer:
    return SVMixer(c["svmixer_layers"], c["svmixer_hidden"], c["svmixer_seq_len"], c["svmixer_dropout"],
                   c["svmixer_cnn_channels"], c["svmixer_group_dim"], c["svmixer_expansion"],
                   c["svmixer_length_agnostic"])


def _backbone(c: dict) -> dict:
    """The ReDimNet stage keyword arguments shared by ReDimNet, the SSRFNet backend and the ablation."""
    return dict(stages=c["redimnet_stages"], block_2d=c["redimnet_block_2d"],
                group_divisor=c["redimnet_group_divisor"], block_1d=c["redimnet_block_1d"],
                embed_dim=c["embed_dim"], global_context=c["redimnet_global_context"])


def _build_redimnet(c: dict) -> nn.Module:
    return ReDimNet(F=c["redimnet_freq"], C=c["redimnet_channels"], hop_length=c["hop_length"],
                    norm_signal=c["norm_signal"], **_backbone(c))


def _build_svmixer(c: dict) -> nn.Module:
    return SVMixerEmbedder(_student(c), c["embed_dim"])


def _build_ssrfnet(c: dict) -> nn.Module:
    backend = SSRFBackend(
        c["svmixer_layers"], c["svmixer_hidden"], c["redimnet_freq"], c["redimnet_channels"],
        n_mels=c["mel_bins"], hop_length=c["hop_length"], num_windows=c["pfm_windows"],
        window=c["pfm_layers"], mel_noise=c["mel_noise"], **_backbone(c))
    return SSRFNet(_student(c), backend)


def _build_nofusion(c: dict) -> nn.Module:
    return SSRFNoFusion(c["redimnet_freq"], c["redimnet_channels"], n_mels=c["mel_bins"],
                        hop_length=c["hop_length"], mel_noise=c["mel_noise"], **_backbone(c))


def _ecapa(c: dict, student: nn.Module) -> nn.Module:
    backend = ECAPABackend(student.num_layers, student.hidden_size, c["ecapa_channels"],
                           c["ecapa_merge_channels"], c["embed_dim"], c["ecapa_feature_noise"])
    return StudentECAPA(student, backend)


def _build_svmixer_ecapa(c: dict) -> nn.Module:
    return _ecapa(c, _student(c))


def _build_transformer_ecapa(c: dict) -> nn.Module:
    student = TransformerStudent(
        c["transformer_layers"], c["transformer_hidden"], c["transformer_heads"], c["transformer_ffn"],
        c["transformer_cnn_channels"], c["transformer_dropout"])
    return _ecapa(c, student)


_BUILDERS = {
    "redimnet": _build_redimnet, "svmixer": _build_svmixer, "ssrfnet": _build_ssrfnet,
    "ssrfnet_nofusion": _build_nofusion, "svmixer_ecapa": _build_svmixer_ecapa,
    "transformer_ecapa": _build_transformer_ecapa, "mfcc_stats": lambda c: MFCCStats(),
}


def build_model(cfg: dict) -> nn.Module:
    """Flat config dict (underscored keys, typed values) -> embedding model in train mode."""
    c = resolve_config(cfg)
    model = _BUILDERS[c["model_type"]](c)
    return use_fast_kernels(model) if resolve_fast_ops(c["fast_ops"]) else model


def student_of(model: nn.Module) -> nn.Module | None:
    """The model's distillable student (hidden states (B, L+1, T, H) for the KD loss), or None."""
    return getattr(model, "student", None)


def _numel(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def count_parameters(model: nn.Module) -> dict:
    """Parameter counts per part (all parameters, frozen ones included) and 'total'."""
    parts: dict[str, int] = {}
    if isinstance(model, SSRFNet):
        s, b = model.student, model.backend
        parts["svmixer"] = _numel(s)
        parts["svmixer_cnn"] = _numel(s.conv_layers)
        parts["svmixer_projection"] = _numel(s.feat_projection)
        parts["svmixer_blocks"] = _numel(s.layers)
        parts["svmixer_block"] = _numel(s.layers[0]) if len(s.layers) else 0
        parts["backend"] = _numel(b)
        parts["backend_stem"] = _numel(b.stem)
        parts["pfm"] = _numel(b.pfm)
        parts["backend_stages"] = _numel(b.body)
        parts["head"] = _numel(b.head)
    elif isinstance(model, SVMixerEmbedder):
        parts["svmixer"] = _numel(model.student)
        parts["head"] = _numel(model.head) + model.layer_weights.numel()
    elif isinstance(model, StudentECAPA):
        parts["student"] = _numel(model.student)
        parts["backend"] = _numel(model.backend)
    elif isinstance(model, (ReDimNet, SSRFNoFusion)):
        parts["stem"] = _numel(model.stem)
        parts["stages"] = _numel(model.body)
        parts["head"] = _numel(model.head)
    parts["total"] = _numel(model)
    parts["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return parts
