"""Command-line / conf-file options for the model keys (`--svmixer-layers=12` <-> cfg['svmixer_layers']).

Defaults are the full official SSRFNet configuration.
"""

from __future__ import annotations

import argparse

from ssrfnet.config import str2bool
from ssrfnet.models.build import MODEL_DEFAULTS, MODEL_TYPES

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
    "redimnet_preset": "ReDimNet size b0..b6 or m for model-type redimnet (overrides the redimnet-* keys)",
    "redimnet_freq": "ReDimNet F (frequency rows of the 2D view)",
    "redimnet_channels": "ReDimNet C (channels of the 2D view)",
    "redimnet_stages": "stages as stride:blocks:conv_exp:att_red,... (att_red 0 = no 1D block)",
    "redimnet_block_2d": "convnext_like, basic_resnet or basic_resnet_fwse",
    "redimnet_block_1d": "conv+att, att or none",
    "redimnet_group_divisor": "channels per group in the 2D convs",
    "redimnet_global_context": "ASTP attention sees the utterance mean and std",
    "mel_bins": "mel bins of the SSRFNet spectrogram branch",
    "hop_length": "STFT hop in samples (160 for SSRFNet, 240 for the released ReDimNet B models)",
    "norm_signal": "standardise the waveform before the log-mel (ReDimNet M)",
    "mel_noise": "SSRFNet training only: Gaussian noise, sigma ~ U(0.001, 0.01), on the log-mel",
    "pfm_windows": "PFM windows N (features injected before the first N backend stages)",
    "pfm_layers": "PFM window size K (student layers per window)",
    "fast_ops": "optimised channels-last SV-Mixer kernels (same maths; false = plain official-style ops)",
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
        group.add_argument("--" + key.replace("_", "-"), **kwargs)
    return parser


def model_config_from_args(ns_or_dict) -> dict:
    """Pick the model keys from an argparse Namespace or a dict (missing keys take the defaults)."""
    src = vars(ns_or_dict) if isinstance(ns_or_dict, argparse.Namespace) else dict(ns_or_dict)
    return {k: src.get(k, v) for k, v in MODEL_DEFAULTS.items()}
