"""The Python API (ssrfnet.load_model ...): inputs, crops/utt scores, thresholds, backends, bad input."""

import json
import shutil
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

import ssrfnet
from ssrfnet.audio import AudioError, MultichannelWarning
from ssrfnet.errors import CheckpointError, InputError, SSRFNetError
from ssrfnet.export import OnnxModelError, export_model
from ssrfnet.extract import EmbeddingExtractor
from ssrfnet.models import build_model, save_model

from helpers import TINY_MODEL, TINY_REDIMNET

TINY_SSRFNET = {"model_type": "ssrfnet", **TINY_MODEL}


pytestmark = pytest.mark.usefixtures("one_thread")


def voice(seconds: float, rate: int, f0: float, seed: int = 0) -> np.ndarray:
    """A harmonic source at `f0` with syllable-rate modulation (a different 'speaker' per f0)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (0.1 * x + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    """exp/final.pt (tiny fixed-length SSRFNet), scores/threshold.json, export/ with int8."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("exp")
    torch.manual_seed(0)
    model = build_model(TINY_SSRFNET).eval()
    save_model(model, TINY_SSRFNET, root / "final.pt")
    (root / "scores").mkdir()
    (root / "scores" / "threshold.json").write_text(json.dumps({"threshold": 0.9, "protocol": "crops"}))
    export_model(model, root / "export", config=TINY_SSRFNET, runs=1, batch_sizes=(1,), quantize="int8",
                 threshold_file=root / "scores" / "threshold.json")
    return root


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    files = {}
    for rate in (8000, 16000):
        for name, f0 in (("a", 110.0), ("b", 190.0)):
            path = root / f"{name}{rate // 1000}k.wav"
            sf.write(path, voice(4.0, rate, f0), rate, subtype="FLOAT")
            files[path.stem] = path
    return files


def test_path_array_tensor_agree_at_8_and_16_khz(exp, audio):
    model = ssrfnet.load_model(exp)
    assert model.backend == "torch" and model.embed_dim == 192 and model.threshold == 0.9
    for rate in (8000, 16000):
        path = audio[f"a{rate // 1000}k"]
        wave, file_rate = sf.read(path, dtype="float32")
        assert file_rate == rate
        from_path = model.embed(path)
        assert from_path.shape == (192,) and from_path.dtype == np.float32
        np.testing.assert_allclose(model.embed(wave, sr=rate), from_path, atol=1e-6)
        np.testing.assert_allclose(model.embed(torch.from_numpy(wave), sr=rate), from_path, atol=1e-6)
    with pytest.raises(AudioError, match="8000 Hz"):
        model.embed(audio["a8k"], sr=16000)


def test_embeddings_are_stage_4_embeddings(exp, audio):
    """Same crops, same batching code: the API returns what stage 4 writes."""
    model = ssrfnet.load_model(exp / "final.pt")
    wave = sf.read(audio["a16k"], dtype="float32")[0]
    extractor = EmbeddingExtractor(ssrfnet.models.load_model(exp / "final.pt"), num_crops=10)
    _, vec, crops = next(extractor.extract([("a", wave)]))
    np.testing.assert_allclose(model.embed(wave), vec, atol=1e-6)
    np.testing.assert_allclose(model.embed(wave, crops=True), crops, atol=1e-6)
    batch = model.embed_batch([audio["a16k"], audio["b16k"], audio["b8k"]])
    assert batch.shape == (3, 192)
    np.testing.assert_allclose(batch[0], vec, atol=1e-5)
    with pytest.raises(InputError, match="list of recordings"):
        model.embed_batch(audio["a16k"])


def test_similarity_protocols(exp, audio):
    model = ssrfnet.load_model(exp)
    a, b = audio["a16k"], audio["b8k"]
    ca, cb = (c / np.linalg.norm(c, axis=1, keepdims=True) for c in model.embed_batch([a, b], crops=True))
    assert model.similarity(a, b) == pytest.approx(float((ca @ cb.T).mean()), abs=1e-5)
    va, vb = model.embed_batch([a, b])
    utt = float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))
    assert model.similarity(a, b, protocol="utt") == pytest.approx(utt, abs=1e-5)
    assert model.similarity(a, a, protocol="utt") == pytest.approx(1.0, abs=1e-5)


