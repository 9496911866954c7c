"""ReDimNet (IDRnD) re-implemented from the published description of the official code.

1D tensors are (B, C*F, T) with a frequency-major channel index (f_idx * c + c_idx); stages reshape
them to 2D (B, c, f, T), work there, and flatten back. Every stage input is a per-channel softmax
mix of all earlier 1D outputs. Key names are our own; `official.py` maps the released layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ssrfnet.errors import ConfError, InputError
from ssrfnet.models.features import LogMel
from ssrfnet.models.layers import ChannelsFirstLayerNorm, EmbeddingHead, LayerMix, check_waveform

BLOCK_2D_TYPES = ("convnext_like", "basic_resnet", "basic_resnet_fwse")
BLOCK_1D_TYPES = ("conv+att", "att", "none")


def to2d(x: torch.Tensor, f: int, c: int) -> torch.Tensor:
    b, _, t = x.shape
    return x.reshape(b, f, c, t).permute(0, 2, 1, 3)


def to1d(x: torch.Tensor) -> torch.Tensor:
    b, c, f, t = x.shape
    return x.permute(0, 2, 1, 3).reshape(b, f * c, t)


class ConvNeXt2d(nn.Module):
    """Grouped 3x3 conv -> BN -> GELU -> 1x1 conv, residual. group_divisor = channels per group."""

    def __init__(self, channels: int, group_divisor: int):
        super().__init__()
        self.dwconvs = nn.ModuleList(
            [nn.Conv2d(channels, channels, 3, padding=1, groups=channels // group_divisor)])
        self.norm = nn.BatchNorm2d(channels)
        self.pwconv1 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pwconv1(F.gelu(self.norm(self.dwconvs[0](x))))


class FwSE(nn.Module):
    """Frequency-wise squeeze-excitation: one gate per frequency bin from the (C, T) mean."""

    def __init__(self, freq: int, se_channels: int):
        super().__init__()
        self.squeeze = nn.Linear(freq, se_channels)
        self.exitation = nn.Linear(se_channels, freq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(1, 3))
        s = torch.sigmoid(self.exitation(F.relu(self.squeeze(s))))
        return x * s[:, None, :, None]


class BasicResBlock2d(nn.Module):
    """Grouped 3x3 + 1x1 -> ReLU -> BN -> grouped 3x3 + 1x1 -> BN [-> fwSE] -> +x -> ReLU."""

    def __init__(self, channels: int, group_divisor: int, freq: int, fwse: bool):
        super().__init__()
        groups = channels // group_divisor
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, groups=groups, bias=False)
        self.conv1pw = nn.Conv2d(channels, channels, 1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, groups=groups, bias=False)
        self.conv2pw = nn.Conv2d(channels, channels, 1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.se = FwSE(freq, min(64, max(channels, 32))) if fwse else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn1(F.relu(self.conv1pw(self.conv1(x))))
        out = self.bn2(self.conv2pw(self.conv2(out)))
        if self.se is not None:
            out = self.se(out)
        return F.relu(out + x)


def make_block_2d(kind: str, channels: int, group_divisor: int, freq: int) -> nn.Module:
    if kind == "convnext_like":
        return ConvNeXt2d(channels, group_divisor)
    if kind in ("basic_resnet", "basic_resnet_fwse"):
        return BasicResBlock2d(channels, group_divisor, freq, fwse=kind == "basic_resnet_fwse")
    raise ConfError(f"unknown 2D block type {kind!r}; expected one of {BLOCK_2D_TYPES}")


class ConvNeXt1d(nn.Module):
    """Depthwise conv (k) -> BN -> GELU -> 1x1 conv, residual, on (B, C, T)."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.dwconvs = nn.ModuleList([nn.Conv1d(channels, channels, kernel_size,
                                                padding=kernel_size // 2, groups=channels)])
        self.norm = nn.BatchNorm1d(channels)
        self.pwconv1 = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pwconv1(F.gelu(self.norm(self.dwconvs[0](x))))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ConfError(f"attention width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.num_heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, h, d // h).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, d))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.intermediate_dense = nn.Linear(dim, hidden)
        self.output_dense = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_dense(F.gelu(self.intermediate_dense(x), approximate="tanh"))


class TransformerLayer(nn.Module):
    """Post-LN (wav2vec2-style) layer on (B, C, T): LN(x + MHA(x)), then LN(x + FFN(x))."""

    def __init__(self, dim: int, ffn_dim: int, num_heads: int = 4):
        super().__init__()
        self.attention = MultiHeadSelfAttention(dim, num_heads)
        self.layer_norm = nn.LayerNorm(dim, eps=1e-6)
        self.feed_forward = FeedForward(dim, ffn_dim)
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        x = self.layer_norm(x + self.attention(x))
        x = self.final_layer_norm(x + self.feed_forward(x))
        return x.transpose(1, 2)


class PosEncConv(nn.Module):
    """Depthwise conv positional encoding with LayerNorm, residual (used by the 'att' 1D block)."""

    def __init__(self, channels: int, kernel_size: int = 59):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.norm = ChannelsFirstLayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm(self.conv(x))


class TimeContextBlock1d(nn.Module):
    """Reduce CF -> hC, temporal context (ConvNeXt-1d stack and/or attention), expand back, residual."""

    def __init__(self, channels: int, hidden: int, kind: str = "conv+att"):
        super().__init__()
        self.red_dim_conv = nn.Sequential(nn.Conv1d(channels, hidden, 1), ChannelsFirstLayerNorm(hidden))
        if kind == "conv+att":
            self.tcm = nn.Sequential(*[ConvNeXt1d(hidden, k) for k in (7, 19, 31, 59)],
                                     TransformerLayer(hidden, hidden))
        elif kind == "att":
            self.tcm = nn.Sequential(PosEncConv(hidden), TransformerLayer(hidden, 2 * hidden))
        else:
            raise ConfError(f"unknown 1D block type {kind!r}; expected one of {BLOCK_1D_TYPES}")
        self.exp_dim_conv = nn.Conv1d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.exp_dim_conv(self.tcm(self.red_dim_conv(x)))


class Stage(nn.Module):
    """Mix earlier outputs -> 2D -> frequency-stride conv -> 2D blocks [-> squeeze] -> 1D [-> 1D block]."""

    def __init__(self, num_inputs: int, c: int, f: int, stride: int, num_blocks: int, conv_exp: int,
                 att_red: int | None, block_2d: str, group_divisor: int, block_1d: str):
        super().__init__()
        if f % stride:
            raise ConfError(f"frequency size {f} is not divisible by stage stride {stride}")
        self.c_in, self.f_in = c, f
        c_out, f_out = c * stride, f // stride
        self.c_out, self.f_out = c_out, f_out
        channels = c * f
        wide = c_out * conv_exp
        self.mix = LayerMix(num_inputs, channels)
        self.down = nn.Conv2d(c, wide, kernel_size=(stride, 1), stride=(stride, 1))
        self.blocks = nn.ModuleList(
            [make_block_2d(block_2d, wide, group_divisor, f_out) for _ in range(num_blocks)])
        self.squeeze = None
        if conv_exp != 1:
            self.squeeze = nn.Sequential(
                nn.Conv2d(wide, c_out, 3, padding=1, groups=c_out // group_divisor),
                nn.BatchNorm2d(c_out, eps=1e-6), nn.GELU(), nn.Conv2d(c_out, c_out, 1))
        self.context = None
        if att_red and block_1d != "none":
            self.context = TimeContextBlock1d(channels, channels // att_red, block_1d)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.forward_2d(to2d(self.mix(xs), self.f_in, self.c_in))

    def forward_2d(self, x: torch.Tensor) -> torch.Tensor:
        """The stage after the input mix, from the (B, c, f, T) view of the mixed input."""
        x = self.down(x)
        for block in self.blocks:
            x = block(x)
        if self.squeeze is not None:
            x = self.squeeze(x)
        x = to1d(x)
        if self.context is not None:
            x = self.context(x)
        return x


class ReDimBody(nn.Module):
    """The stage stack. `injections` (SSRFNet's PFM outputs) join the mix list before stages 0..n-1."""

    def __init__(self, F: int, C: int, stages: Sequence[Sequence[int]], block_2d: str, group_divisor: int,
                 block_1d: str, num_injections: int = 0):
        super().__init__()
        self.num_injections = num_injections
        self.stages = nn.ModuleList()
        c, f = C, F
        n_outputs = 1
        for i, (stride, num_blocks, conv_exp, att_red) in enumerate(stages):
            if i < num_injections:
                n_outputs += 1
            stage = Stage(n_outputs, c, f, stride, num_blocks, conv_exp, att_red, block_2d,
                          group_divisor, block_1d)
            self.stages.append(stage)
            c, f = stage.c_out, stage.f_out
            n_outputs += 1
        n_outputs += max(0, num_injections - len(stages))
        self.final_mix = LayerMix(n_outputs, C * F)

    def forward(self, x: torch.Tensor, injections: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        if len(injections) != self.num_injections:
            raise InputError(f"expected {self.num_injections} injected features, got {len(injections)}")
        outputs = [x]
        for i, stage in enumerate(self.stages):
            if i < len(injections):
                outputs.append(injections[i])
            outputs.append(stage(outputs))
        outputs.extend(injections[len(self.stages):])
        return self.final_mix(outputs)


class Stem2d(nn.Module):
    def __init__(self, C: int):
        super().__init__()
        self.conv = nn.Conv2d(1, C, 3, padding=1)
        self.norm = ChannelsFirstLayerNorm(C)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return to1d(self.norm(self.conv(mel.unsqueeze(1))))


class ReDimNet(nn.Module):
    """Official-style ReDimNet speaker embedder: (B, N) 16 kHz waveform -> (B, embed_dim)."""

    crop_samples = None

    def __init__(self, F: int = 72, C: int = 16, stages: Sequence[Sequence[int]] = (),
                 block_2d: str = "convnext_like", group_divisor: int = 4, block_1d: str = "conv+att",
                 hop_length: int = 240,
                 norm_signal: bool = False, embed_dim: int = 192, global_context: bool = True):
        super().__init__()
        self.embed_dim = embed_dim
        self.frontend = LogMel(F, hop_length, norm_signal)
        self.stem = Stem2d(C)
        self.body = ReDimBody(F, C, stages, block_2d, group_divisor, block_1d)
        self.head = EmbeddingHead(C * F, embed_dim, global_context)

    def forward_train(self, wav: torch.Tensor) -> tuple[torch.Tensor, None]:
        """-> (embedding, None): no student, so no hidden states for a KD loss."""
        return self(wav), None

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        check_waveform(wav)
        return self.head(self.body(self.stem(self.frontend(wav))))
