"""Faster execution of the same models: a swap of modules, built once from the plain model.

`use_fast_kernels(model)` replaces every module that has a faster twin by that twin; the twin takes over the
plain module's parameters, buffers, submodules and attributes (the very same objects), so the state_dict,
the parameter values and the optimizer's references are unchanged. `use_plain_ops(model)` swaps back. The
plain modules (svmixer.py, redimnet.py, fusion.py) compute as the official code does; the twins compute the
same maths with other primitives:

- SV-Mixer CNN front end, on fp32 CPU tensors (elsewhere the plain convs): copy-free GEMM kernels
  (`ssrfnet.models.fastops`): layer 0 over phase-major frames, the strided layers as per-tap-group GEMMs;
- SV-Mixer token and channel mixing on channels-last (B, T, H) tensors: the time MLP and the grouped 1x1 convs
  as batched matmuls, the linear upsampling as a matrix product, the grouped k3 conv as one grouped matmul;
- dropout: the keep mask from thresholded uniform noise on CPU (same distribution, another random stream);
- PFM: window mixes of channels-last states and the k5 projection as one im2col GEMM with the LayerNorm over
  contiguous channels (the conv's CPU backward is slow);
- ReDimNet stages: the 2-D maps in channels-last memory format (grouped 3x3 convs, their backward above all,
  are several times faster that way on CPU).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ssrfnet.errors import ConfError
from ssrfnet.models import fastops
from ssrfnet.models.fusion import PFM, PFMProjection
from ssrfnet.models.redimnet import Stage, to2d
from ssrfnet.models.svmixer import ChannelMixing, SVMixer, TokenMixing


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
    hidden = F.gelu(torch.baddbmm(fc_in.bias.view(g, 1, -1), xg, w_in.transpose(1, 2)))
    y = torch.baddbmm(fc_out.bias.view(g, 1, -1), hidden, w_out.transpose(1, 2))  # (G, M, O)
    return y.transpose(0, 1).reshape(*x.shape[:-1], -1)


def upsample_matrix(t_in: int, t_out: int) -> torch.Tensor:
    """(t_out, t_in) matrix equal to F.interpolate(mode='linear', align_corners=False)."""
    eye = torch.eye(t_in).unsqueeze(0)  # (1, t_in, t_in): channel j is the j-th basis signal
    return F.interpolate(eye, size=t_out, mode="linear", align_corners=False)[0].T.contiguous()


class FastDropout(nn.Dropout):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fastops.dropout(x, self.p, self.training)


class FastTokenMixing(TokenMixing):
    """LGM on channels-last input: the time MLP as two batched matmuls over (B, T, H)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H)
        if x.shape[1] != self.seq_len:  # the length-agnostic departure resamples: plain ops
            return super().forward(x)
        u = self.norm(x)
        local = self.local_mix2(F.gelu(self.local_mix1(u.transpose(1, 2)))).transpose(1, 2)
        batch = x.shape[0]
        g = torch.baddbmm(self.linear1.bias.view(1, -1, 1).expand(batch, -1, -1),
                          self.linear1.weight.expand(batch, -1, -1), u)
        g = torch.baddbmm(self.linear2.bias.view(1, -1, 1).expand(batch, -1, -1),
                          self.linear2.weight.expand(batch, -1, -1), F.gelu(g))
        return x + self.dropout(local + g)


class FastChannelMixing(ChannelMixing):
    """MSM + GCM on channels-last input: grouped matmuls, the upsampling as a (T, T/2) matrix product."""

    def _upsample(self, half: int, frames: int, like: torch.Tensor) -> torch.Tensor:
        cache = self.__dict__.setdefault("_upsample_cache", {})
        key = (half, frames, like.dtype, like.device)
        if key not in cache:
            cache[key] = upsample_matrix(half, frames).to(like)
        return cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H)
        b, t, h = x.shape
        v = self.norm1(x)
        half = t // 2
        low = grouped_mlp(v[:, : 2 * half].reshape(b, half, 2, h).mean(2), self.fc1, self.fc2)
        s = torch.matmul(self._upsample(half, t, x), low) + grouped_mlp(v, self.fc3, self.fc4)
        # the grouped k3 conv as one grouped matmul over (channel, tap) pairs
        taps = F.pad(s, (0, 0, 1, 1)).unfold(1, 3, 1).reshape(b, t, h * 3)  # (B, T, H, 3) -> (B, T, 3H)
        y = F.gelu(grouped_linear(taps, self.fc5.weight, self.fc5.bias, self.groups))
        y = F.linear(y, self.fc6.weight.view(h, h), self.fc6.bias)
        return x + self.dropout(y)


