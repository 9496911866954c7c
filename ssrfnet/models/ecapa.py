"""ECAPA-TDNN over a student's hidden states: the SV-Mixer paper's own speaker-verification back end.

As the official repository defines it (dayflys/SSRFNet `models/ecapa.py::ECAPA_TDNN` and
`models/modules.py::Bottle2neck`): a learnable weighted sum of all L+1 hidden states (weights drawn from
U(0, 1), shape (1, L+1, 1, 1), no softmax) -> InstanceNorm1d over the student width H (no affine) -> training
only: Gaussian noise with sigma ~ U(0.001, 0.01) per utterance -> Conv1d(H -> C, k5) -> ReLU -> BN -> three
Res2Net bottlenecks (dilations 2, 3, 4, scale 4, SE with a 128 bottleneck) fed cumulatively (x, x + x1,
x + x1 + x2) -> concatenation -> Conv1d(3C -> 1536, k1) -> ReLU -> attentive statistics pooling with global
context (4608 -> 256 -> 1536) -> BN(3072) -> Linear(3072 -> 192) -> BN(192).

Every conv is followed by ReLU and then BN (in that order), as in the official code. C is not in the code;
`ECAPA_CHANNELS` is derived from the paper's 80.3 M total (docs/baselines.md, tests/test_models_baselines.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssrfnet.errors import ConfError, InputError
from ssrfnet.models.features import add_logmel_noise

# Channel width C of the SV-Mixer/ECAPA system: the multiple of 4 whose model total rounds to the 80.3 M that
# SSRFNet's Table 2 reports (SV-Mixer 12 x 1024: 49,680,460 + ECAPA(C = 1356): 30,583,201 = 80,263,661).
ECAPA_CHANNELS = 1356
MERGE_CHANNELS = 1536  # fixed in the official code
RES2NET_SCALE = 4
SE_BOTTLENECK = 128
ATTENTION_BOTTLENECK = 256
STD_FLOOR = 1e-4  # variances are clamped here before the square root (pooling statistics)


class SqueezeExcitation(nn.Module):
    """Time-mean -> Conv1d(C -> 128) -> ReLU -> Conv1d(128 -> C) -> sigmoid -> channel gates."""

    def __init__(self, channels: int, bottleneck: int = SE_BOTTLENECK):
        super().__init__()
        self.squeeze = nn.Conv1d(channels, bottleneck, 1)
        self.excite = nn.Conv1d(bottleneck, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gates = torch.sigmoid(self.excite(F.relu(self.squeeze(x.mean(dim=2, keepdim=True)))))
        return x * gates


class Res2NetBlock(nn.Module):
    """The official Bottle2neck: 1x1 conv to scale * width channels, a hierarchy of dilated k3 convs over
    the first scale - 1 chunks (each chunk after the first adds the previous output), the last chunk passed
    as is, 1x1 conv back to C, SE, residual. Width = floor(C / scale)."""

    def __init__(self, channels: int, dilation: int, scale: int = RES2NET_SCALE, kernel_size: int = 3):
        super().__init__()
        width = channels // scale
        if width < 1:
            raise ConfError(f"--ecapa-channels {channels} is smaller than the Res2Net scale {scale}")
        self.width = width
        self.scale = scale
        self.conv_in = nn.Conv1d(channels, width * scale, 1)
        self.bn_in = nn.BatchNorm1d(width * scale)
        padding = kernel_size // 2 * dilation
        self.convs = nn.ModuleList([nn.Conv1d(width, width, kernel_size, dilation=dilation, padding=padding)
                                    for _ in range(scale - 1)])
        self.bns = nn.ModuleList([nn.BatchNorm1d(width) for _ in range(scale - 1)])
        self.conv_out = nn.Conv1d(width * scale, channels, 1)
        self.bn_out = nn.BatchNorm1d(channels)
        self.se = SqueezeExcitation(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(self.bn_in(F.relu(self.conv_in(x))), self.width, dim=1)
        outputs = []
        y = chunks[0]
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            if i > 0:
                y = y + chunks[i]
            y = bn(F.relu(conv(y)))
            outputs.append(y)
        outputs.append(chunks[self.scale - 1])
        y = self.bn_out(F.relu(self.conv_out(torch.cat(outputs, dim=1))))
        return self.se(y) + x


class ECAPAPooling(nn.Module):
    """Attentive statistics pooling with global context, ECAPA flavour: the attention sees [x; mean; std]
    through Conv1d(3D -> 256) -> ReLU -> BN -> tanh -> Conv1d(256 -> D), softmax over time; variances are
    clamped at 1e-4 (the global std uses the unbiased variance, as torch.var does). (B, D, T) -> (B, 2D)."""

    def __init__(self, channels: int, bottleneck: int = ATTENTION_BOTTLENECK):
        super().__init__()
        self.attention_in = nn.Conv1d(3 * channels, bottleneck, 1)
        self.attention_bn = nn.BatchNorm1d(bottleneck)
        self.attention_out = nn.Conv1d(bottleneck, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[-1]
        mean = x.mean(dim=2, keepdim=True).expand(-1, -1, frames)
        std = torch.sqrt(x.var(dim=2, keepdim=True).clamp(min=STD_FLOOR)).expand(-1, -1, frames)
        context = torch.cat((x, mean, std), dim=1)
        hidden = torch.tanh(self.attention_bn(F.relu(self.attention_in(context))))
        weights = torch.softmax(self.attention_out(hidden), dim=2)
        mu = torch.sum(x * weights, dim=2)
        sigma = torch.sqrt((torch.sum(x * x * weights, dim=2) - mu * mu).clamp(min=STD_FLOOR))
        return torch.cat((mu, sigma), dim=1)


class ECAPABackend(nn.Module):
    """Student hidden states (B, L+1, T, H) -> (B, embed_dim) speaker embedding."""

    def __init__(self, num_layers: int, hidden: int, channels: int = ECAPA_CHANNELS,
                 merge_channels: int = MERGE_CHANNELS, embed_dim: int = 192, feature_noise: bool = True):
        super().__init__()
        self.num_states = num_layers + 1
        self.feature_noise = feature_noise
        self.layer_weights = nn.Parameter(torch.rand(1, num_layers + 1, 1, 1))
        self.norm = nn.InstanceNorm1d(hidden)
        self.conv_in = nn.Conv1d(hidden, channels, 5, padding=2)
        self.bn_in = nn.BatchNorm1d(channels)
        self.blocks = nn.ModuleList([Res2NetBlock(channels, dilation) for dilation in (2, 3, 4)])
        self.merge = nn.Conv1d(3 * channels, merge_channels, 1)
        self.pool = ECAPAPooling(merge_channels)
        self.pool_bn = nn.BatchNorm1d(2 * merge_channels)
        self.linear = nn.Linear(2 * merge_channels, embed_dim)
        self.embed_bn = nn.BatchNorm1d(embed_dim)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if hidden.dim() != 4 or hidden.shape[1] != self.num_states:
            raise InputError(f"ECAPA back end expects hidden states (B, {self.num_states}, T, H), "
                            f"got {tuple(hidden.shape)}")
        x = (hidden * self.layer_weights).sum(dim=1)  # (B, T, H)
        x = self.norm(x.transpose(1, 2))
        if self.training and self.feature_noise:
            x = add_logmel_noise(x)  # the official GaussianNoiseAug: the same per-utterance noise
        x = self.bn_in(F.relu(self.conv_in(x)))
        outputs = []
        block_input = x
        for block in self.blocks:
            outputs.append(block(block_input))
            block_input = block_input + outputs[-1]
        x = F.relu(self.merge(torch.cat(outputs, dim=1)))
        return self.embed_bn(self.linear(self.pool_bn(self.pool(x))))


class StudentECAPA(nn.Module):
    """A distillable student (SV-Mixer or the Transformer student) with the ECAPA back end over all its
    hidden states: (B, N) 16 kHz waveform -> (B, embed_dim)."""

    def __init__(self, student: nn.Module, backend: ECAPABackend):
        super().__init__()
        if backend.num_states != student.num_layers + 1:
            raise ConfError(f"ECAPA back end mixes {backend.num_states} hidden states, the student has "
                            f"{student.num_layers + 1}")
        self.student = student
        self.backend = backend
        self.embed_dim = backend.linear.out_features
        self.crop_samples = student.crop_samples

    def forward_train(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (embedding (B, D), student hidden states (B, L+1, T, H)) from a single student pass."""
        hidden = self.student(wav)
        return self.backend(hidden), hidden

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.backend(self.student(wav))
