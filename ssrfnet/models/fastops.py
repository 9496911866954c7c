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
    """The custom kernels here are for fp32 (and fp64) CPU tensors; on GPUs and under autocast the framework's
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


class _SumOfGEMMs(torch.autograd.Function):
    """out[i] = sum over tap groups (tap, n) of operand(x[i], tap, n) @ w_taps[tap:tap+n] (+ bias).

    `operand` returns a strided (T', n*C) view of utterance i that BLAS reads in place; applied to the
    input gradient buffer it gives the view the backward pass accumulates into, so no im2col copy is made
    in either direction.
    """

    @staticmethod
    def forward(ctx, x, w_taps, bias, operand, groups, t_out):
        o = w_taps.shape[2]
        out = x.new_empty(x.shape[0], t_out, o)
        for xi, yi in zip(x, out):
            for j, (tap, n) in enumerate(groups):
                xs, w = operand(xi, tap, n), w_taps[tap: tap + n].view(-1, o)
                if j > 0:
                    yi.addmm_(xs, w)
                elif bias is None:
                    torch.mm(xs, w, out=yi)
                else:
                    torch.addmm(bias, xs, w, out=yi)
        ctx.save_for_backward(x, w_taps)
        ctx.operand, ctx.groups, ctx.has_bias = operand, groups, bias is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, w_taps = ctx.saved_tensors
        o = w_taps.shape[2]
        grad = grad.contiguous()
        need_x, need_w, need_bias = ctx.needs_input_grad[:3]
        grad_x = torch.zeros_like(x) if need_x else None
        grad_w = torch.zeros_like(w_taps) if need_w else None
        for i, gi in enumerate(grad):
            for tap, n in ctx.groups:
                w = w_taps[tap: tap + n].view(-1, o)
                if need_w:
                    grad_w[tap: tap + n].view(-1, o).addmm_(ctx.operand(x[i], tap, n).t(), gi)
                if need_x:
                    ctx.operand(grad_x[i], tap, n).addmm_(gi, w.t())
        grad_bias = grad.sum((0, 1)) if ctx.has_bias and need_bias else None
        return grad_x, grad_w, grad_bias, None, None, None


def conv1d_channels_last(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                         stride: int = 1, padding: int = 0) -> torch.Tensor:
    """F.conv1d for (B, T, C) input and (O, C, K) weight (groups=1), returning (B, T', O)."""
    if padding:
        x = F.pad(x, (0, 0, padding, padding))
    k = weight.shape[2]
    t_out = (x.shape[1] - k) // stride + 1
    w_taps = weight.permute(2, 1, 0).contiguous()  # (K, C, O): each tap a ready (C, O) GEMM operand

    def operand(xi: torch.Tensor, tap: int, n: int) -> torch.Tensor:
        return _tap_rows(xi, tap, n, stride, t_out)

    return _SumOfGEMMs.apply(x.contiguous(), w_taps, bias, operand, _tap_groups(k, stride), t_out)


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


def _phase_columns(starts: list[int], taps: int, t_out: int) -> list[slice]:
    """Columns of a phase-major input that tap k reads for outputs 0..t_out-1: phase k % s, from k // s."""
    s = len(starts)
    return [slice(starts[k % s] + k // s, starts[k % s] + k // s + t_out) for k in range(taps)]


def conv1d_phase_major(z: torch.Tensor, starts: list[int], weight: torch.Tensor) -> torch.Tensor:
    """Conv1d (stride = len(starts), no padding, no bias) of a (B, C, T) input whose frames are stored
    phase-major (see `phase_major_frames`), returning channels-last (B, T', O) in natural frame order."""
    stride, k = len(starts), weight.shape[2]
    t_out = (z.shape[2] - k) // stride + 1
    w_taps = weight.permute(2, 1, 0).contiguous()
    cols = _phase_columns(starts, k, t_out)

    def operand(zi: torch.Tensor, tap: int, n: int) -> torch.Tensor:
        return zi[:, cols[tap]].t()  # (T', C): a column-major BLAS operand

    groups = [(tap, 1) for tap in range(k)]
    return _SumOfGEMMs.apply(z.contiguous(), w_taps, None, operand, groups, t_out)


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
