"""The traceable twin of an embedding model: the same maths in ops that the ONNX exporter can express and
that ONNX Runtime runs (and int8-quantizes) fast.

`exportable(model)` deep-copies the model, puts the plain modules back (the fast CPU kernels have no ONNX
symbolic) and replaces every log-mel front end by `DftLogMel`; `exportable(model, gemm=True)` (the graph
that `model.int8.onnx` is quantized from) also swaps in GEMM twins of the modules that hold
most of the multiply-adds (SV-Mixer CNN layers 1-6, channel mixing, PFM projections): their convolutions are
written as matrix products over shifted slices (im2col with constant slices, so any input length still
works), and grouped 1x1 convolutions as one 2-D matrix product per group. Dynamic int8 quantization in
ONNX Runtime covers MatMul with a weight initializer but not Conv (ConvInteger has no int8-weight CPU
kernel), so this form is what makes `model.int8.onnx` fast; the maths, and the fp32 parity, are unchanged.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from ssrfnet.audio import SAMPLE_RATE
from ssrfnet.models.fast import use_plain_ops
from ssrfnet.models.features import LogMel
from ssrfnet.models.fusion import PFM
from ssrfnet.models.svmixer import ChannelMixing, SVMixer


def realish_audio(num_samples: int, seed: int = 0) -> np.ndarray:
    """A speech-like test signal: a gliding harmonic source with syllable-rate amplitude modulation."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / SAMPLE_RATE
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    x = 0.1 * envelope * voiced + 0.005 * rng.standard_normal(num_samples)
    return x.astype(np.float32)


class DftLogMel(torch.nn.Module):
    """The log-mel front end with the STFT written as a real DFT (framing conv + float64 matmul).

    ONNX (opset 17, TorchScript exporter) cannot express torch.stft with complex output; this module
    computes the same features (centre reflect padding, window zero-padded to n_fft and centred,
    onesided power spectrum) from exportable ops. Framing is an identity-kernel conv (exact), the DFT a
    float64 matmul, so the result matches torch.stft to float32 rounding.
    """

    def __init__(self, logmel):
        super().__init__()
        self.hop_length = int(logmel.hop_length)
        self.norm_signal = bool(logmel.norm_signal)
        self.register_buffer("emphasis", logmel.emphasis.clone(), persistent=False)
        self.register_buffer("fbank_t", logmel.fbank.T.contiguous().double(), persistent=False)
        window = logmel.window.double()
        n_fft = (logmel.fbank.shape[0] - 1) * 2
        self.n_fft = n_fft
        left = (n_fft - window.numel()) // 2
        full = torch.zeros(n_fft, dtype=torch.float64)
        full[left : left + window.numel()] = window
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
        angle = 2 * torch.pi * n[:, None] * k[None, :] / n_fft
        # (n_fft/2+1, n_fft) so that basis @ frames (B, n_fft, T) needs no transpose (ORT fuses
        # transpose+matmul into FusedMatMul, which has no float64 kernel)
        self.register_buffer("cos_basis", (full[:, None] * torch.cos(angle)).T.contiguous(), persistent=False)
        self.register_buffer("sin_basis", (full[:, None] * torch.sin(angle)).T.contiguous(), persistent=False)
        self.register_buffer("framer", torch.eye(n_fft).unsqueeze(1), persistent=False)  # (n_fft, 1, n_fft)

    def num_frames(self, num_samples: int) -> int:
        return 1 + num_samples // self.hop_length

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = wav.float()
        if self.norm_signal:
            x = (x - x.mean(dim=1, keepdim=True)) / (x.std(dim=1, keepdim=True) + 1e-8)
        x = torch.nn.functional.pad(x.unsqueeze(1), (1, 0), mode="reflect")
        x = torch.nn.functional.conv1d(x, self.emphasis)
        half = self.n_fft // 2
        x = torch.nn.functional.pad(x, (half, half), mode="reflect")
        frames = torch.nn.functional.conv1d(x, self.framer, stride=self.hop_length)  # (B, n_fft, T)
        frames = frames.double()
        power = (self.cos_basis @ frames) ** 2 + (self.sin_basis @ frames) ** 2  # (B, n_fft/2+1, T)
        mel = torch.log(self.fbank_t @ power + 1e-6).float()
        return mel - mel.mean(dim=-1, keepdim=True)


def shifted_taps(x: torch.Tensor, kernel: int, stride: int = 1) -> torch.Tensor:
    """(B, T, C) channels-last -> (B, T', kernel*C) tap-major im2col columns of a valid conv, from constant
    slices (x[:, j : T-(k-1-j) : stride]) so that the traced graph works for any T."""
    taps = [x[:, j : (j - kernel + 1) or None : stride] for j in range(kernel)]
    return torch.cat(taps, dim=2)