def test_verify_uses_the_calibrated_threshold(exp, audio, tmp_path):
    model = ssrfnet.load_model(exp)
    result = model.verify(audio["a16k"], audio["b16k"])
    assert result.threshold == 0.9 and result.threshold_source.endswith("scores/threshold.json")
    assert result.same_speaker == (result.score >= 0.9)
    assert model.verify(audio["a16k"], audio["a16k"]).same_speaker
    forced = model.verify(audio["a16k"], audio["b16k"], threshold=result.score + 1e-3)
    assert not forced.same_speaker and forced.threshold_source == "threshold argument"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"threshold": -1.0, "protocol": "utt"}))
    by_file = ssrfnet.load_model(exp, threshold=other)
    assert by_file.protocol == "utt" and by_file.verify(audio["a16k"], audio["b16k"]).same_speaker
    with pytest.raises(SSRFNetError, match="missing.json: threshold file not found"):
        ssrfnet.load_model(exp, threshold=tmp_path / "missing.json")
    exported = ssrfnet.load_model(exp / "export", backend="onnxruntime")
    assert exported.threshold == 0.9  # the export directory carries stage 5's threshold.json
    lone = tmp_path / "lone.pt"
    shutil.copyfile(exp / "final.pt", lone)
    bare = ssrfnet.load_model(lone)
    assert bare.threshold is None
    with pytest.raises(SSRFNetError, match="no calibrated threshold"):
        bare.verify(audio["a16k"], audio["b16k"])


def test_channels_and_bad_audio(exp):
    model = ssrfnet.load_model(exp)
    wave = voice(3.5, 16000, 150.0)
    with pytest.warns(MultichannelWarning, match="2 channels"):
        stereo = model.embed(np.stack([wave, 0.5 * wave]))
    np.testing.assert_allclose(stereo, model.embed(0.75 * wave), atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.embed(wave[:, None])  # (samples, 1) is mono: no warning
    cases = [(np.zeros((3, 16000), np.float32), "3 channels"), (np.zeros(0, np.float32), "no samples"),
             (np.zeros((2, 2, 100), np.float32), "1-D waveform or a 2-D"),
             (np.array([0.1, np.nan] * 8000, np.float32), "NaN or Inf"),
             (np.array([0.1, np.inf] * 8000, np.float32), "NaN or Inf"), ([0.1, 0.2], "numpy array")]
    for bad, message in cases:
        with pytest.raises(AudioError, match=message):
            model.embed(bad)
    assert isinstance(AudioError("x"), SSRFNetError)


def test_bad_sources_and_options(exp, tmp_path):
    with pytest.raises(InputError, match="unknown backend 'tensorrt'"):
        ssrfnet.load_model(exp, backend="tensorrt")
    accepted = "no such model file or directory; accepted: an ssrfnet model file"
    with pytest.raises(CheckpointError, match=accepted):
        ssrfnet.load_model(tmp_path / "missing.pt")
    junk = tmp_path / "notes.txt"
    junk.write_text("not a model\n")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint.*accepted: .*export dir"):
        ssrfnet.load_model(junk)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="directory without a model; accepted"):
        ssrfnet.load_model(tmp_path / "empty")
    with pytest.raises(InputError, match="quantized=True runs model.int8.onnx"):
        ssrfnet.load_model(exp, quantized=True)
    lone = tmp_path / "lone" / "final.pt"
    lone.parent.mkdir()
    shutil.copyfile(exp / "final.pt", lone)
    with pytest.raises(CheckpointError, match="lone/export: not found; backend='onnxruntime' runs"):
        ssrfnet.load_model(lone, backend="onnxruntime")
    with pytest.raises(InputError, match="protocol must be one of"):
        ssrfnet.load_model(exp, protocol="plda")


