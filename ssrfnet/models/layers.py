"""Layers shared by the models: channels-first LayerNorm, softmax layer mixes, attentive statistics pooling
with the embedding head, and the waveform input check."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ssrfnet.errors import InputError


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over dim 1 of (B, C, ...) tensors (biased variance), as ReDimNet defines it."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return self.weight.view(shape) * x + self.bias.view(shape)


class LayerMix(nn.Module):
    """Per-channel softmax-weighted sum of N (B, CF, T) tensors; zero-initialised weights.

    With a single input the official code keeps a (1,1,1,1) weight frozen; we keep it for parity.
    """

    def __init__(self, num_inputs: int, channels: int):
        super().__init__()
        self.num_inputs = num_inputs
        if num_inputs == 1:
            self.w = nn.Parameter(torch.zeros(1, 1, 1, 1), requires_grad=False)
        else:
            self.w = nn.Parameter(torch.zeros(1, num_inputs, channels, 1))

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Mix N (B, CF, T) tensors."""
        return self.mix(xs, lambda weights: weights.unbind(1))  # (1, CF, 1) each

    def mix(self, xs: Sequence[torch.Tensor], split_weights) -> torch.Tensor:
        """sum_n w_n * xs[n] with w = softmax(self.w) cut into per-input weights by `split_weights`
        (so that a channels-last caller can shape them for its layout)."""
        if len(xs) != self.num_inputs:
            raise InputError(f"LayerMix expects {self.num_inputs} inputs, got {len(xs)}")
        if self.num_inputs == 1:
            return xs[0]
        weights = split_weights(torch.softmax(self.w, dim=1))
        out = weights[0] * xs[0]
        for w, x in zip(weights[1:], xs[1:]):
            out = out + w * x
        return out


class ASTP(nn.Module):
    """Attentive statistics pooling with global context: (B, D, T) -> (B, 2D)."""

    def __init__(self, in_dim: int, bottleneck: int = 128, global_context: bool = True):
        super().__init__()
        self.global_context = global_context
        self.linear1 = nn.Conv1d(in_dim * (3 if global_context else 1), bottleneck, 1)
        self.linear2 = nn.Conv1d(bottleneck, in_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.global_context:
            mean = x.mean(dim=-1, keepdim=True).expand_as(x)
            std = torch.sqrt(x.var(dim=-1, keepdim=True) + 1e-7).expand_as(x)
            att_in = torch.cat((x, mean, std), dim=1)
        else:
            att_in = x
        alpha = torch.softmax(self.linear2(torch.tanh(self.linear1(att_in))), dim=2)
        mu = torch.sum(alpha * x, dim=2)
        var = torch.sum(alpha * x * x, dim=2) - mu * mu
        return torch.cat((mu, torch.sqrt(var.clamp(min=1e-7))), dim=1)


class EmbeddingHead(nn.Module):
    """ASTP -> BatchNorm1d -> Linear to the embedding (no L2 normalisation)."""

    def __init__(self, in_dim: int, embed_dim: int = 192, global_context: bool = True):
        super().__init__()
        self.pool = ASTP(in_dim, global_context=global_context)
        self.bn = nn.BatchNorm1d(2 * in_dim)
        self.linear = nn.Linear(2 * in_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.bn(self.pool(x)))


def check_waveform(wav: torch.Tensor) -> None:
    if not isinstance(wav, torch.Tensor):
        raise InputError(f"expected a torch.Tensor waveform, got {type(wav).__name__}")
    if not wav.is_floating_point():
        raise InputError(f"waveform must be a floating-point tensor, got dtype {wav.dtype}")
    if wav.dim() != 2:
        raise InputError(f"waveform must have shape (batch, samples), got shape {tuple(wav.shape)}")
