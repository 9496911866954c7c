"""Equivalence with the official ReDimNet / SSRFNet outputs stored in shared/fixtures."""

import os
from pathlib import Path

import pytest
import torch

from ssrfnet.models import count_parameters, from_official, use_fast_kernels, use_plain_ops

from helpers import FIXTURES as SHARED_FIXTURES

FIXTURES = Path(os.environ.get("SSRFNET_FIXTURES", SHARED_FIXTURES))


def _load(name):
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"fixture {path} not found (set SSRFNET_FIXTURES to the shared/fixtures folder)")
    return torch.load(path, weights_only=True)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_redimnet_b0_matches_official():
    d = _load("redimnet_b0_seed0.pt")
    model = from_official(d)
    assert not model.training
    assert count_parameters(model)["total"] == 1_004_251
    with torch.no_grad():
        mel = model.frontend(d["input"])
        emb = model(d["input"])
    assert (mel - d["mel"]).abs().max().item() <= 1e-4
    assert emb.shape == (2, 192)
    assert (emb - d["embedding"]).abs().max().item() <= 1e-5


@pytest.mark.parametrize("fast", [True, False])
def test_ssrfnet_small_matches_official(fast):
    d = _load("ssrfnet_small_seed10.pt")
    model = from_official(d)
    model = use_fast_kernels(model) if fast else use_plain_ops(model)
    counts = count_parameters(model)
    assert (counts["total"], counts["svmixer"], counts["backend"]) == (10_750_149, 8_701_557, 2_048_592)
    assert model.backend.pfm.windows == [[1, 2, 3, 4], [1, 2, 3, 4], [2, 3, 4, 5], [2, 3, 4, 5]]
    with torch.no_grad():
        hidden = model.student(d["input"])
        mel = model.backend.frontend(d["input"])
        emb = model(d["input"])
    assert hidden.shape == d["svmixer_hidden_states"].shape
    assert (hidden - d["svmixer_hidden_states"]).abs().max().item() <= 1e-4
    assert (mel - d["mel"]).abs().max().item() <= 1e-4
    assert (emb - d["embedding"]).abs().max().item() <= 1e-5


def test_lightning_style_checkpoint_drops_training_keys():
    d = _load("ssrfnet_small_seed10.pt")
    state = dict(d["state_dict"])
    state["teacher_model.encoder.weight"] = torch.zeros(3)
    state["criterion_sv.weight"] = torch.zeros(3)
    state["criterion_kd.heads.0.weight"] = torch.zeros(3)
    state["student_model.total_ops"] = torch.zeros(1)
    state["classifier.backbone.total_params"] = torch.zeros(1)
    model = from_official({"model_config": d["model_config"], "state_dict": state, "epoch": 3})
    with torch.no_grad():
        emb = model(d["input"])
    assert (emb - d["embedding"]).abs().max().item() <= 1e-5
