"""CPU kernels for the fast path: strided 1-D convolutions on channels-last (B, T, C) tensors as GEMMs.

A k-tap conv with stride s is a sum of matmuls over groups of up to s consecutive taps: group (j, n) reads
the rows x[t*s + j .. t*s + j + n - 1], which for n <= s is a strided view of the input with n*C contiguous
values per row (row stride s*C), a valid BLAS operand. So neither the forward nor the backward pass
materialises an im2col copy, the input gradient is accumulated in place instead of being folded back from
an unfolded buffer, and each GEMM still has a deep inner dimension (k=3, s=2: one 2C-deep and one C-deep
GEMM; k=2, s=2: a single GEMM on a reshaped view). Same arithmetic as F.conv1d up to summation order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


def cpu_kernels_apply(x: torch.Tensor) -> bool:
    """The custom kernels here are for fp32 CPU tensors; on GPUs (and under autocast) the framework's
    convolutions are the right tool, so callers take their plain path instead."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) \
        and not torch.is_autocast_enabled("cpu")


def _tap_groups(taps: int, stride: int) -> list[tuple[int, int]]:
    """(first tap, number of taps) per GEMM: runs of `stride` consecutive taps, then the rest."""
    return [(j, min(stride, taps - j)) for j in range(0, taps, stride)]


def _tap_rows(x2d: torch.Tensor, tap: int, n_taps: int, stride: int, count: int) -> torch.Tensor:
    """(count, n_taps*C) view of a contiguous (T, C) tensor: row t holds rows t*stride + tap .. + n_taps-1."""
    c = x2d.shape[1]
    return x2d.as_strided((count, n_taps * c), (stride * c, 1), x2d.storage_offset() + tap * c)


def _segments(x: torch.Tensor, stride: int, t_out: int) -> list[tuple[torch.Tensor, slice]]:
    """(input rows, output rows) pairs the GEMMs run over.

    Stride 1: the whole batch as one sequence of B*T_in rows; outputs that straddle two utterances are
    computed and discarded (a few rows), which keeps one large GEMM per tap. Otherwise one per utterance.
    """
    b, t_in, c = x.shape
    if stride == 1:
        return [(x.reshape(b * t_in, c), slice(0, b * t_in - (t_in - t_out)))]
    return [(x[i], slice(i * t_out, (i + 1) * t_out)) for i in range(b)]


class _TapConv1d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, w_taps: torch.Tensor, bias: torch.Tensor | None, stride: int):
        # x (B, T_in, C) contiguous, already padded; w_taps (K, C, O) contiguous
        b, t_in, _ = x.shape
        k, _, o = w_taps.shape
        t_out = (t_in - k) // stride + 1
        rows = b * t_in if stride == 1 else b * t_out
        out = x.new_empty(rows, o)
        for src, dst in _segments(x, stride, t_out):
            y = out[dst]
            n = y.shape[0]
            for tap, m in _tap_groups(k, stride):
                xs = _tap_rows(src, tap, m, stride, n)
                w = w_taps[tap: tap + m].view(-1, o)
                if tap == 0:
                    if bias is None:
                        torch.mm(xs, w, out=y)
                    else:
                        torch.addmm(bias, xs, w, out=y)
                else:
                    y.addmm_(xs, w)
        ctx.save_for_backward(x, w_taps)
        ctx.stride, ctx.has_bias = stride, bias is not None
        if stride == 1:
            return out.view(b, t_in, o)[:, :t_out].contiguous()
        return out.view(b, t_out, o)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, w_taps = ctx.saved_tensors
        stride = ctx.stride
        b, t_in, c = x.shape
        k, _, o = w_taps.shape
        t_out = grad.shape[1]
        grad = grad.contiguous()
        if stride == 1:
            g = grad.new_zeros(b, t_in, o)
            g[:, :t_out] = grad
            g = g.view(b * t_in, o)
        else:
            g = grad.view(b * t_out, o)
        need_x, need_w, _, _ = ctx.needs_input_grad[:4]
        grad_x = torch.zeros_like(x) if need_x else None
        grad_w = torch.zeros_like(w_taps) if need_w else None
        gx_segs = _segments(grad_x, stride, t_out) if need_x else None
        for i, (src, dst) in enumerate(_segments(x, stride, t_out)):
            gy = g[dst]
            n = gy.shape[0]
            for tap, m in _tap_groups(k, stride):
                if need_w:
                    grad_w[tap: tap + m].view(-1, o).addmm_(_tap_rows(src, tap, m, stride, n).t(), gy)
                if need_x:
                    w = w_taps[tap: tap + m].view(-1, o)
                    _tap_rows(gx_segs[i][0], tap, m, stride, n).addmm_(gy, w.t())
        grad_bias = grad.sum((0, 1)) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_bias, None


