"""Command-line / conf-file options for the model keys (`--svmixer-layers=12` <-> cfg['svmixer_layers']).

Defaults are the full official SSRFNet configuration.
"""

from __future__ import annotations

import argparse

from ssrfnet.config import str2bool
from ssrfnet.errors import ConfError
from ssrfnet.models.build import MODEL_DEFAULTS, MODEL_KEYS, MODEL_TYPES
from ssrfnet.models.fast import fast_ops_value

_HELP = {
    "model_type": f"one of {', '.join(MODEL_TYPES)}",
    "embed_dim": "speaker embedding size",
    "svmixer_layers": "SV-Mixer blocks L",
    "svmixer_hidden": "SV-Mixer width H (multiple of svmixer-group-dim; must equal redimnet F*C for ssrfnet)",
    "svmixer_seq_len": "frames the time-MLP is built for (149 = 3 s crops of 48000 samples)",
    "svmixer_dropout": "SV-Mixer dropout",
    "svmixer_cnn_channels": "CNN front-end width (official: fixed 512; configurable here for small models)",
    "svmixer_group_dim": "channels per group in the grouped channel-mixing convs (official 128)",
    "svmixer_expansion": "channel-mixing expansion (official 4)",
    "svmixer_length_agnostic": "DEPARTURE from the official model: accept any length by resampling the "
                               "time-MLP input to svmixer-seq-len frames and back (false = 3 s crops only)",
    "redimnet_preset": "ReDimNet size b0..b6 or m, model-type redimnet only (overrides the redimnet-* keys)",
    "redimnet_freq": "ReDimNet F (frequency rows of the 2D view)",
    "redimnet_channels": "ReDimNet C (channels of the 2D view)",
    "redimnet_stages": "stages as stride:blocks:conv_exp:att_red,... (att_red 0 = no 1D block)",
    "redimnet_block_2d": "convnext_like, basic_resnet or basic_resnet_fwse",
    "redimnet_block_1d": "conv+att, att or none",
    "redimnet_group_divisor": "channels per group in the 2D convs",
    "redimnet_global_context": "ASTP attention sees the utterance mean and std",
    "mel_bins": "mel bins of the SSRFNet spectrogram branch (ssrfnet, ssrfnet_nofusion)",
    "hop_length": "STFT hop in samples (160 for SSRFNet, 240 for the released ReDimNet B models)",
    "norm_signal": "standardise the waveform before the log-mel (ReDimNet M)",
    "mel_noise": "ssrfnet/ssrfnet_nofusion training only: Gaussian noise, sigma ~ U(0.001, 0.01), on the "
                 "log-mel",
    "pfm_windows": "PFM windows N (features injected before the first N backend stages)",
    "pfm_layers": "PFM window size K (student layers per window)",
    "ecapa_channels": "ECAPA-TDNN channels C (svmixer_ecapa, transformer_ecapa; not in the official code: "
                      "1356 is derived from the paper's 80.3 M total, see docs/baselines.md)",
    "ecapa_merge_channels": "ECAPA-TDNN width after the block concatenation (official: fixed 1536; "
                            "configurable here for small models)",
    "ecapa_feature_noise": "ECAPA training only: Gaussian noise, sigma ~ U(0.001, 0.01), on the normalised "
                           "student features (official)",
    "transformer_layers": "Transformer (WavLM-style) student layers (12 = 50 %%, 6 = 75 %% compression of "
                          "the 24-layer teacher)",
    "transformer_hidden": "Transformer student width (1024 = the teacher's; a multiple of 16)",
    "transformer_heads": "Transformer student attention heads",
    "transformer_ffn": "Transformer student feed-forward width",
    "transformer_cnn_channels": "Transformer student CNN front-end width (WavLM: 512)",
    "transformer_dropout": "Transformer student dropout (hidden states, attention, projection)",
    "fast_ops": "auto, true or false: the fast CPU kernels swapped in (the same maths; false = plain "
                "official-style ops; auto = where measured faster, i.e. on AVX2 CPUs, docs/cpu-speed.md)",
}


def _type_of(default):
    if isinstance(default, bool):
        return str2bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    return str


def add_model_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    group = parser.add_argument_group("model")
    for key, default in MODEL_DEFAULTS.items():
        kwargs = {"type": _type_of(default), "default": default, "dest": key,
                  "help": f"{_HELP[key]} (default: %(default)s)"}
        if key == "model_type":
            kwargs["choices"] = MODEL_TYPES
        if key == "fast_ops":
            kwargs["type"] = fast_ops_value
        group.add_argument("--" + key.replace("_", "-"), **kwargs)
    return parser


def model_config_from_args(ns_or_dict) -> dict:
    """Pick the model keys from an argparse Namespace or a dict (missing keys take the defaults)."""
    src = vars(ns_or_dict) if isinstance(ns_or_dict, argparse.Namespace) else dict(ns_or_dict)
    return {k: src.get(k, v) for k, v in MODEL_DEFAULTS.items()}


def check_model_keys(model_type: str, keys, where: str = "") -> None:
    """ConfError naming the first of `keys` (option names, hyphens or underscores) that is a model key
    `model_type` does not read: a conf must not set options that would be ignored silently (e.g. an
    --svmixer-* or --pfm-* key for the student-free redimnet or ssrfnet_nofusion)."""
    if model_type not in MODEL_KEYS:
        raise ConfError(f"{where + ': ' if where else ''}--model-type must be one of {MODEL_TYPES}, "
                        f"got {model_type!r}")
    used = set(MODEL_KEYS[model_type])
    for key in keys:
        dest = str(key).lstrip("-").replace("-", "_")
        if dest in MODEL_DEFAULTS and dest not in used:
            prefix = f"{where}: " if where else ""
            raise ConfError(f"{prefix}--{dest.replace('_', '-')} does not apply to --model-type={model_type} "
                            "(that model does not read it); remove it")