def test_onnxruntime_matches_pytorch(exp, audio):
    torch_model = ssrfnet.load_model(exp)
    for source in (exp, exp / "final.pt", exp / "export", exp / "export" / "model.onnx"):
        ort_model = ssrfnet.load_model(source, backend="onnxruntime", num_threads=1)
        assert ort_model.backend == "onnxruntime"
        for name in ("a16k", "b8k"):
            np.testing.assert_allclose(ort_model.embed(audio[name], crops=True),
                                       torch_model.embed(audio[name], crops=True), atol=1e-4)
    scripted = ssrfnet.load_model(exp / "export", backend="torch")  # the TorchScript model.pt
    np.testing.assert_allclose(scripted.embed(audio["a16k"]), torch_model.embed(audio["a16k"]), atol=1e-4)


def test_int8_runs_close_to_fp32(exp, audio):
    report = json.loads((exp / "export" / "export.json").read_text())
    info = report["int8"]
    assert info["quantized_nodes"] > 0 and info["per_channel"] is True
    assert info["cosine_to_fp32_min"] >= 0.99 and info["bytes"] > 0
    assert report["timing_ms"]["onnxruntime_int8_b1"] > 0
    fp32 = ssrfnet.load_model(exp / "export", backend="onnxruntime")
    int8 = ssrfnet.load_model(exp / "export", backend="onnxruntime", quantized=True)
    a, b = int8.embed(audio["a16k"], crops=True), fp32.embed(audio["a16k"], crops=True)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() >= 0.99
    assert np.abs(a - b).max() > 0  # really the quantized graph


def test_foreign_or_stale_onnx_is_refused(exp, tmp_path):
    stale = tmp_path / "export"
    shutil.copytree(exp / "export", stale)
    torch.manual_seed(1)
    other = build_model(TINY_SSRFNET).eval()
    export_model(other, tmp_path / "other", config=TINY_SSRFNET, runs=1, batch_sizes=(1,),
                 formats=("onnx",))
    shutil.copyfile(tmp_path / "other" / "model.onnx", stale / "model.onnx")
    with pytest.raises(OnnxModelError, match="exported from another model than .*export.json .*weights"):
        ssrfnet.load_model(stale, backend="onnxruntime")
    (stale / "export.json").unlink()
    with pytest.raises(CheckpointError, match="export.json: not found, the export is incomplete"):
        ssrfnet.load_model(stale, backend="onnxruntime")
    ours = tmp_path / "exp"
    ours.mkdir()
    shutil.copyfile(exp / "final.pt", ours / "final.pt")
    shutil.copytree(tmp_path / "other", ours / "export")
    with pytest.raises(OnnxModelError, match="exported from another model than .*final.pt"):
        ssrfnet.load_model(ours, backend="onnxruntime")

    from ssrfnet.export.metadata import write_metadata

    newer = tmp_path / "newer.onnx"
    shutil.copyfile(exp / "export" / "model.onnx", newer)
    identity = json.loads((exp / "export" / "export.json").read_text())["identity"]
    write_metadata(newer, {**identity, "format_version": 2})
    with pytest.raises(OnnxModelError, match="format version 2, this ssrfnet reads version 1"):
        ssrfnet.load_model(newer, backend="onnxruntime")
    plain = tmp_path / "plain.onnx"
    torch.onnx.export(torch.nn.Linear(4, 2), (torch.zeros(1, 4),), str(plain), dynamo=False)
    with pytest.raises(OnnxModelError, match="no ssrfnet metadata"):
        ssrfnet.load_model(plain, backend="onnxruntime")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not onnx")
    with pytest.raises(OnnxModelError, match="not a readable ONNX model"):
        ssrfnet.load_model(garbage, backend="onnxruntime")


def test_any_length_model_full_utterance(tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY_REDIMNET).eval()
    save_model(model, TINY_REDIMNET, tmp_path / "final.pt")
    wave = voice(5.0, 16000, 130.0)
    full = ssrfnet.load_model(tmp_path / "final.pt")
    with torch.inference_mode():
        whole = model(torch.from_numpy(wave)[None])[0].numpy()
    np.testing.assert_allclose(full.embed(wave), whole, atol=1e-5)
    crops_only = ssrfnet.load_model(tmp_path / "final.pt", full_utt=False)
    np.testing.assert_allclose(crops_only.embed(wave), crops_only.embed(wave, crops=True).mean(0), atol=1e-6)
