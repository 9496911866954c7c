"""SV-Mixer student, as the official SSRFNet code computes it (not as the paper words it).

Waveform -> 7-layer CNN (20 ms hop) -> LN + Linear to H -> L mixer blocks -> final LN, returning every
hidden state (B, L+1, T, H): index 0 is the projection output, 1..L-1 block outputs, L the final LN of
block L. Each block: token mixing (LGM: local depthwise convs + a global MLP over the fixed T frames, in
parallel) and channel mixing (MSM: a half-rate and a full-rate grouped 1x1 MLP, summed, then a grouped
k3 conv and a full 1x1). Parameters keep the official layout (grouped conv weights); `fast=True`
evaluates them on channels-last (B, T, H) tensors with batched matmuls instead of transposed convs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssrfnet.models import fastops
from ssrfnet.models.fastops import conv1d_channels_last, conv1d_phase_major, phase_major_frames
from ssrfnet.models.redimnet import check_waveform

CNN_KERNELS = (10, 3, 3, 3, 3, 2, 2)
CNN_STRIDES = (5, 2, 2, 2, 2, 2, 2)
SAMPLE_RATE = 16000


def cnn_frames(num_samples: int) -> int:
    n = num_samples
    for k, s in zip(CNN_KERNELS, CNN_STRIDES):
        n = (n - k) // s + 1
    return n


def grouped_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, groups: int) -> torch.Tensor:
    """Grouped 1x1 conv on channels-last (..., G*I) input; `weight` is the conv weight (G*O, I[, 1])."""
    if groups == 1:
        return F.linear(x, weight.reshape(weight.shape[0], -1), bias)
    lead = x.shape[:-1]
    w = weight.reshape(groups, weight.shape[0] // groups, -1)  # (G, O, I)
    xg = x.reshape(-1, groups, w.shape[2]).transpose(0, 1)  # (G, M, I)
    y = torch.baddbmm(bias.view(groups, 1, -1), xg, w.transpose(1, 2))  # (G, M, O)
    return y.transpose(0, 1).reshape(*lead, -1)


def grouped_mlp(x: torch.Tensor, fc_in: nn.Conv1d, fc_out: nn.Conv1d) -> torch.Tensor:
    """fc_out(GELU(fc_in(x))) for two grouped 1x1 convs with the same groups, on channels-last (..., G*I)
    input; the hidden activations stay group-major (G, M, Hd) between the two batched matmuls."""
    g = fc_in.groups
    w_in = fc_in.weight.view(g, fc_in.out_channels // g, -1)  # (G, Hd, I)
    w_out = fc_out.weight.view(g, fc_out.out_channels // g, -1)  # (G, O, Hd)
    xg = x.reshape(-1, g, w_in.shape[2]).transpose(0, 1)  # (G, M, I)
    h = F.gelu(torch.baddbmm(fc_in.bias.view(g, 1, -1), xg, w_in.transpose(1, 2)))
    y = torch.baddbmm(fc_out.bias.view(g, 1, -1), h, w_out.transpose(1, 2))  # (G, M, O)
    return y.transpose(0, 1).reshape(*x.shape[:-1], -1)


def upsample_matrix(t_in: int, t_out: int) -> torch.Tensor:
    """(t_out, t_in) matrix equal to F.interpolate(mode='linear', align_corners=False)."""
    eye = torch.eye(t_in).unsqueeze(0)  # (1, t_in, t_in): channel j is the j-th basis signal
    return F.interpolate(eye, size=t_out, mode="linear", align_corners=False)[0].T.contiguous()


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
        self.fast = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.projection(self.layer_norm(x))
        return fastops.dropout(y, self.dropout.p, self.training) if self.fast else self.dropout(y)


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
        self.fast = True

    def _global_resampled(self, ut: torch.Tensor) -> torch.Tensor:
        """Length-agnostic departure: resample (B, H, T) to the MLP's fixed length and back (linear)."""
        t = ut.shape[-1]
        g = F.interpolate(ut, size=self.seq_len, mode="linear", align_corners=False)
        g = self.linear2(F.gelu(self.linear1(g)))
        return F.interpolate(g, size=t, mode="linear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H)
        u = self.norm(x)
        if x.shape[1] != self.seq_len:
            ut = u.transpose(1, 2)
            local = self.local_mix2(F.gelu(self.local_mix1(ut)))
            return x + self.dropout(local + self._global_resampled(ut)).transpose(1, 2)
        if self.fast:
            ut = u.transpose(1, 2)
            local = self.local_mix2(F.gelu(self.local_mix1(ut))).transpose(1, 2)
            g = torch.baddbmm(self.linear1.bias.view(1, -1, 1).expand(x.shape[0], -1, -1),
                              self.linear1.weight.expand(x.shape[0], -1, -1), u)
            g = torch.baddbmm(self.linear2.bias.view(1, -1, 1).expand(x.shape[0], -1, -1),
                              self.linear2.weight.expand(x.shape[0], -1, -1), F.gelu(g))
            return x + fastops.dropout(local + g, self.dropout.p, self.training)
        ut = u.transpose(1, 2)
        local = self.local_mix2(F.gelu(self.local_mix1(ut)))
        glob = self.linear2(F.gelu(self.linear1(ut)))
        return x + self.dropout(local + glob).transpose(1, 2)


class ChannelMixing(nn.Module):
    """MSM + GCM: upsampled half-rate grouped MLP + full-rate grouped MLP -> grouped k3 -> GELU -> 1x1."""

    def __init__(self, hidden: int, seq_len: int, dropout: float, group_dim: int = 128, expansion: int = 4):
        super().__init__()
        if hidden % group_dim:
            raise ValueError(f"SV-Mixer width {hidden} must be a multiple of group_dim {group_dim}")
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
        self.register_buffer("upsample", upsample_matrix(seq_len // 2, seq_len), persistent=False)
        self.fast = True

    def _forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        g = self.groups
        v = self.norm1(x)
        half = t // 2
        low = v[:, : 2 * half].reshape(b, half, 2, h).mean(2)
        low = grouped_mlp(low, self.fc1, self.fc2)
        up = self.upsample if half == self.upsample.shape[1] and t == self.upsample.shape[0] else \
            upsample_matrix(half, t).to(x)
        full = grouped_mlp(v, self.fc3, self.fc4)
        s = torch.matmul(up, low) + full
        # grouped k3 conv as one grouped matmul over (channel, tap) pairs
        taps = F.pad(s, (0, 0, 1, 1)).unfold(1, 3, 1).reshape(b, t, h * 3)  # (B, T, H, 3) -> (B, T, 3H)
        y = F.gelu(grouped_linear(taps, self.fc5.weight, self.fc5.bias, g))
        y = F.linear(y, self.fc6.weight.view(h, h), self.fc6.bias)
        return x + fastops.dropout(y, self.dropout.p, self.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H)
        if self.fast:
            return self._forward_fast(x)
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
        self.fast = True

    def _cnn(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, N) -> (B, T, C) channels-last CNN features."""
        if not self.fast or not fastops.cpu_kernels_apply(x):
            for layer in self.conv_layers:
                x = layer(x)
            return x.transpose(1, 2)
        # Layer 0 (1 input channel) as a batched GEMM over waveform frames taken in phase-major order
        # (even frames, then odd): GroupNorm and GELU do not mind the order, and layer 1 (stride 2) then
        # reads each tap as a contiguous column run, writing channels-last output without any transpose.
        # The strided layers 2.. run channels-last as per-tap-group GEMMs (ssrfnet.models.fastops).
        first, second = self.conv_layers[0], self.conv_layers[1]
        w0 = first.conv.weight  # (C, 1, k)
        frames, starts = phase_major_frames(x.squeeze(1), w0.shape[2], first.conv.stride[0],
                                            second.conv.stride[0])
        x = torch.bmm(w0.squeeze(1).expand(frames.shape[0], -1, -1), frames.transpose(1, 2))  # (B, C, T)
        x = F.gelu(first.layer_norm(x))
        x = F.gelu(conv1d_phase_major(x, starts, second.conv.weight))  # (B, T', C)
        for layer in self.conv_layers[2:]:
            x = F.gelu(conv1d_channels_last(x, layer.conv.weight, stride=layer.conv.stride[0]))
        return x

    @property
    def min_samples(self) -> int:
        """Shortest waveform giving `seq_len` frames."""
        n = 0
        step = 1
        for k, s in zip(CNN_KERNELS, CNN_STRIDES):
            n += (k - 1) * step
            step *= s
        return n + (self.seq_len - 1) * step + 1

    def set_fast(self, fast: bool) -> None:
        for m in self.modules():
            if hasattr(m, "fast"):
                m.fast = fast

    def check_input(self, wav: torch.Tensor) -> None:
        check_waveform(wav)
        frames = cnn_frames(wav.shape[1])
        if self.length_agnostic:
            if frames < 4:
                raise ValueError(f"SV-Mixer needs at least 1360 samples (4 frames), got {wav.shape[1]}")
        elif frames != self.seq_len:
            samples = (self.seq_len + 1) * 320
            raise ValueError(
                f"SV-Mixer expects {samples / SAMPLE_RATE:g} s crops of {samples} samples at 16 kHz "
                f"(its time-MLP is fixed to {self.seq_len} frames), got {wav.shape[1]}")

    def forward_states(self, wav: torch.Tensor) -> list[torch.Tensor]:
        """The L+1 hidden states as a list of (B, T, H) tensors."""
        self.check_input(wav)
        x = self._cnn(wav.unsqueeze(1).to(self.conv_layers[0].conv.weight.dtype))
        x = self.feat_projection(x)
        x = fastops.dropout(x, self.dropout.p, self.training) if self.fast else self.dropout(x)
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
        from ssrfnet.models.redimnet import EmbeddingHead

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
