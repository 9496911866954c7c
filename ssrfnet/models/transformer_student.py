"""The Transformer student the SV-Mixer paper compares against: a DistilHuBERT-style WavLM with fewer layers.

Built from transformers' WavLM building blocks (`transformers.WavLMModel` with a small config) in the
structure of the WavLM Large teacher (LayerNorm CNN front end with conv bias, stable layer norm, gated
relative position bias), so that it can start from the teacher's weights (`init_from_wavlm`, DistilHuBERT's
initialisation). Its hidden states follow the SV-Mixer student's convention, (B, L+1, T, H): index 0 is
the input of layer 1 (projected CNN features plus the convolutional position embedding), 1..L-1 the layer
outputs, L the final LayerNorm of layer L's output. 16 kHz waveform in, 20 ms frames out; any input length
of at least one frame.

"Compression" is relative to the 24-layer, 1024-wide teacher: 12 layers x 1024 is the 50 % point (the depth of
the SV-Mixer student), 6 layers x 1024 the 75 % point; `--transformer-layers`/`--transformer-hidden` set them.
Training regularisation: dropout on the hidden states, attention and projection; no LayerDrop and no
SpecAugment-style time masking (the teacher never sees them either and the KD targets are frame-aligned).
"""

from __future__ import annotations

import torch
from torch import nn

from ssrfnet.errors import ConfError, InputError
from ssrfnet.models.layers import check_waveform
from ssrfnet.models.svmixer import CNN_KERNELS, CNN_STRIDES, cnn_frames

POSITION_CONV_GROUPS = 16  # WavLM's convolutional position embedding groups (hidden must be a multiple)


def wavlm_student_config(num_layers: int, hidden: int, num_heads: int, ffn: int, cnn_channels: int,
                         dropout: float):
    """A WavLM Large-structured config of the given depth and width, without LayerDrop or masking."""
    from transformers import WavLMConfig

    if hidden % num_heads:
        raise ConfError(f"--transformer-hidden {hidden} is not divisible by --transformer-heads {num_heads}")
    if hidden % POSITION_CONV_GROUPS:
        raise ConfError(f"--transformer-hidden {hidden} must be a multiple of {POSITION_CONV_GROUPS} "
                        "(the groups of WavLM's convolutional position embedding)")
    if num_layers < 1:
        raise ConfError(f"--transformer-layers must be at least 1, got {num_layers}")
    return WavLMConfig(
        hidden_size=hidden, num_hidden_layers=num_layers, num_attention_heads=num_heads,
        intermediate_size=ffn, conv_dim=(cnn_channels,) * len(CNN_KERNELS), conv_kernel=CNN_KERNELS,
        conv_stride=CNN_STRIDES, feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True,
        num_conv_pos_embedding_groups=POSITION_CONV_GROUPS, hidden_dropout=dropout,
        attention_dropout=dropout, activation_dropout=0.0, feat_proj_dropout=dropout, layerdrop=0.0,
        apply_spec_augment=False, mask_time_prob=0.0, mask_feature_prob=0.0,
    )


class TransformerStudent(nn.Module):
    """(B, N) waveform -> hidden states (B, L+1, T, H); the interface of `SVMixer` (hidden_size, num_layers,
    crop_samples, check_input, forward_states, forward)."""

    crop_samples = None
    length_agnostic = True

    def __init__(self, num_layers: int = 12, hidden_size: int = 1024, num_heads: int = 16, ffn: int = 4096,
                 cnn_channels: int = 512, dropout: float = 0.1):
        super().__init__()
        from transformers import WavLMModel

        self.num_layers = num_layers
        self.hidden_size = hidden_size
        self.wavlm = WavLMModel(wavlm_student_config(num_layers, hidden_size, num_heads, ffn, cnn_channels,
                                                     dropout))

    def check_input(self, wav: torch.Tensor) -> None:
        check_waveform(wav)
        if cnn_frames(wav.shape[1]) < 1:
            raise InputError(
                f"the Transformer student needs at least 400 samples (one frame), got {wav.shape[1]}")

    def forward_states(self, wav: torch.Tensor) -> list[torch.Tensor]:
        """The L+1 hidden states as a list of (B, T, H) tensors."""
        self.check_input(wav)
        weight = self.wavlm.feature_extractor.conv_layers[0].conv.weight
        out = self.wavlm(wav.to(weight.dtype), output_hidden_states=True)
        return list(out.hidden_states)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.forward_states(wav), dim=1)

    @torch.no_grad()
    def init_from_wavlm(self, teacher: nn.Module, layers: list[int] | None = None) -> None:
        """Copy a WavLM's CNN front end, projection, position embedding, final LayerNorm and the transformer
        layers `layers` (0-based teacher indices, default the first L) into this student (DistilHuBERT).
        `teacher`: a transformers WavLMModel of the same width (e.g. WavLMTeacher(...).model)."""
        layers = list(range(self.num_layers)) if layers is None else [int(i) for i in layers]
        if len(layers) != self.num_layers:
            raise ConfError(f"init from WavLM: {len(layers)} teacher layers given for {self.num_layers} "
                            "student layers")
        source = teacher.state_dict()
        mapped = {}
        for key in self.wavlm.state_dict():
            name = key
            if key.startswith("encoder.layers."):
                index, rest = key[len("encoder.layers."):].split(".", 1)
                # the relative position bias lives in layer 0 only and serves every layer: keep the teacher's
                source_layer = 0 if rest.startswith("attention.rel_attn_embed.") else layers[int(index)]
                name = f"encoder.layers.{source_layer}.{rest}"
            if name not in source:
                raise ConfError(f"init from WavLM: the teacher has no {name} (student {key})")
            mapped[key] = source[name]
        mine = self.wavlm.state_dict()
        bad = [f"{k}: teacher {tuple(v.shape)} vs student {tuple(mine[k].shape)}"
               for k, v in mapped.items() if v.shape != mine[k].shape]
        if bad:
            raise ConfError(f"init from WavLM: shapes differ ({len(bad)}): {bad[0]}")
        self.wavlm.load_state_dict(mapped, strict=True)