def conv1d_channels_last(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                         stride: int = 1, padding: int = 0) -> torch.Tensor:
    """F.conv1d for (B, T, C) input and (O, C, K) weight (groups=1), returning (B, T', O)."""
    if padding:
        x = F.pad(x, (0, 0, padding, padding))
    w_taps = weight.permute(2, 1, 0).contiguous()  # (K, C, O): each tap a ready (C, O) GEMM operand
    return _TapConv1d.apply(x.contiguous(), w_taps, bias, stride)


def phase_major_frames(wav: torch.Tensor, kernel: int, hop: int,
                       phases: int) -> tuple[torch.Tensor, list[int]]:
    """Analysis frames of a (B, N) waveform, ordered phase-major: frames 0, p, 2p, ..., then 1, 1+p, ...

    Returns the frames (B, T, kernel) and the first column of each phase. A per-frame map (conv layer 0,
    GroupNorm's per-channel statistics over time, GELU) does not care about frame order, and a following
    conv with stride `phases` then reads each of its taps as one contiguous run of columns.
    """
    n_frames = (wav.shape[1] - kernel) // hop + 1
    runs, starts, col = [], [], 0
    for p in range(phases):
        count = len(range(p, n_frames, phases))
        runs.append(wav[:, p * hop:].unfold(1, kernel, hop * phases)[:, :count])
        starts.append(col)
        col += count
    return torch.cat(runs, 1), starts


class _PhaseConv1d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, w_taps: torch.Tensor, starts: tuple[int, ...], t_out: int):
        # z (B, C, T) channels-first with phase-major time; w_taps (K, C, O); output channels-last (B, T', O)
        b = z.shape[0]
        k, _, o = w_taps.shape
        cols = _phase_columns(starts, k, t_out)
        out = z.new_empty(b, t_out, o)
        for i in range(b):
            for tap, col in enumerate(cols):
                xs = z[i, :, col].t()  # (T', C), column-major BLAS operand
                if tap == 0:
                    torch.mm(xs, w_taps[0], out=out[i])
                else:
                    out[i].addmm_(xs, w_taps[tap])
        ctx.save_for_backward(z, w_taps)
        ctx.cols = cols
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        z, w_taps = ctx.saved_tensors
        grad = grad.contiguous()
        need_z, need_w = ctx.needs_input_grad[:2]
        grad_z = torch.zeros_like(z) if need_z else None
        grad_w = torch.zeros_like(w_taps) if need_w else None
        for i in range(z.shape[0]):
            for tap, col in enumerate(ctx.cols):
                if need_w:
                    grad_w[tap].addmm_(z[i, :, col], grad[i])
                if need_z:
                    grad_z[i, :, col].addmm_(w_taps[tap], grad[i].t())
        return grad_z, grad_w, None, None


def _phase_columns(starts: tuple[int, ...], taps: int, t_out: int) -> list[slice]:
    """Columns of a phase-major input that tap k reads for outputs 0..t_out-1: phase k % s, from k // s."""
    s = len(starts)
    return [slice(starts[k % s] + k // s, starts[k % s] + k // s + t_out) for k in range(taps)]


def conv1d_phase_major(z: torch.Tensor, starts: list[int], weight: torch.Tensor) -> torch.Tensor:
    """Conv1d (stride = len(starts), no padding, no bias) of a (B, C, T) input whose frames are stored
    phase-major (see `phase_major_frames`), returning channels-last (B, T', O) in natural frame order."""
    stride, k = len(starts), weight.shape[2]
    t_out = (z.shape[2] - k) // stride + 1
    w_taps = weight.permute(2, 1, 0).contiguous()
    return _PhaseConv1d.apply(z.contiguous(), w_taps, tuple(starts), t_out)



def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout with the keep mask drawn by thresholding uniform noise, which on CPU costs about
    half of F.dropout's Bernoulli sampling. Same distribution (keep with probability 1 - p, scale 1/(1-p));
    a different random stream."""
    if not training or p == 0:
        return x
    if not cpu_kernels_apply(x):
        return F.dropout(x, p, training)
    if p >= 1:
        return x * 0
    with torch.no_grad():
        keep = torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))
    return x * keep