def conv1d_as_matmul(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     stride: int = 1) -> torch.Tensor:
    """Valid Conv1d (groups 1) on channels-last (B, T, I) input as one matrix product -> (B, T', O)."""
    kernel = weight.shape[2]
    columns = weight.permute(0, 2, 1).reshape(weight.shape[0], -1)  # (O, k*I), tap-major like the taps
    return F.linear(shifted_taps(x, kernel, stride), columns, bias)


def grouped_linear_split(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                         groups: int) -> torch.Tensor:
    """Grouped 1x1 conv on channels-last (..., G*I) input as G 2-D matrix products (weight (G*O, I[, 1]))."""
    w = weight.reshape(weight.shape[0], -1)
    xs = x.chunk(groups, dim=-1)
    ws = w.chunk(groups, dim=0)
    bs = bias.chunk(groups) if bias is not None else [None] * groups
    return torch.cat([F.linear(xg, wg, bg) for xg, wg, bg in zip(xs, ws, bs)], dim=-1)


class GemmSVMixer(SVMixer):
    """CNN layers 1-6 as channels-last matrix products (layer 0 has one input channel: few MACs)."""

    def cnn(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_layers[0](x).transpose(1, 2)
        for layer in self.conv_layers[1:]:
            x = F.gelu(conv1d_as_matmul(x, layer.conv.weight, layer.conv.bias, layer.conv.stride[0]))
        return x


class GemmChannelMixing(ChannelMixing):
    """MSM + GCM on channels-last tensors with per-group matrix products (same maths as ChannelMixing)."""

    def _mlp(self, x: torch.Tensor, fc_in, fc_out) -> torch.Tensor:
        hidden = F.gelu(grouped_linear_split(x, fc_in.weight, fc_in.bias, self.groups))
        return grouped_linear_split(hidden, fc_out.weight, fc_out.bias, self.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H)
        v = self.norm1(x)
        frames = v.shape[1]
        low = F.avg_pool1d(v.transpose(1, 2), 2, 2).transpose(1, 2)
        low = self._mlp(low, self.fc1, self.fc2).transpose(1, 2)
        low = F.interpolate(low, size=frames, mode="linear", align_corners=False).transpose(1, 2)
        s = F.pad(low + self._mlp(v, self.fc3, self.fc4), (0, 0, 1, 1))
        # the grouped k3 conv: per channel its 3 taps side by side (channel-major), then per-group products
        taps = torch.stack([s[:, j : (j - 2) or None] for j in range(3)], dim=-1).flatten(2)
        y = F.gelu(grouped_linear_split(taps, self.fc5.weight, self.fc5.bias, self.groups))
        y = F.linear(y, self.fc6.weight.reshape(self.fc6.out_channels, -1), self.fc6.bias)
        return x + self.dropout(y)


class GemmPFM(PFM):
    """Window mixes of channels-last states; the k5 'same' projection as one matrix product."""

    def forward(self, hidden) -> list[torch.Tensor]:
        states = hidden.unbind(1) if isinstance(hidden, torch.Tensor) else hidden
        per_channel = lambda weights: weights[0, :, :, 0].unbind(0)  # noqa: E731  (CF,) each
        out = []
        for idx, mix, proj in zip(self.windows, self.mix, self.proj):
            x = F.pad(mix.mix([states[i] for i in idx], per_channel), (0, 0, 2, 2))
            y = conv1d_as_matmul(x, proj.conv.weight, proj.conv.bias)
            y = F.layer_norm(y, (proj.conv.out_channels,), proj.norm.weight, proj.norm.bias, proj.norm.eps)
            out.append(y.transpose(1, 2))
        return out


GEMM_TWINS: dict[type, type] = {SVMixer: GemmSVMixer, ChannelMixing: GemmChannelMixing, PFM: GemmPFM}


def _swap_in(model: torch.nn.Module, table: dict[type, type]) -> torch.nn.Module:
    """Replace modules of a type in `table` by an instance of its twin sharing the same state."""
    def twin(module):
        new = table[type(module)].__new__(table[type(module)])
        new.__dict__.update(module.__dict__)
        return new

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in table:
                parent._modules[name] = twin(child)
    return twin(model) if type(model) in table else model


def exportable(model: torch.nn.Module, gemm: bool = False) -> torch.nn.Module:
    """A deep copy of `model` that the exporters can trace, computing the same maths.

    Every log-mel front end becomes DftLogMel, and the SV-Mixer runs its plain ops: its optimised CPU
    kernels have no ONNX symbolic. With `gemm`, the GEMM twins (module doc) replace the plain modules.
    """
    model = use_plain_ops(copy.deepcopy(model))
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LogMel):
                setattr(module, child_name, DftLogMel(child))
    return _swap_in(model, GEMM_TWINS) if gemm else model
