"""Stage 6: TorchScript and ONNX export with parity checks, optional int8 quantization, onnxruntime timing.

- `model.pt`: TorchScript (torch.jit.trace on a (2, crop) waveform batch), `torch.jit.load`-able without
  this package.
- `model.onnx`: input `wav` (batch, samples) float32 16 kHz, output `embedding` (batch, embed_dim);
  the batch axis is dynamic, and the samples axis too when the model accepts any length
  (`crop_samples` None). The faithful SV-Mixer/SSRFNet takes 3 s crops (48000 samples): score long
  files with the 10-crop protocol of stage 4. Its metadata_props say which model it is
  (`ssrfnet.export.metadata`), and `export.json` repeats that identity.
- `model.int8.onnx` (with `quantize='int8'`): dynamic int8 quantization (`ssrfnet.export.quantize`); its
  cosine to the fp32 embeddings and its latency go to the report (`int8`), and `ssrfnet.export.cost` adds
  the EER change on trial lists.
- Parity: TorchScript and ONNX (onnxruntime CPU) against eager PyTorch on random and real(-ish)
  input; the largest absolute difference must stay below the tolerance (default 1e-4), else
  ExportError.
- Timing: median onnxruntime CPU latency at batch 1 and batch 8 (and eager PyTorch, same run).
Results go to `<out>/export.json` and an "Export" section of the experiment README.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ssrfnet.audio import SAMPLE_RATE
from ssrfnet.export.errors import ExportError
from ssrfnet.export.graph import exportable, realish_audio
from ssrfnet.export.metadata import model_identity, write_metadata
from ssrfnet.fileio import atomic_write_json, staged_dir, user_write_errors
from ssrfnet.timing import median_seconds

QUANTIZE_CHOICES = (None, "none", "int8")


def _max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def row_cosines(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def parity_inputs(length: int, fixed: bool, real_audio) -> tuple[torch.Tensor, dict]:
    """(tracing example, {name: input batch}) for the parity checks."""
    gen = torch.Generator().manual_seed(0)
    example = 0.1 * torch.randn(2, length, generator=gen)
    if real_audio is None:
        real_audio = realish_audio(length * 2)
    real = np.resize(np.asarray(real_audio, dtype=np.float32), length * 3)  # wrap-pads short audio
    inputs = {
        "random_b3": 0.1 * torch.randn(3, length, generator=gen),
        "real_b3": torch.from_numpy(np.stack([real[i * length : (i + 1) * length] for i in range(3)])),
    }
    if not fixed:
        inputs["random_b2_len1.7x"] = 0.1 * torch.randn(2, int(1.7 * length), generator=gen)
    return example, inputs


def check_parity(report: dict, fmt: str, run, inputs: dict, reference: dict, tolerance: float) -> None:
    for name, x in inputs.items():
        got = run(x)
        if got.shape != reference[name].shape:
            raise ExportError(f"{fmt}: output shape {got.shape} for {name}, eager {reference[name].shape}")
        diff = _max_abs(got, reference[name])
        report["parity"][f"{fmt}/{name}"] = diff
        print(f"export: {fmt} vs PyTorch, {name} {tuple(x.shape)}: max abs diff {diff:.3g}", flush=True)
        if not diff <= tolerance:
            raise ExportError(
                f"{fmt} export differs from PyTorch by {diff:.3g} on {name} input (tolerance {tolerance:g})")


def export_torchscript(target: torch.nn.Module, example: torch.Tensor, out_dir: Path):
    """Trace `target` to <out>/model.pt (atomically); returns (path, a function running the loaded trace)."""
    ts_path = out_dir / "model.pt"
    with torch.no_grad():
        traced = torch.jit.trace(target, (example,), check_trace=False)
    tmp = out_dir / f".model.pt.tmp{os.getpid()}"
    torch.jit.save(traced, str(tmp))
    os.replace(tmp, ts_path)
    loaded = torch.jit.load(str(ts_path))

    def run(x):
        with torch.inference_mode():
            return loaded(x).numpy()

    return ts_path, run


def export_onnx(target: torch.nn.Module, example: torch.Tensor, out_dir: Path, opset: int, fixed: bool,
                identity: dict, name: str = "model.onnx") -> Path:
    """torch.onnx export to <out>/<name> with the identity metadata, checked, renamed when complete."""
    import onnx

    onnx_path = out_dir / name
    tmp = out_dir / f".{name}.tmp{os.getpid()}"
    dynamic = {"wav": {0: "batch"}, "embedding": {0: "batch"}}
    if not fixed:
        dynamic["wav"][1] = "samples"
    try:
        with torch.no_grad():
            torch.onnx.export(target, (example,), str(tmp), input_names=["wav"], output_names=["embedding"],
                              dynamic_axes=dynamic, opset_version=opset, dynamo=False)
        onnx.checker.check_model(str(tmp))
        write_metadata(tmp, identity)
        os.replace(tmp, onnx_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return onnx_path


def onnx_runner(path: Path):
    from ssrfnet.export.runtime import OnnxEmbedder

    embedder = OnnxEmbedder(path)
    return embedder, (lambda x: embedder.run(x.numpy()))


def time_backends(report: dict, model, runners: dict, real: np.ndarray, length: int, runs: int,
                  batch_sizes) -> None:
    """Median latency of eager PyTorch and each onnxruntime runner at each batch size, into the report."""
    for b in batch_sizes:
        x = torch.from_numpy(np.resize(real, (b, length)).astype(np.float32))

        def eager(x=x):
            with torch.inference_mode():
                model(x)

        for name, run in runners.items():
            report["timing_ms"][f"{name}_b{b}"] = 1000 * median_seconds(lambda x=x, run=run: run(x), runs)
        report["timing_ms"][f"pytorch_b{b}"] = 1000 * median_seconds(eager, runs)
        print(f"export: batch {b} x {length / SAMPLE_RATE:g} s: " + ", ".join(
            f"{name} {report['timing_ms'][f'{name}_b{b}']:.1f} ms" for name in [*runners, "pytorch"])
            + f" (median of {runs})", flush=True)
    report["timing_threads"] = torch.get_num_threads()
    report["timing_runs"] = runs


def add_int8(report: dict, model: torch.nn.Module, example: torch.Tensor, out_dir: Path, opset: int,
             run_fp32, inputs: dict, reference: dict, per_channel: bool = True):
    """model.int8.onnx: the GEMM form of the graph (`exportable(gemm=True)`, fp32 parity-checked like
    model.onnx), quantized; cosine to the fp32 graph and difference to PyTorch go into the report."""
    from ssrfnet.export.quantize import quantize_int8

    fixed = getattr(model, "crop_samples", None) is not None
    gemm_name = ".model.gemm.onnx"
    gemm_path = export_onnx(exportable(model, gemm=True), example, out_dir, opset, fixed, report["identity"],
                            name=gemm_name)
    try:
        _, run_gemm = onnx_runner(gemm_path)
        check_parity(report, "onnx_gemm_form", run_gemm, inputs, reference, report["tolerance"])
        info = quantize_int8(gemm_path, out_dir / "model.int8.onnx", per_channel=per_channel)
    finally:
        gemm_path.unlink()
    _, run_int8 = onnx_runner(out_dir / "model.int8.onnx")
    cosines, diffs = [], []
    for name, x in inputs.items():
        got = run_int8(x)
        cosines.append(row_cosines(got, run_fp32(x)))
        diffs.append(_max_abs(got, reference[name]))
    cos = np.concatenate(cosines)
    info.update(cosine_to_fp32_mean=float(cos.mean()), cosine_to_fp32_min=float(cos.min()),
                max_abs_diff_vs_pytorch=max(diffs), cosine_inputs=sorted(inputs))
    report["int8"] = info
    print(f"export: int8 vs fp32 onnx on the parity inputs: cosine mean {info['cosine_to_fp32_mean']:.5f}, "
          f"min {info['cosine_to_fp32_min']:.5f} ({info['quantized_nodes']} MatMuls quantized)", flush=True)
    return run_int8


EXPORT_FILES = ("model.pt", "model.onnx", "model.int8.onnx", "export.json", "threshold.json")


def check_export_dir(out_dir: str | os.PathLike) -> None:
    """An export replaces its directory as a whole: refuse one that holds anything but an earlier export."""
    out_dir = Path(out_dir)
    if out_dir.is_file():
        raise ExportError(f"{out_dir}: is a file; the export needs a directory")
    if out_dir.is_dir():
        foreign = sorted(p.name for p in out_dir.iterdir()
                         if p.name not in EXPORT_FILES and not p.name.startswith("."))
        if foreign:
            raise ExportError(f"{out_dir}: holds files that are not part of an export "
                              f"({' '.join(foreign[:5])}); the export replaces the whole directory: give an "
                              "empty or export-only --out-dir")


def export_model(model: torch.nn.Module, out_dir: str | os.PathLike, **options) -> dict:
    """Export `model` to `<out>/model.pt`, `<out>/model.onnx` (+ `model.int8.onnx` with quantize='int8'),
    check parity, time onnxruntime (see `write_export` for the options).

    The files are one set: they are written into a hidden sibling and replace `out_dir` only when every check
    passed (`ssrfnet.fileio.staged_dir`), so a failing export leaves the previous complete one byte-identical
    (and a failing first export leaves nothing)."""
    check_export_dir(out_dir)
    with staged_dir(out_dir) as stage:
        return write_export(model, stage.path, named_as=Path(out_dir), **options)


def write_export(
    model: torch.nn.Module,
    out_dir: str | os.PathLike,
    *,
    named_as: str | os.PathLike | None = None,
    config: dict | None = None,
    opset: int = 17,
    tolerance: float = 1e-4,
    real_audio: np.ndarray | None = None,
    runs: int = 5,
    batch_sizes=(1, 8),
    formats=("torchscript", "onnx"),
    quantize: str | None = None,
    threshold_file: str | os.PathLike | None = None,
    int8_per_channel: bool = True,
) -> dict:
    """The export's files written into `out_dir` as they are (the staging directory of export_model; the
    report names them under `named_as`, their final directory). `config`: the model config (its digest goes
    into the ONNX metadata); `threshold_file`: stage 5's threshold.json, copied into the export so that it
    carries its threshold; `int8_per_channel`: int8 weight scales per output channel (else per tensor)."""
    if quantize not in QUANTIZE_CHOICES:
        raise ExportError(f"quantize must be one of none, int8, got {quantize!r}")
    if quantize == "int8" and "onnx" not in formats:
        raise ExportError("quantize='int8' quantizes the ONNX graph: include 'onnx' in formats")
    out_dir = Path(out_dir)
    final = Path(named_as) if named_as is not None else out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    fixed = getattr(model, "crop_samples", None)
    length = int(fixed) if fixed is not None else 3 * SAMPLE_RATE
    example, inputs = parity_inputs(length, fixed is not None, real_audio)
    with torch.inference_mode():
        reference = {name: model(x).numpy() for name, x in inputs.items()}
    identity = model_identity(model, config)
    report: dict = {"embed_dim": int(model.embed_dim), "input_samples": fixed,
                    "dynamic_length": fixed is None, "opset": opset, "tolerance": tolerance,
                    "identity": identity, "parity": {}, "timing_ms": {}, "files": {}}
    target = exportable(model, gemm=False)  # ONNX Runtime runs the plain convolutions fastest in fp32
    if "torchscript" in formats:
        _, run_ts = export_torchscript(target, example, out_dir)
        check_parity(report, "torchscript", run_ts, inputs, reference, tolerance)
        report["files"]["torchscript"] = str(final / "model.pt")
    if "onnx" in formats:
        onnx_path = export_onnx(target, example, out_dir, opset, fixed is not None, identity)
        _, run_onnx = onnx_runner(onnx_path)
        check_parity(report, "onnx", run_onnx, inputs, reference, tolerance)
        report["files"]["onnx"] = str(final / "model.onnx")
        report["onnx_bytes"] = onnx_path.stat().st_size
        runners = {"onnxruntime": run_onnx}
        if quantize == "int8":
            runners["onnxruntime_int8"] = add_int8(report, model, example, out_dir, opset, run_onnx, inputs,
                                                   reference, per_channel=int8_per_channel)
            report["files"]["onnx_int8"] = str(final / "model.int8.onnx")
        real = np.resize(inputs["real_b3"].numpy().reshape(-1), length * 3)
        time_backends(report, model, runners, real, length, runs, batch_sizes)
    if threshold_file is not None and Path(threshold_file).is_file():
        with user_write_errors(out_dir / "threshold.json"):
            shutil.copyfile(threshold_file, out_dir / "threshold.json")
        report["threshold_file"] = str(final / "threshold.json")
    atomic_write_json(out_dir / "export.json", report, indent=2)
    return report


def int8_markdown(info: dict) -> list[str]:
    lines = ["", f"int8 (`model.int8.onnx`, dynamic quantization of {info['quantized_nodes']} MatMuls, "
                 f"{'per-channel' if info['per_channel'] else 'per-tensor'} weights, "
                 f"{info['bytes'] / 2**20:.1f} MiB): cosine to the fp32 embeddings mean "
                 f"{info['cosine_to_fp32_mean']:.5f}, "
                 f"min {info['cosine_to_fp32_min']:.5f} on the parity inputs."]
    if info.get("eval"):
        lines += ["", "| trials | protocol | fp32 EER % | int8 EER % | relative change "
                      "| cosine to fp32 (mean, min) |",
                  "|---|---|---|---|---|---|"]
        for name, row in info["eval"]["lists"].items():
            lines.append(f"| {name} | {row['protocol']} | {row['eer_fp32']:.3f} | {row['eer_int8']:.3f} | "
                         f"{100 * row['eer_relative_change']:+.1f}% | {row['cosine_mean']:.5f}, "
                         f"{row['cosine_min']:.5f} |")
    speed = info.get("speed")
    if speed:
        lines += ["", f"Speed, batch {speed['batch']} x {speed['seconds']:g} s, {speed['threads']} threads, "
                      f"median of {speed['runs']} alternating runs: fp32 {speed['fp32_ms']:.1f} ms, int8 "
                      f"{speed['int8_ms']:.1f} ms (x{speed['fp32_ms'] / speed['int8_ms']:.2f})."]
    return lines


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
    if report.get("int8"):
        lines += int8_markdown(report["int8"])
    return "\n".join(lines) + "\n"
