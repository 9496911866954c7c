"""Stage 6 export: TorchScript and ONNX parity against PyTorch, README sections, CLI."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from ssrfnet.export import ExportError, export_markdown, export_model

pytestmark = pytest.mark.usefixtures("one_thread")


class FixedStandIn(nn.Module):
    def __init__(self, crop_samples=4000, embed_dim=12):
        super().__init__()
        torch.manual_seed(0)
        self.embed_dim, self.crop_samples = embed_dim, crop_samples
        self.conv = nn.Conv1d(1, 8, 50, stride=25)
        self.proj = nn.Linear(16, embed_dim)

    def forward(self, wav):
        h = torch.relu(self.conv(wav.unsqueeze(1)))
        return self.proj(torch.cat([h.mean(dim=2), h.std(dim=2)], dim=1))


def test_fixed_length_export_parity(tmp_path):
    report = export_model(FixedStandIn(), tmp_path, runs=1)
    assert set(report["files"]) == {"torchscript", "onnx"}
    assert all(d <= 1e-4 for d in report["parity"].values())
    assert {"onnxruntime_b1", "onnxruntime_b8"} <= set(report["timing_ms"])
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((5, 4000)).astype(np.float32)  # dynamic batch
    with torch.no_grad():
        want = FixedStandIn()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"wav": x})[0], want, atol=1e-5)
    ts = torch.jit.load(str(tmp_path / "model.pt"))
    np.testing.assert_allclose(ts(torch.from_numpy(x)).detach().numpy(), want, atol=1e-5)
    assert json.loads((tmp_path / "export.json").read_text())["embed_dim"] == 12
    assert "| onnx/real_b3 |" in export_markdown(report)


def test_parity_failure_is_an_error(tmp_path):
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_model(FixedStandIn(), tmp_path, tolerance=-1.0, runs=1, formats=("torchscript",))


def test_export_cli_small_real_model(tmp_path, capsys):
    models = pytest.importorskip("ssrfnet.models")
    from ssrfnet.bin import export as export_cli

    cfg = dict(model_type="redimnet", embed_dim=192, redimnet_freq=16, redimnet_channels=8,
               redimnet_stages="1:1:1:4,2:1:1:4")
    torch.manual_seed(0)
    model = models.build_model(cfg).eval()
    exp = tmp_path / "exp"
    exp.mkdir()
    models.save_model(model, cfg, exp / "final.pt")
    (exp / "README.md").write_text("# exp\n\nhand-written notes\n")
    results = {"model_path": "final.pt", "p_targets": [0.01], "lists": {
        "vox1_O": {"crops": {"eer": 1.5, "min_dcf_0.01": 0.1, "num_trials": 10}}}}
    (exp / "results.json").write_text(json.dumps(results))
    argv = ["--model", str(exp / "final.pt"), "--export-timing-runs", "1", "--export-quantize", "none"]
    assert export_cli.main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "onnx vs PyTorch, random_b2_len1.7x" in out  # any-length model: dynamic samples axis
    readme = (exp / "README.md").read_text()
    assert "hand-written notes" in readme and "## Export" in readme and "| vox1_O |" in readme
    session = ort.InferenceSession(str(exp / "export" / "model.onnx"), providers=["CPUExecutionProvider"])
    x = 0.1 * np.random.default_rng(1).standard_normal((2, 20000)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"wav": x})[0], want, atol=1e-4)


def test_ssrfnet_with_fast_ops_exports_with_parity(tmp_path):
    """The SV-Mixer's optimised CPU kernels have no ONNX symbolic; export traces the plain ops instead."""
    models = pytest.importorskip("ssrfnet.models")
    from ssrfnet.export import export_model

    cfg = dict(model_type="ssrfnet", svmixer_layers=4, svmixer_hidden=128, svmixer_cnn_channels=32,
               redimnet_freq=16, redimnet_channels=8, redimnet_stages="1:1:1:16,2:1:1:8", fast_ops=True)
    torch.manual_seed(0)
    model = models.build_model(cfg).eval()
    report = export_model(model, tmp_path / "export", runs=1, batch_sizes=(1,))
    assert (tmp_path / "export" / "model.onnx").is_file()
    assert all(getattr(m, "fast", True) for m in model.modules()), "the caller's model keeps its fast ops"
    assert report
