"""Stage 6: TorchScript and ONNX export with parity checks and an onnxruntime CPU timing.

- `model.pt`: TorchScript (torch.jit.trace on a (2, crop) waveform batch), `torch.jit.load`-able without
  this package.
- `model.onnx`: input `wav` (batch, samples) float32 16 kHz, output `embedding` (batch, embed_dim);
  the batch axis is dynamic, and the samples axis too when the model accepts any length
  (`crop_samples` None). The faithful SV-Mixer/SSRFNet takes 3 s crops (48000 samples): score long
  files with the 10-crop protocol of stage 4.
- Parity: TorchScript and ONNX (onnxruntime CPU) against eager PyTorch on random and real(-ish)
  input; the largest absolute difference must stay below the tolerance (default 1e-4), else
  ExportError.
- Timing: median onnxruntime CPU latency at batch 1 and batch 8 (and eager PyTorch, same run).
Results go to `<out>/export.json` and an "Export" section of the experiment README.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import torch

from ssrfnet.audio import SAMPLE_RATE, read_audio
from ssrfnet.errors import SSRFNetError
from ssrfnet.fileio import atomic_write_text
from ssrfnet.kaldi.table import read_table
from ssrfnet.models import load_model
from ssrfnet.models.fast import use_plain_ops
from ssrfnet.models.features import LogMel
from ssrfnet.scoring.report import results_markdown, update_readme
from ssrfnet.timing import median_seconds


class ExportError(SSRFNetError, RuntimeError):
    pass


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


def exportable(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of `model` that the exporters can trace, computing the same maths.

    Every log-mel front end becomes DftLogMel, and the SV-Mixer runs its plain ops: its optimised CPU
    kernels (unfold taps, channels-last layouts) have no ONNX symbolic, and ONNX Runtime fuses on its own.
    """
    model = use_plain_ops(copy.deepcopy(model))
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LogMel):
                setattr(module, child_name, DftLogMel(child))
    return model


