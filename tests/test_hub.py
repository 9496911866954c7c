"""torch.hub entry points (hubconf.py) and save_pretrained / from_pretrained (offline Hugging Face cache)."""

import json
import shutil

import numpy as np
import pytest
import torch

import ssrfnet
from ssrfnet.errors import CheckpointError, ConfError
from ssrfnet.models import build_model, save_model

from helpers import REPO, TINY_MODEL, TINY_REDIMNET

TINY_SSRFNET = {"model_type": "ssrfnet", **TINY_MODEL}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY_SSRFNET).eval()
    save_model(model, TINY_SSRFNET, tmp_path / "final.pt")
    return model, tmp_path / "final.pt"


def _wave(n=48000, seed=0):
    return 0.1 * torch.randn(2, n, generator=torch.Generator().manual_seed(seed))


def test_torch_hub_local_path_and_url(model_file, tmp_path, monkeypatch):
    model, path = model_file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # torch.hub's cache: <TORCH_HOME>/hub
    with torch.inference_mode():
        want = model(_wave())
        from_path = torch.hub.load(str(REPO), "ssrfnet", weights=str(path), source="local")
        np.testing.assert_allclose(from_path(_wave()).numpy(), want.numpy(), atol=1e-6)
        from_url = torch.hub.load(str(REPO), "ssrfnet", weights=path.as_uri(), source="local")
        np.testing.assert_allclose(from_url(_wave()).numpy(), want.numpy(), atol=1e-6)
        assert (tmp_path / "hub" / "checkpoints" / "final.pt").is_file()  # fetched into the hub cache
        options = {k: v for k, v in TINY_REDIMNET.items() if k != "model_type"}
        random = torch.hub.load(str(REPO), "redimnet", source="local", **options)
        assert random(_wave(16000)).shape == (2, 192)
    speaker = torch.hub.load(str(REPO), "speaker_model", source="local", path=str(path))
    assert speaker.embed(_wave()[0].numpy()).shape == (192,)


def test_torch_hub_errors(model_file):
    _, path = model_file
    with pytest.raises(CheckpointError, match="holds a ssrfnet model, not a redimnet"):
        torch.hub.load(str(REPO), "redimnet", weights=str(path), source="local")
    with pytest.raises(ConfError, match="the weights file decides"):
        torch.hub.load(str(REPO), "ssrfnet", weights=str(path), source="local", svmixer_layers=2)
    with pytest.raises(ConfError, match="unknown model option"):
        torch.hub.load(str(REPO), "ssrfnet", source="local", layers=2)
    with pytest.raises(CheckpointError, match="cannot fetch model weights"):
        torch.hub.load(str(REPO), "ssrfnet", weights=(path.parent / "nothing.pt").as_uri(), source="local")


def test_save_and_from_pretrained_directory(model_file, tmp_path):
    _, path = model_file
    (path.parent / "scores").mkdir()
    np.save(path.parent / "scores" / "mean_vec.npy", np.full(192, 0.01, np.float32))
    (path.parent / "scores" / "threshold.json").write_text(json.dumps(
        {"threshold": 0.42, "protocol": "utt", "mean_vec": str(path.parent / "scores" / "mean_vec.npy")}))
    model = ssrfnet.load_model(path)
    out = ssrfnet.save_pretrained(model, tmp_path / "pretrained")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "mean_vec.npy", "model.safetensors",
                                                     "threshold.json"]
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "ssrfnet-pretrained"
    assert config["model_config"]["svmixer_layers"] == TINY_MODEL["svmixer_layers"]
    again = ssrfnet.from_pretrained(out)
    wave = _wave()[0].numpy()
    np.testing.assert_allclose(again.embed(wave), model.embed(wave), atol=1e-6)
    assert again.threshold == 0.42 and again.protocol == "utt"
    assert again.similarity(wave, wave[::-1].copy()) == pytest.approx(
        model.similarity(wave, wave[::-1].copy()), abs=1e-6)  # the same mean vector is subtracted
    raw = ssrfnet.save_pretrained(build_model(TINY_REDIMNET), tmp_path / "raw", config=TINY_REDIMNET)
    assert ssrfnet.load_model(raw).embed_dim == 192


def test_from_pretrained_offline_hub_cache(model_file, tmp_path, monkeypatch):
    """A repository id resolves through huggingface_hub's cache; offline, a missing one is a clear error."""
    _, path = model_file
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "hf"
    local = ssrfnet.save_pretrained(ssrfnet.load_model(path), tmp_path / "local")
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--someone--tiny-ssrfnet"
    shutil.copytree(local, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    hub_model = ssrfnet.from_pretrained("someone/tiny-ssrfnet", cache_dir=cache)
    wave = _wave()[0].numpy()
    np.testing.assert_allclose(hub_model.embed(wave), ssrfnet.load_model(path).embed(wave), atol=1e-6)
    with pytest.raises(CheckpointError, match="someone/absent: not in the Hugging Face cache, HF_HUB_OFF"):
        ssrfnet.from_pretrained("someone/absent", cache_dir=cache)
    with pytest.raises(CheckpointError, match="neither an existing path nor a Hugging Face repository id"):
        ssrfnet.from_pretrained("no such/dir//x", cache_dir=cache)


def test_pretrained_bad_directory(tmp_path):
    (tmp_path / "config.json").write_text('{"format": "something-else"}')
    (tmp_path / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not an ssrfnet model config"):
        ssrfnet.load_model(tmp_path)
