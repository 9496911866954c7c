"""SSRFNet: SV-Mixer student fused stage-wise into a ReDimNet backend through the PFM.

The backend has its own spectrogram branch (80-mel, hop 160 -> Conv1d k5 stride 2 -> InstanceNorm, so
its frames line up with the student's 20 ms frames). The PFM merges N overlapping windows of K student
hidden states (h1..hL; h0 unused) with per-channel softmax weights, projects each with a k5 conv +
LayerNorm, and injects P_i into the mix list just before backend stage i.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssrfnet.errors import ConfError, InputError
from ssrfnet.models.features import LogMel, add_logmel_noise
from ssrfnet.models.layers import ChannelsFirstLayerNorm, EmbeddingHead, LayerMix
from ssrfnet.models.redimnet import ReDimBody
from ssrfnet.models.svmixer import SVMixer


def pfm_windows(num_layers: int, num_windows: int, window: int) -> list[list[int]]:
    """Hidden-state indices (1-based, h0 excluded) of each PFM window, following the official arithmetic:
    centres round(linspace(K//2, L - (K - K//2), N)) (round half to even), window [c - K//2, c + K - K//2)
    over the list h1..hL."""
    if window < 1 or num_windows < 1:
        raise ConfError("PFM needs at least one window of at least one layer")
    if num_layers < window:
        raise ConfError(
            f"PFM window of {window} layers needs at least {window} student layers, got {num_layers}")
    half = window // 2
    centres = np.round(np.linspace(half, num_layers - (window - half), num_windows)).astype(int)
    return [[c - half + j + 1 for j in range(window)] for c in centres.tolist()]


class PFM(nn.Module):
    """Progressive fusion module: N windows of K hidden states -> per-channel softmax mix -> conv + LN."""

    def __init__(self, num_layers: int, hidden: int, channels: int, num_windows: int = 4, window: int = 4):
        super().__init__()
        self.windows = pfm_windows(num_layers, num_windows, window)
        self.mix = nn.ModuleList([LayerMix(window, hidden) for _ in range(num_windows)])
        self.proj = nn.ModuleList([PFMProjection(hidden, channels) for _ in range(num_windows)])

    def forward(self, hidden: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """hidden: (B, L+1, T, H) or a list of L+1 (B, T, H) -> N tensors (B, channels, T)."""
        # unbind rather than index: indexing a stacked tensor costs a full-size zero gradient per use
        states = hidden.unbind(1) if isinstance(hidden, torch.Tensor) else hidden
        states = [s.transpose(1, 2) for s in states]
        return [proj(mix([states[i] for i in idx]))
                for idx, mix, proj in zip(self.windows, self.mix, self.proj)]


class PFMProjection(nn.Module):
    """k5 'same' conv from the student width to the backend channels, then a channels-first LayerNorm."""

    def __init__(self, hidden: int, channels: int):
        super().__init__()
        self.conv = nn.Conv1d(hidden, channels, 5, padding="same")
        self.norm = ChannelsFirstLayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class SpecStem(nn.Module):
    """(B, mels, T) log-mel -> Conv1d(k5, stride 2, no pad) -> InstanceNorm (no affine): 100 -> 50 Hz."""

    def __init__(self, n_mels: int, channels: int):
        super().__init__()
        self.conv = nn.Conv1d(n_mels, channels, 5, stride=2)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(self.conv(mel))


class SSRFBackend(nn.Module):
    def __init__(self, num_layers: int, hidden: int, F: int, C: int, stages: Sequence[Sequence[int]],
                 block_2d: str = "convnext_like", group_divisor: int = 4, block_1d: str = "conv+att",
                 n_mels: int = 80, hop_length: int = 160, num_windows: int = 4, window: int = 4,
                 embed_dim: int = 192, global_context: bool = True, mel_noise: bool = True):
        super().__init__()
        channels = F * C
        if channels != hidden:
            raise ConfError(f"backend F*C = {F}*{C} = {channels} must equal the SV-Mixer width {hidden}")
        self.mel_noise = mel_noise
        self.trim_stem = False
        self.frontend = LogMel(n_mels, hop_length)
        self.stem = SpecStem(n_mels, channels)
        self.pfm = PFM(num_layers, hidden, channels, num_windows, window)
        self.body = ReDimBody(F, C, stages, block_2d, group_divisor, block_1d, num_injections=num_windows)
        self.head = EmbeddingHead(channels, embed_dim, global_context)

    def forward(self, hidden: torch.Tensor | Sequence[torch.Tensor], wav: torch.Tensor) -> torch.Tensor:
        """hidden: student states (B, L+1, T, H) or a list of (B, T, H); wav: (B, N) -> (B, embed_dim)."""
        mel = self.frontend(wav)
        if self.training and self.mel_noise:
            mel = add_logmel_noise(mel)
        x = self.stem(mel)
        frames = hidden.shape[2] if isinstance(hidden, torch.Tensor) else hidden[0].shape[1]
        if self.trim_stem and abs(x.shape[-1] - frames) <= 1:
            # length-agnostic inputs: the two branches' frame counts can differ by one; keep the common part
            frames = min(frames, x.shape[-1])
            x = x[..., :frames]
            states = hidden.unbind(1) if isinstance(hidden, torch.Tensor) else hidden
            hidden = [s[:, :frames] for s in states]
        if x.shape[-1] != frames:
            raise InputError(f"spectrogram branch has {x.shape[-1]} frames, the student {frames}; "
                             "SSRFNet expects 3 s crops of 48000..48079 samples")
        return self.head(self.body(x, self.pfm(hidden)))


class SSRFNet(nn.Module):
    """(B, 48000) 16 kHz waveform -> (B, embed_dim) un-normalised speaker embedding."""

    def __init__(self, student: SVMixer, backend: SSRFBackend):
        super().__init__()
        self.student = student
        self.backend = backend
        self.embed_dim = backend.head.linear.out_features
        self.crop_samples = None if student.length_agnostic else (student.seq_len + 1) * 320
        backend.trim_stem = student.length_agnostic

    def check_input(self, wav: torch.Tensor) -> None:
        self.student.check_input(wav)
        if self.crop_samples is not None and not self.crop_samples <= wav.shape[1] < self.crop_samples + 80:
            raise InputError(f"SSRFNet expects {self.crop_samples / 16000:g} s crops of {self.crop_samples} "
                             f"samples at 16 kHz, got {wav.shape[1]}")

    def forward_train(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (embedding (B, D), student hidden states (B, L+1, T, H)) from a single student pass."""
        self.check_input(wav)
        states = self.student.forward_states(wav)
        return self.backend(states, wav), torch.stack(states, dim=1)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        self.check_input(wav)
        return self.backend(self.student.forward_states(wav), wav)
