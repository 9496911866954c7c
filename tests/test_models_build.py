"""Model construction, parameter counts, shapes, gradients, input validation, options and checkpoints."""

import argparse

import pytest
import torch

from ssrfnet.errors import CheckpointError
from ssrfnet.models import (
    build_model,
    count_parameters,
    from_official,
    load_model,
    pfm_windows,
    save_model,
)
from ssrfnet.models.configs import REDIMNET_CONFIGS, REDIMNET_PARAMS
from ssrfnet.models.official import redimnet_official_key
from ssrfnet.models.options import add_model_options, model_config_from_args

from helpers import CONF_DIR, TINY_MODEL

TINY = TINY_MODEL


pytestmark = pytest.mark.usefixtures("one_thread")


def _wav(batch=2, n=48000, seed=0):
    return 0.05 * torch.randn(batch, n, generator=torch.Generator().manual_seed(seed))


def test_full_ssrfnet_parameter_counts():
    counts = count_parameters(build_model({}))
    assert counts["total"] == 75_164_380
    assert counts["svmixer"] == 49_680_460
    assert counts["backend"] == 25_483_920
    assert counts["svmixer_block"] == 3_745_969


@pytest.mark.parametrize("size", sorted(REDIMNET_CONFIGS))
def test_redimnet_parameter_counts(size):
    model = build_model({"model_type": "redimnet", "redimnet_preset": size})
    assert count_parameters(model)["total"] == REDIMNET_PARAMS[size]


def test_pfm_windows_official_arithmetic():
    assert pfm_windows(12, 4, 4) == [[1, 2, 3, 4], [4, 5, 6, 7], [6, 7, 8, 9], [9, 10, 11, 12]]
    assert pfm_windows(5, 4, 4) == [[1, 2, 3, 4], [1, 2, 3, 4], [2, 3, 4, 5], [2, 3, 4, 5]]
    with pytest.raises(ValueError, match="at least 4 student layers"):
        pfm_windows(3, 4, 4)


def test_ssrfnet_shapes_determinism_and_gradient():
    torch.manual_seed(0)
    model = build_model(TINY)
    assert model.embed_dim == 192 and model.crop_samples == 48000
    assert model.student.hidden_size == 128 and model.student.num_layers == 5
    wav = _wav()
    emb, hidden = model.forward_train(wav)
    assert emb.shape == (2, 192) and hidden.shape == (2, 6, 149, 128)
    emb.pow(2).sum().backward()
    # the speaker loss must reach the student through the PFM
    names = ("layers.0.channel_mixing.fc6.weight", "conv_layers.1.conv.weight",
             "layers.4.token_mixing.linear1.weight")
    for name in names:
        grad = model.student.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    model.eval()
    with torch.no_grad():
        a, b = model(wav), model(wav)
    assert torch.equal(a, b)


def test_fast_and_plain_ops_agree():
    torch.manual_seed(1)
    model = build_model({**TINY, "svmixer_hidden": 256, "redimnet_channels": 16}).eval()
    wav = _wav(seed=1)
    with torch.no_grad():
        fast = model.student(wav)
        from ssrfnet.models import use_plain_ops

        model = use_plain_ops(model)
        plain = model.student(wav)
    assert (fast - plain).abs().max().item() < 1e-4


def test_svmixer_and_redimnet_model_types():
    torch.manual_seed(0)
    sv = build_model({**TINY, "model_type": "svmixer"}).eval()
    rd = build_model({"model_type": "redimnet", "redimnet_preset": "b0"}).eval()
    assert rd.crop_samples is None and sv.crop_samples == 48000
    with torch.no_grad():
        assert sv(_wav()).shape == (2, 192)
        assert rd(_wav(n=16000)).shape == (2, 192)
        assert rd(_wav(n=23456)).shape == (2, 192)


@pytest.mark.parametrize("n", [47999, 48080, 32000])
def test_wrong_length_rejected(n):
    model = build_model(TINY).eval()
    with pytest.raises(ValueError, match="expects 3 s crops of 48000 samples"):
        model(_wav(n=n))


def test_accepts_full_crop_range_and_float64():
    model = build_model(TINY).eval()
    with torch.no_grad():
        assert model(_wav(n=48079)).shape == (2, 192)
        assert torch.allclose(model(_wav().double()), model(_wav()))