def _max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def export_model(
    model: torch.nn.Module,
    out_dir: str | os.PathLike,
    *,
    opset: int = 17,
    tolerance: float = 1e-4,
    real_audio: np.ndarray | None = None,
    runs: int = 5,
    batch_sizes=(1, 8),
    formats=("torchscript", "onnx"),
) -> dict:
    """Export `model` to `<out>/model.pt` and `<out>/model.onnx`, check parity, time onnxruntime."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    fixed = getattr(model, "crop_samples", None)
    length = int(fixed) if fixed is not None else 3 * SAMPLE_RATE
    embed_dim = int(model.embed_dim)
    gen = torch.Generator().manual_seed(0)
    example = 0.1 * torch.randn(2, length, generator=gen)
    if real_audio is None:
        real_audio = realish_audio(length * 2)
    real = np.resize(np.asarray(real_audio, dtype=np.float32), length * 3)  # wrap-pads short audio
    inputs = {
        "random_b3": 0.1 * torch.randn(3, length, generator=gen),
        "real_b3": torch.from_numpy(np.stack([real[i * length : (i + 1) * length] for i in range(3)])),
    }
    if fixed is None:
        inputs["random_b2_len1.7x"] = 0.1 * torch.randn(2, int(1.7 * length), generator=gen)
    with torch.inference_mode():
        reference = {name: model(x).numpy() for name, x in inputs.items()}
    report: dict = {
        "embed_dim": embed_dim,
        "input_samples": fixed,
        "dynamic_length": fixed is None,
        "opset": opset,
        "tolerance": tolerance,
        "parity": {},
        "timing_ms": {},
        "files": {},
    }

    def check(fmt: str, run) -> None:
        for name, x in inputs.items():
            got = run(x)
            if got.shape != reference[name].shape:
                raise ExportError(
                    f"{fmt}: output shape {got.shape} for {name}, eager {reference[name].shape}"
                )
            diff = _max_abs(got, reference[name])
            report["parity"][f"{fmt}/{name}"] = diff
            print(f"export: {fmt} vs PyTorch, {name} {tuple(x.shape)}: max abs diff {diff:.3g}", flush=True)
            if not diff <= tolerance:
                raise ExportError(
                    f"{fmt} export differs from PyTorch by {diff:.3g} on {name} input "
                    f"(tolerance {tolerance:g})"
                )

    target = exportable(model)
    if "torchscript" in formats:
        ts_path = out_dir / "model.pt"
        with torch.no_grad():
            traced = torch.jit.trace(target, (example,), check_trace=False)
        tmp = out_dir / f".model.pt.tmp{os.getpid()}"
        torch.jit.save(traced, str(tmp))
        os.replace(tmp, ts_path)
        loaded = torch.jit.load(str(ts_path))

        def run_ts(x):
            with torch.inference_mode():
                return loaded(x).numpy()

        check("torchscript", run_ts)
        report["files"]["torchscript"] = str(ts_path)

    if "onnx" in formats:
        import onnx
        import onnxruntime as ort

        onnx_path = out_dir / "model.onnx"
        tmp = out_dir / f".model.onnx.tmp{os.getpid()}"
        dynamic = {"wav": {0: "batch"}, "embedding": {0: "batch"}}
        if fixed is None:
            dynamic["wav"][1] = "samples"
        with torch.no_grad():
            torch.onnx.export(
                target, (example,), str(tmp), input_names=["wav"], output_names=["embedding"],
                dynamic_axes=dynamic, opset_version=opset, dynamo=False,
            )
        onnx.checker.check_model(str(tmp))
        os.replace(tmp, onnx_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

        def run_onnx(x):
            return session.run(["embedding"], {"wav": np.ascontiguousarray(x.numpy())})[0]

        check("onnx", run_onnx)
        report["files"]["onnx"] = str(onnx_path)
        report["onnx_bytes"] = onnx_path.stat().st_size
        for b in batch_sizes:
            x = torch.from_numpy(np.resize(real, (b, length)).astype(np.float32))
            feed = {"wav": x.numpy()}
            report["timing_ms"][f"onnxruntime_b{b}"] = 1000 * median_seconds(
                lambda feed=feed: session.run(["embedding"], feed), runs)

            def eager(x=x):
                with torch.inference_mode():
                    model(x)

            report["timing_ms"][f"pytorch_b{b}"] = 1000 * median_seconds(eager, runs)
            print(
                f"export: batch {b} x {length / SAMPLE_RATE:g} s: onnxruntime "
                f"{report['timing_ms'][f'onnxruntime_b{b}']:.1f} ms, PyTorch "
                f"{report['timing_ms'][f'pytorch_b{b}']:.1f} ms (median of {runs})",
                flush=True,
            )
        report["timing_threads"] = torch.get_num_threads()
        report["timing_runs"] = runs
    atomic_write_text(out_dir / "export.json", json.dumps(report, indent=2) + "\n")
    return report


def export_markdown(report: dict) -> str:
    length = report["input_samples"]
    shape = "(batch, samples), any length" if report["dynamic_length"] else f"(batch, {length})"
    lines = [
        f"TorchScript `{report['files'].get('torchscript', 'n/a')}`, "
        f"ONNX `{report['files'].get('onnx', 'n/a')}` "
        f"(opset {report['opset']}); input `wav` float32 16 kHz {shape}, output `embedding` "
        f"(batch, {report['embed_dim']}).",
        "",
        "| check | max abs diff vs PyTorch |",
        "|---|---|",
    ]
    lines += [f"| {name} | {diff:.2e} |" for name, diff in report["parity"].items()]
    if report["timing_ms"]:
        lines += ["", f"CPU latency, median of {report.get('timing_runs')} runs, "
                      f"{report.get('timing_threads')} threads:", "",
                  "| runtime | batch | ms |", "|---|---|---|"]
        for key, ms in report["timing_ms"].items():
            runtime, batch = key.rsplit("_b", 1)
            lines.append(f"| {runtime} | {batch} | {ms:.1f} |")
    return "\n".join(lines) + "\n"


def parity_audio(data: str | None = None, wav: str | None = None) -> np.ndarray | None:
    """Real audio for the parity check: a wav.scp entry/path, or the first entry of a data dir's wav.scp."""
    if wav:
        return read_audio(wav, where=wav)
    if data:
        key, entry = read_table(Path(data) / "wav.scp")[0]
        return read_audio(entry, where=f"{data}/wav.scp:{key}")
    return None


def export_experiment(model_path: str, exp_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                      real_audio: np.ndarray | None = None, **export_options) -> dict:
    """Stage 6: export `model_path` into `out_dir` and regenerate the Results (from results.json, stage 5)
    and Export sections of <exp_dir>/README.md."""
    exp_dir = Path(exp_dir)
    report = export_model(load_model(model_path), out_dir, real_audio=real_audio, **export_options)
    report["model"] = model_path
    results = exp_dir / "results.json"
    if results.is_file():
        update_readme(exp_dir / "README.md", "results", "Results",
                      results_markdown(json.loads(results.read_text(encoding="utf-8"))))
    update_readme(exp_dir / "README.md", "export", "Export", export_markdown(report))
    return report
