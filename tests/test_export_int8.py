"""int8 export: model.int8.onnx beside model.onnx, its report fields, its EER cost on trial lists."""

import json

import numpy as np
import pytest
import torch

from ssrfnet.audio import write_wav
from ssrfnet.errors import ConfError
from ssrfnet.export import ExportError, export_markdown, export_model
from ssrfnet.export.cost import int8_cost, parse_eval_sets, record_int8_cost
from ssrfnet.export.quantize import weight_matmuls
from ssrfnet.models import build_model

from helpers import TINY_MODEL

TINY_SSRFNET = {"model_type": "ssrfnet", **TINY_MODEL}


pytestmark = pytest.mark.usefixtures("one_thread")


def speaker_wave(f0: float, seed: int, seconds: float = 3.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * rng.standard_normal() * np.sin(2 * np.pi * t))) / 16000
    x = sum(np.sin(k * phase) * rng.uniform(0.2, 1) / k for k in range(1, 10))
    return (0.1 * x + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


def make_data_dir(root):
    """4 'speakers' x 2 utterances and every pair of them as trials."""
    root.mkdir()
    utts = [(f"spk{s}-utt{u}", 100.0 + 45 * s, 10 * s + u) for s in range(4) for u in range(2)]
    lines = []
    for utt, f0, seed in utts:
        write_wav(root / f"{utt}.wav", speaker_wave(f0, seed))
        lines.append(f"{utt} {root / f'{utt}.wav'}\n")
    (root / "wav.scp").write_text("".join(lines))
    trials = [f"{a} {b} {'target' if a[:4] == b[:4] else 'nontarget'}\n"
              for i, (a, _, _) in enumerate(utts) for (b, _, _) in utts[i + 1:]]
    (root / "trials").write_text("".join(trials))
    return root


def test_int8_export_report_and_eer_cost(tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY_SSRFNET).eval()
    out = tmp_path / "export"
    report = export_model(model, out, config=TINY_SSRFNET, runs=1, batch_sizes=(1,), quantize="int8")
    assert (out / "model.onnx").is_file() and (out / "model.int8.onnx").is_file()
    assert not list(out.glob(".*"))  # no temporary GEMM-form graph left behind
    info = report["int8"]
    assert {"quantized_nodes", "per_channel", "bytes", "cosine_to_fp32_mean", "cosine_to_fp32_min",
            "max_abs_diff_vs_pytorch"} <= set(info)
    assert info["cosine_to_fp32_min"] >= 0.99
    assert all(d <= 1e-4 for name, d in report["parity"].items() if name.startswith("onnx_gemm_form/"))
    assert info["bytes"] < report["onnx_bytes"]  # int8 weights

    data = make_data_dir(tmp_path / "dev")
    sets = parse_eval_sets([f"{data}:{data / 'trials'}"])
    assert sets == [(data, [data / "trials"])]
    with pytest.raises(ConfError, match="--int8-eval: .* must be DATA_DIR:TRIALS"):
        parse_eval_sets([str(data)])
    with pytest.raises(ConfError, match="nope.kaldi not found"):
        parse_eval_sets([f"{data}:{data / 'nope.kaldi'}"])
    cost = int8_cost(out, sets, num_crops=2, runs=1)
    row = cost["eval"]["lists"]["trials"]
    assert row["num_trials"] == 28 and row["num_utterances"] == 8 and row["protocol"] == "crops"
    assert 0 <= row["eer_fp32"] <= 100 and 0 <= row["eer_int8"] <= 100
    assert row["cosine_min"] >= 0.99 and np.isfinite(row["eer_relative_change"])
    assert cost["speed"]["fp32_ms"] > 0 and cost["speed"]["int8_ms"] > 0
    merged = record_int8_cost(out, cost)
    assert json.loads((out / "export.json").read_text())["int8"]["eval"]["lists"]["trials"] == row
    text = export_markdown(merged)
    assert "| trials | crops |" in text and "int8 (`model.int8.onnx`" in text and "alternating runs" in text

    export_model(model, out, config=TINY_SSRFNET, runs=1, batch_sizes=(1,), formats=("onnx",))
    assert not (out / "model.int8.onnx").exists()  # a stale int8 graph never sits beside a new model.onnx
    with pytest.raises(ExportError, match="model.int8.onnx: not found"):
        int8_cost(out, [])


def test_quantize_choices_and_selected_nodes(tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY_SSRFNET).eval()
    with pytest.raises(ExportError, match="quantize must be one of"):
        export_model(model, tmp_path, quantize="int4")
    (tmp_path / "export.json").write_text("{}")
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_model(model, tmp_path, tolerance=-1.0, runs=1, formats=("onnx",))
    assert (tmp_path / "export.json").read_text() == "{}"  # a failed export leaves the earlier one as it was
    assert not (tmp_path / "model.onnx").exists()
    import onnx

    export_model(model, tmp_path, runs=1, batch_sizes=(1,), formats=("onnx",))
    graph = onnx.load(str(tmp_path / "model.onnx"))
    selected = set(weight_matmuls(graph))
    matmuls = [n for n in graph.graph.node if n.op_type == "MatMul"]
    assert selected and len(selected) < len(matmuls)  # activation x activation and float64 DFT products stay
    assert "onnx_gemm_form/real_b3" not in json.loads((tmp_path / "export.json").read_text())["parity"]
