"""SV-Mixer student, as the official SSRFNet code computes it (not as the paper words it).

Waveform -> 7-layer CNN (20 ms hop) -> LN + Linear to H -> L mixer blocks -> final LN, returning every
hidden state (B, L+1, T, H): index 0 is the projection output, 1..L-1 block outputs, L the final LN of
block L. Each block: token mixing (LGM: local depthwise convs + a global MLP over the fixed T frames, in
parallel) and channel mixing (MSM: a half-rate and a full-rate grouped 1x1 MLP, summed, then a grouped
k3 conv and a full 1x1). Parameters keep the official layout and names. These modules compute as the official
code does; `ssrfnet.models.fast` swaps in modules that evaluate the same parameters with faster CPU kernels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssrfnet.errors import ConfError, InputError
from ssrfnet.models.layers import EmbeddingHead, check_waveform

CNN_KERNELS = (10, 3, 3, 3, 3, 2, 2)
CNN_STRIDES = (5, 2, 2, 2, 2, 2, 2)
SAMPLE_RATE = 16000


def cnn_frames(num_samples: int) -> int:
    n = num_samples
    for k, s in zip(CNN_KERNELS, CNN_STRIDES):
        n = (n - k) // s + 1
    return n


class ConvLayer(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, group_norm: bool):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride=stride, bias=False)
        self.layer_norm = nn.GroupNorm(c_out, c_out, affine=True) if group_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return F.gelu(x)


class FeatureProjection(nn.Module):
    def __init__(self, c_in: int, hidden: int, dropout: float):
        super().__init__()
        self.layer_norm = nn.LayerNorm(c_in)
        self.projection = nn.Linear(c_in, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.projection(self.layer_norm(x)))


class TokenMixing(nn.Module):
    """LGM: LN, then local depthwise convs (k7 -> GELU -> k3) + global time-MLP (T -> 4T -> T)."""

    def __init__(self, hidden: int, seq_len: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.local_mix1 = nn.Conv1d(hidden, hidden, 7, padding=3, groups=hidden)
        self.local_mix2 = nn.Conv1d(hidden, hidden, 3, padding=1, groups=hidden)
        self.linear1 = nn.Linear(seq_len, 4 * seq_len)
        self.linear2 = nn.Linear(4 * seq_len, seq_len)
        self.dropout = nn.Dropout(dropout)
        self.seq_len = seq_len

    def _global_resampled(self, ut: torch.Tensor) -> torch.Tensor:
        """Length-agnostic departure: resample (B, H, T) to the MLP's fixed length and back (linear)."""
        t = ut.shape[-1]
        g = F.interpolate(ut, size=self.seq_len, mode="linear", align_corners=False)
        g = self.linear2(F.gelu(self.linear1(g)))
        return F.interpolate(g, size=t, mode="linear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H)
        ut = self.norm(x).transpose(1, 2)
        local = self.local_mix2(F.gelu(self.local_mix1(ut)))
        if x.shape[1] == self.seq_len:
            glob = self.linear2(F.gelu(self.linear1(ut)))
        else:
            glob = self._global_resampled(ut)
        return x + self.dropout(local + glob).transpose(1, 2)


class ChannelMixing(nn.Module):
    """MSM + GCM: upsampled half-rate grouped MLP + full-rate grouped MLP -> grouped k3 -> GELU -> 1x1."""

    def __init__(self, hidden: int, seq_len: int, dropout: float, group_dim: int = 128, expansion: int = 4):
        super().__init__()
        if hidden % group_dim:
            raise ConfError(f"SV-Mixer width {hidden} must be a multiple of group_dim {group_dim}")
        g = hidden // group_dim
        self.groups = g
        self.seq_len = seq_len
        wide = expansion * hidden
        self.norm1 = nn.LayerNorm(hidden)
        self.fc1 = nn.Conv1d(hidden, wide, 1, groups=g)
        self.fc2 = nn.Conv1d(wide, hidden, 1, groups=g)
        self.fc3 = nn.Conv1d(hidden, wide, 1, groups=g)
        self.fc4 = nn.Conv1d(wide, hidden, 1, groups=g)
        self.fc5 = nn.Conv1d(hidden, hidden, 3, padding=1, groups=g)
        self.fc6 = nn.Conv1d(hidden, hidden, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H)
        v = self.norm1(x).transpose(1, 2)
        low = F.avg_pool1d(v, 2, 2)
        low = self.fc2(F.gelu(self.fc1(low)))
        low = F.interpolate(low, size=v.shape[-1], mode="linear", align_corners=False)
        full = self.fc4(F.gelu(self.fc3(v)))
        y = self.fc6(F.gelu(self.fc5(low + full)))
        return x + self.dropout(y).transpose(1, 2)


class MixerBlock(nn.Module):
    def __init__(self, hidden: int, seq_len: int, dropout: float, channel_dropout: float,
                 group_dim: int = 128, expansion: int = 4):
        super().__init__()
        self.token_mixing = TokenMixing(hidden, seq_len, dropout)
        self.channel_mixing = ChannelMixing(hidden, seq_len, channel_dropout, group_dim, expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel_mixing(self.token_mixing(x))


class SVMixer(nn.Module):
    """(B, N) waveform -> hidden states (B, L+1, T, H). Faithful mode needs 3 s crops (T = 149)."""

    def __init__(self, num_layers: int = 12, hidden_size: int = 1024, seq_len: int = 149,
                 dropout: float = 0.1, cnn_channels: int = 512, group_dim: int = 128, expansion: int = 4,
                 length_agnostic: bool = False):
        super().__init__()
        self.length_agnostic = length_agnostic
        self.num_layers = num_layers
        self.hidden_size = hidden_size
        self.seq_len = seq_len
        self.cnn_channels = cnn_channels
        self.conv_layers = nn.ModuleList(
            [ConvLayer(1 if i == 0 else cnn_channels, cnn_channels, k, s, group_norm=i == 0)
             for i, (k, s) in enumerate(zip(CNN_KERNELS, CNN_STRIDES))])
        self.feat_projection = FeatureProjection(cnn_channels, hidden_size, dropout)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            [MixerBlock(hidden_size, seq_len, dropout, dropout if i < num_layers - 1 else 0.0,
                        group_dim, expansion) for i in range(num_layers)])
        self.layer_norm = nn.LayerNorm(hidden_size)

    def cnn(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, N) -> (B, T, C) channels-last CNN features."""
        for layer in self.conv_layers:
            x = layer(x)
        return x.transpose(1, 2)

    @property
    def crop_samples(self) -> int | None:
        """Input length the student takes: None (any) when length-agnostic, else 3 s for seq_len 149."""
        return None if self.length_agnostic else (self.seq_len + 1) * 320

    @property
    def min_samples(self) -> int:
        """Shortest waveform giving `seq_len` frames."""
        n = 0
        step = 1
        for k, s in zip(CNN_KERNELS, CNN_STRIDES):
            n += (k - 1) * step
            step *= s
        return n + (self.seq_len - 1) * step + 1

    def check_input(self, wav: torch.Tensor) -> None:
        check_waveform(wav)
        frames = cnn_frames(wav.shape[1])
        if self.length_agnostic:
            if frames < 4:
                raise InputError(f"SV-Mixer needs at least 1360 samples (4 frames), got {wav.shape[1]}")
        elif frames != self.seq_len:
            samples = (self.seq_len + 1) * 320
            raise InputError(
                f"SV-Mixer expects {samples / SAMPLE_RATE:g} s crops of {samples} samples at 16 kHz "
                f"(its time-MLP is fixed to {self.seq_len} frames), got {wav.shape[1]}")

    def forward_states(self, wav: torch.Tensor) -> list[torch.Tensor]:
        """The L+1 hidden states as a list of (B, T, H) tensors."""
        self.check_input(wav)
        x = self.cnn(wav.unsqueeze(1).to(self.conv_layers[0].conv.weight.dtype))
        x = self.dropout(self.feat_projection(x))
        states = [x]
        for i, block in enumerate(self.layers):
            x = block(x)
            states.append(self.layer_norm(x) if i == self.num_layers - 1 else x)
        return states

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.forward_states(wav), dim=1)


class SVMixerEmbedder(nn.Module):
    """SV-Mixer alone as a speaker embedder (our own head, not from the official code): softmax layer
    weights over all hidden states -> ASTP with global context -> BN -> Linear."""

    def __init__(self, student: SVMixer, embed_dim: int = 192):
        super().__init__()
        self.student = student
        self.embed_dim = embed_dim
        self.crop_samples = None if student.length_agnostic else (student.seq_len + 1) * 320
        self.layer_weights = nn.Parameter(torch.zeros(student.num_layers + 1))
        self.head = EmbeddingHead(student.hidden_size, embed_dim)

    def forward_train(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.student(wav)
        a = torch.softmax(self.layer_weights, 0)
        x = torch.einsum("l,blth->bht", a, hidden)
        return self.head(x), hidden

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.forward_train(wav)[0]
