"""The fast-path CPU kernels: exact conv arithmetic, gradients, and fast/plain parity of a whole model."""

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from ssrfnet.models import build_model, use_fast_kernels, use_plain_ops
from ssrfnet.models.fastops import conv1d_channels_last, conv1d_phase_major, phase_major_frames

from helpers import TINY_MODEL

TINY = {**TINY_MODEL, "svmixer_layers": 4}


@pytest.mark.parametrize("t,c,o,k,stride,padding,bias", [
    (11, 4, 5, 3, 2, 0, False),   # CNN layers 1-4
    (12, 3, 4, 2, 2, 0, False),   # CNN layers 5-6 (one GEMM on a reshaped view)
    (23, 1, 6, 10, 5, 0, True),   # more taps than the stride: two tap groups
    (12, 3, 4, 5, 1, 2, True),    # stride 1, padding and bias
    (9, 3, 4, 4, 1, 0, False),
])
def test_conv1d_channels_last_is_conv1d(t, c, o, k, stride, padding, bias):
    torch.manual_seed(0)
    x = torch.randn(3, t, c, dtype=torch.double, requires_grad=True)
    w = torch.randn(o, c, k, dtype=torch.double, requires_grad=True)
    b = torch.randn(o, dtype=torch.double, requires_grad=True) if bias else None
    ref = F.conv1d(x.transpose(1, 2), w, b, stride=stride, padding=padding).transpose(1, 2)
    got = conv1d_channels_last(x, w, b, stride, padding)
    assert got.shape == ref.shape
    assert (got - ref).abs().max().item() < 1e-12
    inputs = (x, w, b) if bias else (x, w)
    assert torch.autograd.gradcheck(
        lambda *a: conv1d_channels_last(a[0], a[1], a[2] if bias else None, stride, padding), inputs)


@pytest.mark.parametrize("n", [48000, 48079, 1999])
def test_phase_major_frames_and_conv(n):
    torch.manual_seed(0)
    wav = torch.randn(2, n, dtype=torch.double)
    w0 = torch.randn(6, 1, 10, dtype=torch.double)
    w1 = torch.randn(5, 6, 3, dtype=torch.double, requires_grad=True)
    natural = F.conv1d(wav.unsqueeze(1), w0, stride=5)  # (B, C, T)
    frames, starts = phase_major_frames(wav, 10, 5, 2)
    z = torch.bmm(w0.squeeze(1).expand(2, -1, -1), frames.transpose(1, 2))
    t = natural.shape[2]
    order = list(range(0, t, 2)) + list(range(1, t, 2))
    assert starts == [0, len(range(0, t, 2))]
    assert (z - natural[:, :, order]).abs().max().item() < 1e-12
    ref = F.conv1d(natural, w1, stride=2).transpose(1, 2)
    got = conv1d_phase_major(z, starts, w1)
    assert (got - ref).abs().max().item() < 1e-12
    if n < 2000:  # gradcheck costs O(input size) backward passes: short input only
        z_req = z.detach().requires_grad_()
        assert torch.autograd.gradcheck(lambda a, b: conv1d_phase_major(a, starts, b), (z_req, w1))


def test_fast_and_plain_gradients_agree():
    """Every parameter gradient of a small SSRFNet (student + PFM + backend) matches between the fast
    kernels and the plain official-style ops (eval mode: no dropout or mel noise to differ). The log-mel
    front end is fp32 by design, so this runs in fp32; the kernels alone are checked in fp64 above."""
    torch.manual_seed(3)
    model = build_model(TINY).eval()
    wav = 0.1 * torch.randn(2, 48000)
    grads = {}
    for fast in (True, False):
        model = use_fast_kernels(model) if fast else use_plain_ops(model)
        model.zero_grad()
        emb, states = model.forward_train(wav)
        (emb.pow(2).sum() + states[:, -1].sin().sum() + states[:, 3].cos().sum()).backward()
        grads[fast] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert grads[True].keys() == grads[False].keys() and len(grads[True]) > 50
    # some gradients are mathematically ~0 (biases before a normalisation): judge those on the global scale
    floor = 1e-3 * max(g.abs().max().item() for g in grads[False].values())
    for name, g in grads[False].items():
        scale = max(g.abs().max().item(), floor)
        assert (grads[True][name] - g).abs().max().item() <= 1e-4 * scale, name


def test_keep_freed_memory_applies_once_and_can_be_disabled():
    code = ("from ssrfnet.cpu_memory import keep_freed_memory as k; import platform; "
            "r = k(); assert k() is r; print(r, platform.libc_ver()[0])")
    env = {**os.environ, "SSRFNET_MALLOC_TUNING": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    applied, libc = out.stdout.split()
    assert applied == str(libc == "glibc")
    env["SSRFNET_MALLOC_TUNING"] = "0"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "False"


def test_fast_dropout_keeps_with_probability_and_scales():
    from ssrfnet.models.fastops import dropout

    torch.manual_seed(0)
    x = torch.rand(1000, 1000) + 0.5
    assert dropout(x, 0.1, training=False) is x
    xr = x.clone().requires_grad_()
    y = dropout(xr, 0.1, training=True)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.002
    assert torch.allclose(y[kept], x[kept] / 0.9)
    y.sum().backward()
    assert torch.equal(xr.grad != 0, kept)
    assert torch.allclose(xr.grad[kept], torch.full_like(x[kept], 1 / 0.9))
    assert dropout(x, 1.0, training=True).abs().sum() == 0


def test_fast_model_falls_back_to_framework_convs_under_autocast():
    """The CPU kernels only take fp32 CPU tensors outside autocast (GPU runs use the framework convs)."""
    from ssrfnet.models.fastops import cpu_kernels_apply

    assert cpu_kernels_apply(torch.zeros(1))
    assert not cpu_kernels_apply(torch.zeros(1, dtype=torch.bfloat16))
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    wav = 0.1 * torch.randn(2, 48000)
    with torch.no_grad():
        ref = model(wav)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not cpu_kernels_apply(wav)
            low = model(wav).float()
    assert low.shape == ref.shape and torch.isfinite(low).all()
    assert torch.nn.functional.cosine_similarity(low, ref).min() > 0.9


def test_fast_ops_auto_follows_the_cpu_and_explicit_values_win(monkeypatch):
    from ssrfnet.errors import ConfError
    from ssrfnet.models import fast
    from ssrfnet.models.fast import FastStage

    for capability, expected in [("AVX2", True), ("AVX512", False), ("DEFAULT", False)]:
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert fast.resolve_fast_ops("auto") is expected
        assert fast.resolve_fast_ops("true") is True and fast.resolve_fast_ops(False) is False
        model = build_model({**TINY_MODEL, "fast_ops": "auto"})
        assert any(isinstance(m, FastStage) for m in model.modules()) is expected
    with pytest.raises(ConfError, match="--fast-ops must be auto, true or false, got 'maybe'"):
        fast.resolve_fast_ops("maybe")
