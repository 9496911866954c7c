"""The no-training sanity baseline: per-utterance MFCC mean and standard deviation, scored by cosine.

What learning adds over nothing: 30 MFCCs (c1..c30; c0, the frame energy, is dropped because it measures
loudness, not the speaker) from torchaudio at 16 kHz, 25 ms Hamming windows every 10 ms, 512-point FFT,
40 mel bands (20 Hz - 7.6 kHz), log mel energies and an orthonormal DCT-II; the embedding is the mean and
the standard deviation of each coefficient over all frames (60 values). It has no parameters and sees
nothing but the recording, so its scores show how far the raw spectral envelope already separates the
speakers of a test set.

The module honours the embedding interface of stages 4 and 5 (`embed_dim`, `crop_samples = None`,
forward(wav (B, N)) -> (B, embed_dim)), so the extractor treats it like a length-agnostic model: the
whole utterance for `xvector.ark`, N-second crops for `crops.ark`.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from ssrfnet.errors import InputError

SAMPLE_RATE = 16000


class MFCCStats(nn.Module):
    """wav (B, N) float -> (B, 2 * num_ceps): mean and standard deviation of c1..c_num_ceps."""

    crop_samples = None  # length-agnostic

    def __init__(self, num_ceps: int = 30, n_mels: int = 40, win_length: int = 400, hop_length: int = 160,
                 n_fft: int = 512, f_min: float = 20.0, f_max: float = 7600.0):
        super().__init__()
        if not 1 <= num_ceps < n_mels:
            raise InputError(f"num_ceps must be in [1, n_mels - 1 = {n_mels - 1}], got {num_ceps}")
        self.num_ceps = int(num_ceps)
        self.embed_dim = 2 * self.num_ceps
        self.win_length = int(win_length)
        self.mfcc = torchaudio.transforms.MFCC(
            sample_rate=SAMPLE_RATE, n_mfcc=self.num_ceps + 1, log_mels=True, norm="ortho",
            melkwargs={"n_fft": n_fft, "win_length": win_length, "hop_length": hop_length, "n_mels": n_mels,
                       "f_min": f_min, "f_max": f_max, "window_fn": torch.hamming_window, "center": False},
        )

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.ndim != 2:
            raise InputError(f"MFCCStats expects a (batch, samples) waveform, got shape {tuple(wav.shape)}")
        if wav.shape[1] < self.win_length:
            raise InputError(f"MFCCStats needs at least {self.win_length} samples (one window), "
                             f"got {wav.shape[1]}")
        ceps = self.mfcc(wav.float())[:, 1:, :]  # (B, num_ceps, frames), c0 dropped
        return torch.cat([ceps.mean(dim=2), ceps.std(dim=2, unbiased=False)], dim=1)