class FastSVMixer(SVMixer):
    """The CNN front end as copy-free GEMMs on fp32 CPU tensors."""

    def cnn(self, x: torch.Tensor) -> torch.Tensor:
        if not fastops.cpu_kernels_apply(x):
            return super().cnn(x)
        # Layer 0 (1 input channel) as a batched GEMM over waveform frames taken in phase-major order
        # (even frames, then odd): GroupNorm and GELU do not mind the order, and layer 1 (stride 2) then
        # reads each tap as a contiguous column run, writing channels-last output without any transpose.
        first, second = self.conv_layers[0], self.conv_layers[1]
        w0 = first.conv.weight  # (C, 1, k)
        frames, starts = fastops.phase_major_frames(x.squeeze(1), w0.shape[2], first.conv.stride[0],
                                                    second.conv.stride[0])
        x = torch.bmm(w0.squeeze(1).expand(frames.shape[0], -1, -1), frames.transpose(1, 2))  # (B, C, T)
        x = F.gelu(first.layer_norm(x))
        x = F.gelu(fastops.conv1d_phase_major(x, starts, second.conv.weight))  # (B, T', C)
        for layer in self.conv_layers[2:]:
            x = F.gelu(fastops.conv1d_channels_last(x, layer.conv.weight, stride=layer.conv.stride[0]))
        return x


def _project_channels_last(proj: PFMProjection, x: torch.Tensor) -> torch.Tensor:
    """(B, T, H) -> (B, channels, T): the k5 'same' conv as one im2col GEMM, LayerNorm over contiguous
    channels."""
    k = proj.conv.kernel_size[0]
    cols = F.pad(x, (0, 0, (k - 1) // 2, k // 2)).unfold(1, k, 1)  # (B, T, H, k)
    weight = proj.conv.weight.reshape(proj.conv.out_channels, -1)
    y = F.linear(cols.reshape(x.shape[0], x.shape[1], -1), weight, proj.conv.bias)
    y = F.layer_norm(y, y.shape[-1:], proj.norm.weight, proj.norm.bias, proj.norm.eps)
    return y.transpose(1, 2).contiguous()


class FastPFM(PFM):
    """Window mixes of channels-last student states and GEMM projections."""

    def forward(self, hidden: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
        states = hidden.unbind(1) if isinstance(hidden, torch.Tensor) else hidden
        per_channel = lambda weights: weights[0, :, :, 0].unbind(0)  # noqa: E731  (CF,) each
        return [_project_channels_last(proj, mix.mix([states[i] for i in idx], per_channel))
                for idx, mix, proj in zip(self.windows, self.mix, self.proj)]


class FastStage(Stage):
    """A ReDimNet stage whose 2-D maps are channels-last."""

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        x = to2d(self.mix(xs), self.f_in, self.c_in)
        return self.forward_2d(x.contiguous(memory_format=torch.channels_last))


FAST_TWINS: dict[type, type] = {
    nn.Dropout: FastDropout, TokenMixing: FastTokenMixing, ChannelMixing: FastChannelMixing,
    SVMixer: FastSVMixer, PFM: FastPFM, Stage: FastStage,
}
PLAIN_OF: dict[type, type] = {fast: plain for plain, fast in FAST_TWINS.items()}


def _adopt(cls: type, module: nn.Module) -> nn.Module:
    """An instance of `cls` holding `module`'s state: the same parameter, buffer and submodule dicts."""
    twin = cls.__new__(cls)
    twin.__dict__.update(module.__dict__)
    return twin


def _swap(model: nn.Module, table: dict[type, type]) -> nn.Module:
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) in table:
                parent._modules[name] = _adopt(table[type(child)], child)
    return _adopt(table[type(model)], model) if type(model) in table else model


FAST_OPS_CHOICES = ("auto", "true", "false")


def fast_ops_value(value) -> str | bool:
    """--fast-ops: true, false or auto (kept as the string, resolved on the machine that runs the model)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfError(f"--fast-ops must be auto, true or false, got {value!r}")


def fast_kernels_pay() -> bool:
    """Whether the twins are faster on this CPU, from the measurements (docs/cpu-speed.md): on a 2-core AVX2
    machine they gave x1.2 per training step; with AVX-512 (a 2-core AMD Zen 5) oneDNN's own kernels are
    faster (the twins ran at x0.75 per full-size training step, x0.95 per mini one). Other CPUs: untested,
    so the plain official-style ops."""
    return torch.backends.cpu.get_cpu_capability() == "AVX2"


def resolve_fast_ops(value) -> bool:
    value = fast_ops_value(value)
    return fast_kernels_pay() if value == "auto" else value


def use_fast_kernels(model: nn.Module) -> nn.Module:
    """Swap in the fast twins (in place; the root is returned, possibly as a new object)."""
    return _swap(model, FAST_TWINS)


def use_plain_ops(model: nn.Module) -> nn.Module:
    """Swap the plain modules back (in place; the root is returned, possibly as a new object)."""
    return _swap(model, PLAIN_OF)


def uses_fast_kernels(model: nn.Module) -> bool:
    return any(type(m) in PLAIN_OF for m in model.modules())
