import json
import math

import pytest
import torch
from torch import nn

from ssrfnet.losses import KDLoss
from ssrfnet.models.teacher import WavLMTeacher, make_random_wavlm

SMALL = dict(hidden_size=32, num_layers=3, num_heads=2, intermediate_size=64, conv_dim=32)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    return make_random_wavlm(tmp_path_factory.mktemp("teacher") / "wavlm", seed=0, **SMALL)


@pytest.fixture(scope="module")
def teacher(teacher_dir):
    return WavLMTeacher(teacher_dir, layers=(1, 2, 3))


def test_shapes_and_frames(teacher):
    wav = torch.randn(2, 48000)
    out = teacher(wav)
    assert out.shape == (2, 3, 149, 32)
    assert out.dtype == torch.float32
    assert teacher.num_frames(48000) == 149
    assert teacher.hidden_size == 32 and teacher.num_layers == 3


def test_all_layers_and_index_semantics(teacher_dir, teacher):
    full = WavLMTeacher(teacher_dir, layers=None)
    wav = torch.randn(1, 16000)
    out = full(wav)
    assert out.shape[1] == 4  # hs[0] (input of layer 1) .. hs[3]
    assert torch.allclose(out[:, 1:], teacher(wav))
    with torch.no_grad():
        ref = full.model(wav, output_hidden_states=True)
    assert torch.allclose(out[:, 0], ref.hidden_states[0])
    # stable layer norm: the last state is the final LayerNorm output
    assert torch.allclose(out[:, 3], ref.last_hidden_state)


def test_frozen_no_grad_and_eval_kept(teacher):
    assert all(not p.requires_grad for p in teacher.parameters())
    parent = nn.Module()
    parent.teacher = teacher
    parent.head = nn.Linear(2, 2)
    parent.train()
    assert parent.head.training
    assert not teacher.training and not teacher.model.training
    assert not any(m.training for m in teacher.modules())
    wav = torch.randn(1, 16000, requires_grad=True)
    out = teacher(wav)
    assert not out.requires_grad
    # deterministic in "training" (no dropout / LayerDrop / masking)
    assert torch.equal(out, teacher(wav))


def test_targets_usable_in_kd_backward(teacher):
    targets = teacher(torch.randn(2, 16000))
    kd = KDLoss(16, 32, num_heads=3)
    student = torch.randn(2, targets.shape[2], 16, requires_grad=True)
    loss = kd(student, targets)
    loss.backward()
    assert math.isfinite(loss.item()) and student.grad is not None


def test_round_trip_deterministic(tmp_path, teacher_dir, teacher):
    again = make_random_wavlm(tmp_path / "again", seed=0, **SMALL)
    other = make_random_wavlm(tmp_path / "other", seed=1, **SMALL)
    wav = torch.randn(1, 8000)
    assert torch.equal(WavLMTeacher(again, layers=(1, 2, 3))(wav), teacher(wav))
    assert not torch.equal(WavLMTeacher(other, layers=(1, 2, 3))(wav), teacher(wav))
    # no-op when the same config is already there; refused when it differs
    stamp = (again / "config.json").stat().st_mtime_ns
    assert make_random_wavlm(again, seed=0, **SMALL) == again
    assert (again / "config.json").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError):
        make_random_wavlm(again, **{**SMALL, "num_layers": 2})
    make_random_wavlm(again, overwrite=True, **{**SMALL, "num_layers": 2})
    assert json.loads((again / "config.json").read_text())["num_hidden_layers"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_errors(tmp_path, teacher_dir):
    with pytest.raises(FileNotFoundError, match="not found: give a hub id"):
        WavLMTeacher(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        WavLMTeacher(empty)
    with pytest.raises(ValueError, match="out of range"):
        WavLMTeacher(teacher_dir, layers=(8, 16, 24))


def test_offline_hub_id_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="not found: give a hub id"):
        WavLMTeacher("nobody-here/no-such-wavlm-model")


def test_cli(tmp_path):
    from ssrfnet.bin.make_random_teacher import main

    out = tmp_path / "cli"
    args = ["--out", str(out), "--hidden-size", "32", "--num-layers", "2", "--num-heads", "2"]
    args += ["--intermediate-size", "64", "--conv-dim", "16"]
    assert main(args) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["hidden_size"] == 32 and cfg["conv_dim"] == [16] * 7
    assert main(args) == 0
    assert main([*args[:-2], "--conv-dim", "32"]) == 1


def test_a_teacher_directory_of_another_model_is_refused(tmp_path):
    from ssrfnet.models.teacher import TeacherConfigError, load_wavlm

    (tmp_path / "config.json").write_text('{"model_type": "hubert", "hidden_size": 768}')
    with pytest.raises(TeacherConfigError, match=r"model_type 'hubert', not a WavLM configuration"):
        load_wavlm(tmp_path)


def test_random_teacher_from_the_published_wavlm_large_configuration(tmp_path):
    """conf/wavlm_large.json has WavLM Large's structure: 24 x 1024, 16 heads, FFN 4096, LayerNorm conv front
    end with bias, stable layer norm -> the 315,456,704 parameters of the official teacher."""
    from transformers import WavLMModel

    from ssrfnet.models.teacher import read_wavlm_config

    from helpers import CONF_DIR

    config = read_wavlm_config(CONF_DIR / "wavlm_large.json")
    structure = (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
                 config.intermediate_size, config.feat_extract_norm, config.conv_bias,
                 config.do_stable_layer_norm)
    assert structure == (24, 1024, 16, 4096, "layer", True, True)
    with torch.device("meta"):
        model = WavLMModel(config)
    assert sum(p.numel() for p in model.parameters()) == 315_456_704
