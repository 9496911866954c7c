"""SSRFNet without the fusion (the ablation): the SSRFNet backend alone, PFM injection off, no SV-Mixer.

The same spectrogram branch (80-mel log-mel at hop 160 -> Conv1d(80 -> F*C, k5, stride 2) -> InstanceNorm,
training-time Gaussian noise on the log-mel), the same ReDimNet stages (F=64, C=16 in the full size) and the
same head; each stage mixes only the earlier backend outputs, as in a plain ReDimNet. Its parameter names are
the SSRFNet backend's (`stem.*`, `body.*`, `head.*` = SSRFNet's `backend.stem.*`, ...), so the two line up key
by key; only the layer-mix weights are smaller (fewer inputs) and there is no `pfm.*`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ssrfnet.errors import InputError
from ssrfnet.models.features import LogMel, add_logmel_noise
from ssrfnet.models.fusion import SpecStem
from ssrfnet.models.layers import EmbeddingHead, check_waveform
from ssrfnet.models.redimnet import ReDimBody

MIN_SAMPLES = 640  # the stem's k5 stride-2 conv needs 5 log-mel frames (hop 160)


class SSRFNoFusion(nn.Module):
    """(B, N) 16 kHz waveform (any length of at least 40 ms) -> (B, embed_dim) speaker embedding."""

    crop_samples = None

    def __init__(self, F: int, C: int, stages: Sequence[Sequence[int]], block_2d: str = "convnext_like",
                 group_divisor: int = 4, block_1d: str = "conv+att", n_mels: int = 80, hop_length: int = 160,
                 embed_dim: int = 192, global_context: bool = True, mel_noise: bool = True):
        super().__init__()
        self.embed_dim = embed_dim
        self.mel_noise = mel_noise
        self.frontend = LogMel(n_mels, hop_length)
        self.stem = SpecStem(n_mels, F * C)
        self.body = ReDimBody(F, C, stages, block_2d, group_divisor, block_1d)
        self.head = EmbeddingHead(F * C, embed_dim, global_context)

    def check_input(self, wav: torch.Tensor) -> None:
        check_waveform(wav)
        if wav.shape[1] < MIN_SAMPLES:
            raise InputError(f"the no-fusion model needs at least {MIN_SAMPLES} samples, got {wav.shape[1]}")

    def forward_train(self, wav: torch.Tensor) -> tuple[torch.Tensor, None]:
        """-> (embedding, None): no student, so no hidden states for a KD loss."""
        return self(wav), None

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        self.check_input(wav)
        mel = self.frontend(wav)
        if self.training and self.mel_noise:
            mel = add_logmel_noise(mel)
        return self.head(self.body(self.stem(mel)))