BAD_WAVES = [torch.zeros(48000), torch.zeros(1, 1, 48000), torch.zeros(2, 48000, dtype=torch.int16)]


@pytest.mark.parametrize("bad", BAD_WAVES)
def test_bad_waveforms_rejected(bad):
    for model in (build_model(TINY).eval(), build_model({"model_type": "redimnet", "redimnet_preset": "b0"})):
        with pytest.raises(ValueError, match="waveform"):
            model(bad)


def test_options_defaults_are_full_model_and_parse():
    parser = argparse.ArgumentParser()
    add_model_options(parser)
    ns = parser.parse_args(["--svmixer-layers=5", "--mel-noise=false", "--model-type=redimnet"])
    cfg = model_config_from_args(ns)
    assert cfg["svmixer_layers"] == 5 and cfg["mel_noise"] is False and cfg["model_type"] == "redimnet"
    assert model_config_from_args({})["svmixer_hidden"] == 1024
    with pytest.raises(SystemExit):
        parser.parse_args(["--norm-signal=maybe"])


def test_conf_files_parse(tmp_path):

    from ssrfnet.config import read_conf

    conf = CONF_DIR
    parser = argparse.ArgumentParser()
    add_model_options(parser)
    for name, total in (("ssrfnet.conf", None), ("ssrfnet_mini.conf", 3_243_389)):
        entries = read_conf(conf / name)
        # the conf also holds other stages' keys (training...), only the model block is ours
        model_keys = {k.replace("_", "-") for k in model_config_from_args({})}
        argv = [f"--{k}={v}" for k, v, _ in entries if k in model_keys]
        cfg = model_config_from_args(parser.parse_args(argv))
        if total is None:
            assert cfg == model_config_from_args({})
        else:
            assert count_parameters(build_model(cfg))["total"] == total


def test_save_and_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    path = tmp_path / "sub" / "model.pt"
    save_model(model, TINY, path)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]
    loaded = load_model(path)
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(model(_wav()), loaded(_wav()))


def test_checkpoint_key_errors(tmp_path):
    model = build_model(TINY)
    save_model(model, TINY, tmp_path / "m.pt")
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    sd = blob["state_dict"]
    key = "student.layer_norm.weight"
    bad = dict(sd)
    bad.pop(key)
    bad["student.extra"] = torch.zeros(1)
    bad["backend.head.linear.bias"] = torch.zeros(5)
    with pytest.raises(CheckpointError) as err:
        load_model({**blob, "state_dict": bad})
    msg = str(err.value)
    assert "missing keys (1): " + key in msg and "student.extra" in msg and "backend.head.linear.bias" in msg


def test_official_key_errors():
    model = build_model({"model_type": "redimnet", "redimnet_preset": "b0"})
    stages = [[*s[:3], [[3, 3]], s[3]] for s in REDIMNET_CONFIGS["b0"]["stages"]]
    cfg = {"F": 60, "C": 10, "block_2d_type": "basic_resnet", "block_1d_type": "conv+att",
           "group_divisor": 1, "hop_length": 240, "stages_setup": stages}
    state = {redimnet_official_key(model, k): v for k, v in model.state_dict().items()}
    assert from_official({"model_config": cfg, "state_dict": state}) is not None
    state.pop("backbone.stem.0.bias")
    state["backbone.stage0.2.weight"] = torch.zeros(3, 3, 1, 1)
    state["backbone.bogus"] = torch.zeros(1)
    pattern = r"missing keys \(1\): backbone.stem.0.bias.*backbone.bogus.*stage0.2.weight"
    with pytest.raises(CheckpointError, match=pattern):
        from_official({"model_config": cfg, "state_dict": state})


def test_length_agnostic_departure():
    torch.manual_seed(0)
    faithful = build_model(TINY).eval()
    agnostic = build_model({**TINY, "svmixer_length_agnostic": True}).eval()
    agnostic.load_state_dict(faithful.state_dict())
    assert agnostic.crop_samples is None
    with torch.no_grad():
        assert torch.equal(agnostic(_wav()), faithful(_wav()))  # 3 s crops: the official maths
        for n in (32000, 32040, 71234):
            assert agnostic(_wav(n=n)).shape == (2, 192)
