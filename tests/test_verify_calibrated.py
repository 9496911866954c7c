"""verify with the calibration stage 5 stores beside the model: the LLR of the score, the two durations and
the two embedding magnitudes (as stage 5 computes them), decided against log((1-p)/p) at a stated prior;
the cosine threshold without one, with calibration=False, or with an explicit threshold."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

import ssrfnet
from ssrfnet.models import build_model, save_model
from ssrfnet.scoring.calibration import QMF_FEATURES, CalibrationModel

TINY_REDIMNET = dict(model_type="redimnet", redimnet_freq=16, redimnet_channels=8,
                     redimnet_stages="1:1:1:4,2:1:1:4")
COEFS = [6.0, 0.3, -0.2, 0.05, -0.04, 1.5]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    torch.manual_seed(0)
    save_model(build_model(TINY_REDIMNET).eval(), TINY_REDIMNET, root / "final.pt")
    (root / "scores" / "calibration").mkdir(parents=True)
    (root / "scores" / "threshold.json").write_text(json.dumps({"threshold": 0.5, "protocol": "crops"}))
    model = CalibrationModel("qmf", list(QMF_FEATURES), COEFS, -4.0, 0.05, "crops",
                             {"protocol": "crops", "asnorm": False, "mean_vec": None})
    model.save(root / "scores" / "calibration" / "crops_qmf.json")
    rng = np.random.default_rng(0)
    for name, seconds in (("a", 4.0), ("b", 2.5)):
        t = np.arange(int(seconds * 16000)) / 16000
        f0 = 140 if name == "a" else 230
        wave = 0.2 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(root / f"{name}.wav", wave.astype(np.float32), 16000, subtype="FLOAT")
    return root


def expected_llr(model, a, b, durations):
    """The QMF formula by hand: score, log durations and magnitudes of the shorter/longer side."""
    score = model.similarity(a, b, protocol="crops")
    mags = [float(np.linalg.norm(v.astype(np.float64))) for v in model.embed_batch([a, b])]
    lmin, lmax = math.log(min(durations)), math.log(max(durations))
    features = [score, lmin, lmax, min(mags), max(mags), score * lmin]
    return -4.0 + sum(c * f for c, f in zip(COEFS, features))


def test_verify_decides_by_the_stored_calibration(exp):
    a, b = exp / "a.wav", exp / "b.wav"
    model = ssrfnet.load_model(exp)
    result = model.verify(a, b)
    assert result.decision == "llr" and result.threshold_source.endswith("scores/calibration/crops_qmf.json")
    assert result.llr == pytest.approx(expected_llr(model, a, b, (4.0, 2.5)), abs=1e-6)
    assert result.llr_threshold == pytest.approx(math.log(0.95 / 0.05)) and result.target_prior == 0.05
    assert result.same_speaker == (result.llr >= result.llr_threshold)
    assert result.threshold == 0.5  # the cosine threshold is still reported
    even = model.verify(a, b, target_prior=0.5)
    assert even.llr == pytest.approx(result.llr) and even.llr_threshold == pytest.approx(0.0)
    assert model.verify(a, b, target_prior=0.01).llr_threshold == pytest.approx(math.log(99))
    with pytest.raises(ssrfnet.SSRFNetError, match="--target-prior: the target prior must be in"):
        model.verify(a, b, target_prior=1.5)


def test_cosine_threshold_when_asked_or_without_calibration(exp):
    a, b = exp / "a.wav", exp / "b.wav"
    cosine = ssrfnet.load_model(exp, calibration=False).verify(a, b)
    assert cosine.decision == "cosine" and cosine.threshold == 0.5 and cosine.llr is None
    assert cosine.same_speaker == (cosine.score >= 0.5)
    given = ssrfnet.load_model(exp, threshold=0.1).verify(a, b)  # a chosen threshold: the cosine decision
    assert given.decision == "cosine" and given.threshold == 0.1
    assert ssrfnet.load_model(exp).verify(a, b, threshold=-1.0).same_speaker
    with pytest.raises(ssrfnet.SSRFNetError, match="target_prior needs a calibration model"):
        ssrfnet.load_model(exp, calibration=False).verify(a, b, target_prior=0.1)


def test_an_asnorm_calibration_is_refused(exp, tmp_path):
    model = CalibrationModel("qmf", ["score"], [3.0], 0.0, 0.05, "crops_asnorm300", {"asnorm": True})
    path = tmp_path / "crops_asnorm300_qmf.json"
    model.save(path)
    with pytest.raises(ssrfnet.SSRFNetError, match="the calibration of an AS-normed system"):
        ssrfnet.load_model(exp, calibration=path)
    with pytest.raises(ssrfnet.SSRFNetError, match="missing.json: calibration model not found"):
        ssrfnet.load_model(exp, calibration=tmp_path / "missing.json")


def test_verify_cli_reports_the_llr(exp, capsys):
    from ssrfnet.bin import verify

    base = ["--model", str(exp / "final.pt")]
    a, b = str(exp / "a.wav"), str(exp / "b.wav")
    assert verify.main(base + ["--json", "--target-prior", "0.01", a, b]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision"] == "llr" and out["target_prior"] == 0.01
    assert out["llr_threshold"] == pytest.approx(math.log(99))
    assert out["same_speaker"] == (out["llr"] >= out["llr_threshold"])
    assert verify.main(base + [a, b]) == 0
    assert "(LLR at target prior 0.05) ->" in capsys.readouterr().out
    assert verify.main(base + ["--calibration", "none", a, b]) == 0
    assert "threshold 0.5000 ->" in capsys.readouterr().out
    assert verify.main(base + ["--calibration", "none", "--target-prior", "0.1", a, b]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--target-prior needs a calibration model" in err[0]
