"""Score calibration on synthetic scores whose true LLR is known; Cllr / actual DCF; model files; errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ssrfnet.fileio import finite_or_none, strict_json
from ssrfnet.scoring.calibration import (
    AFFINE_FEATURES,
    CalibrationError,
    CalibrationModel,
    TrialSides,
    calibrated_decision,
    check_features,
    default_model_path,
    feature_matrix,
    fit_calibration,
    read_durations,
    trial_sides,
)
from ssrfnet.scoring.metrics import (
    bayes_threshold,
    compute_act_dcf,
    compute_cllr,
    compute_metrics,
    compute_min_cllr,
    format_metrics,
)


def synthetic_trials(n: int, seed: int, p_target: float = 0.3):
    """Scores whose reliability depends on the shorter side's duration, with their true LLR.

    Both classes are Gaussian with the same duration-dependent variance; with l = log(min duration),
    llr(s) = slope(l) * s - offset(l), slope = 2 + 3 l and offset = 0.5 + 1.5 l, which gives a target mean
    2 offset / slope (0.75 at 2 s, 0.91 at 20 s), a non-target mean 0 and a variance mean / slope (the
    score's spread shrinks as the segments get longer). Magnitudes are noise unrelated to the labels.
    """
    rng = np.random.default_rng(seed)
    dur_e = np.exp(rng.uniform(np.log(2.0), np.log(20.0), n))
    dur_t = np.exp(rng.uniform(np.log(2.0), np.log(20.0), n))
    log_min = np.log(np.minimum(dur_e, dur_t))
    slope, offset = 2.0 + 3.0 * log_min, 0.5 + 1.5 * log_min
    mean_target = 2.0 * offset / slope
    sd = np.sqrt(mean_target / slope)
    labels = rng.random(n) < p_target
    scores = np.where(labels, mean_target, 0.0) + sd * rng.standard_normal(n)
    sides = TrialSides(dur_e, dur_t, rng.normal(20.0, 2.0, n), rng.normal(20.0, 2.0, n))
    return scores, labels, sides, slope * scores - offset


@pytest.fixture(scope="module")
def fitted():
    scores, labels, sides, _ = synthetic_trials(20000, seed=1)
    qmf = fit_calibration(scores, labels, sides, prior=0.05, kind="qmf", system="crops")
    affine = fit_calibration(scores, labels, sides, features=AFFINE_FEATURES, prior=0.05, kind="affine")
    return qmf, affine, synthetic_trials(20000, seed=2)


def test_qmf_output_approaches_the_true_llr(fitted):
    qmf, affine, (scores, labels, sides, true_llr) = fitted
    qmf_error = np.mean(np.abs(qmf.llr(scores, sides) - true_llr))
    affine_error = np.mean(np.abs(affine.llr(scores, sides) - true_llr))
    assert qmf_error < 0.15, qmf_error  # measured 0.069 with these seeds (affine: 0.67)
    assert affine_error > 3 * qmf_error, (affine_error, qmf_error)
    # the coefficients found are those of the construction (slope 2 + 3 l, offset 0.5 + 1.5 l)
    coef = dict(zip(qmf.features, qmf.coefficients))
    assert coef["score"] == pytest.approx(2.0, abs=0.4)
    assert coef["score*log_dur_min"] == pytest.approx(3.0, abs=0.4)
    assert coef["log_dur_min"] == pytest.approx(-1.5, abs=0.3)


def test_qmf_beats_affine_and_raw_in_cllr(fitted):
    qmf, affine, (scores, labels, sides, true_llr) = fitted
    raw = compute_cllr(scores, labels)
    cllr_qmf = compute_cllr(qmf.llr(scores, sides), labels)
    cllr_affine = compute_cllr(affine.llr(scores, sides), labels)
    cllr_true = compute_cllr(true_llr, labels)
    assert cllr_qmf < cllr_affine - 0.005, (cllr_qmf, cllr_affine)
    assert cllr_affine < raw and cllr_qmf < raw, (raw, cllr_affine, cllr_qmf)
    assert cllr_qmf < cllr_true + 0.005  # close to the best possible (the true LLR)
    # affine calibration keeps the ranking: its minCllr is that of the raw scores
    assert compute_min_cllr(affine.llr(scores, sides), labels) == pytest.approx(
        compute_min_cllr(scores, labels)
    )


def test_prior_weighting_makes_the_output_independent_of_the_class_proportions():
    few, few_labels, few_sides, _ = synthetic_trials(20000, seed=3, p_target=0.1)
    many, many_labels, many_sides, _ = synthetic_trials(20000, seed=4, p_target=0.5)
    test, _, test_sides, true_llr = synthetic_trials(5000, seed=5)
    a = fit_calibration(few, few_labels, few_sides, prior=0.05).llr(test, test_sides)
    b = fit_calibration(many, many_labels, many_sides, prior=0.05).llr(test, test_sides)
    # an unweighted fit's outputs would differ by the log-odds ratio of the proportions, log 9 = 2.2;
    # weighted, both are LLRs: no offset between them or from the truth (measured < 0.05), only noise
    assert abs(np.mean(a - b)) < 0.1 and abs(np.mean(a - true_llr)) < 0.1
    # and both are close to the truth (measured 0.10 and 0.21: sampling noise of the slopes)
    assert np.mean(np.abs(a - true_llr)) < 0.3 and np.mean(np.abs(b - true_llr)) < 0.3


def test_one_class_calibration_set_is_an_error():
    scores, labels, sides, _ = synthetic_trials(200, seed=6)
    with pytest.raises(CalibrationError, match=r"cal\.kaldi: 200 calibration trials but no target trials"):
        fit_calibration(scores, np.zeros(200, bool), sides, name="cal.kaldi")
    with pytest.raises(CalibrationError, match="no non-target trials"):
        fit_calibration(scores, np.ones(200, bool), sides, name="cal.kaldi")


def test_trials_without_durations_are_an_error(tmp_path):
    trials = [("a", "b", True), ("a", "c", False)]
    durations = {"a": 3.0, "b": 7.5}
    with pytest.raises(
        CalibrationError,
        match=r"data/vox1/utt2dur: no duration for utterance 'c' of "
        r"test\.kaldi:2 \(1 of 2 trials lack one\)",
    ):
        trial_sides(
            trials,
            durations,
            {"a": 1, "b": 1, "c": 1},
            trials_name="test.kaldi",
            durations_source="data/vox1/utt2dur",
        )
    with pytest.raises(CalibrationError, match=r"nowhere/utt2dur: not found; QMF needs the durations"):
        read_durations(tmp_path / "nowhere" / "utt2dur")
    bad = tmp_path / "utt2dur"
    bad.write_text("a 3.0\nb -1\n")
    with pytest.raises(CalibrationError, match=r"utt2dur:2: expected '<utt> <seconds > 0>'"):
        read_durations(bad)
    with pytest.raises(CalibrationError, match="need the durations and embedding magnitudes"):
        feature_matrix(["score", "log_dur_min"], [0.5], None)
    model = fit_calibration(*synthetic_trials(500, seed=7)[:3])
    with pytest.raises(CalibrationError, match="needs the durations and embedding magnitudes"):
        calibrated_decision(model, 0.5)


def test_feature_names_are_checked():
    assert check_features(["score", "mag_min*log_dur_max"]) == ["score", "mag_min*log_dur_max"]
    with pytest.raises(CalibrationError, match=r"--qmf-features: unknown calibration feature 'dur'"):
        check_features(["score", "dur"])
    with pytest.raises(CalibrationError, match="must contain 'score'"):
        check_features(["log_dur_min"])
    with pytest.raises(CalibrationError, match="repeated"):
        check_features(["score", "score"])


def test_model_file_round_trip_is_strict_json(tmp_path, fitted):
    qmf, _, (scores, _, sides, _) = fitted
    path = tmp_path / "crops_qmf.json"
    qmf.save(path)
    text = path.read_text()
    blob = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert blob["format"] == "ssrfnet-calibration" and blob["prior"] == 0.05
    assert blob["features"] == list(qmf.features) and len(blob["coefficients"]) == len(qmf.features)
    assert blob["llr_threshold"] == pytest.approx(math.log(0.95 / 0.05))
    back = CalibrationModel.load(path)
    np.testing.assert_allclose(
        back.llr(scores[:50], _slice(sides, 50)), qmf.llr(scores[:50], _slice(sides, 50))
    )
    blob["coefficients"] = blob["coefficients"][:-1]
    path.write_text(json.dumps(blob))
    with pytest.raises(CalibrationError, match=r"crops_qmf\.json: expected 6 finite coefficients"):
        CalibrationModel.load(path)
    path.write_text('{"format": "something-else"}')
    with pytest.raises(CalibrationError, match=r"crops_qmf\.json: not a ssrfnet-calibration version 1 file"):
        CalibrationModel.load(path)
    with pytest.raises(CalibrationError, match="calibration model not found"):
        CalibrationModel.load(tmp_path / "missing.json")


def _slice(sides: TrialSides, n: int) -> TrialSides:
    return TrialSides(sides.dur_enroll[:n], sides.dur_test[:n], sides.mag_enroll[:n], sides.mag_test[:n])


def test_calibrated_decision_uses_the_bayes_threshold(fitted):
    qmf, affine, _ = fitted
    d = calibrated_decision(affine, 0.6)
    assert d["llr_threshold"] == pytest.approx(math.log(0.95 / 0.05)) and d["target_prior"] == 0.05
    assert d["same_speaker"] == (d["llr"] >= d["llr_threshold"])
    d_half = calibrated_decision(qmf, 0.6, (10.0, 3.0), (20.0, 21.0), p_target=0.5)
    assert d_half["llr_threshold"] == 0.0 and d_half["same_speaker"] == (d_half["llr"] >= 0)
    expected = qmf.llr([0.6], TrialSides(*(np.array([v]) for v in (10.0, 3.0, 20.0, 21.0))))[0]
    assert d_half["llr"] == pytest.approx(expected)
    with pytest.raises(CalibrationError, match="--target-prior"):
        calibrated_decision(affine, 0.6, p_target=1.0)
    assert (
        str(default_model_path("exp/ssrfnet/final.pt", "utt"))
        == "exp/ssrfnet/scores/calibration/utt_qmf.json"
    )


def test_cllr_and_actual_dcf_by_hand():
    labels = np.array([1, 1, 0, 0], bool)
    assert compute_cllr(np.zeros(4), labels) == pytest.approx(1.0)  # no information: 1 bit
    # targets at llr +-ln 3, non-targets at -ln 3: costs log2(1 + 1/3), log2(1 + 3), log2(1 + 1/3) x 2
    llr = np.log([3.0, 1 / 3, 1 / 3, 1 / 3])
    expected = 0.5 * (0.5 * (math.log2(4 / 3) + math.log2(4)) + math.log2(4 / 3))
    assert compute_cllr(llr, labels) == pytest.approx(expected)
    assert compute_cllr([30.0, 30.0, -30.0, -30.0], labels) < 1e-10
    assert bayes_threshold(0.5) == 0.0 and bayes_threshold(0.01) == pytest.approx(math.log(99))
    # p = 0.5, threshold 0: one target missed (llr -ln 3) -> P_miss 0.5, P_fa 0 -> (0.5*0.5)/0.5 = 0.5
    assert compute_act_dcf(llr, labels, 0.5) == pytest.approx(0.5)
    # p = 0.01, threshold ln 99: everything rejected -> P_miss 1 -> 0.01 / 0.01 = 1
    assert compute_act_dcf(llr, labels, 0.01) == pytest.approx(1.0)
    assert compute_min_cllr(llr, labels) <= compute_cllr(llr, labels)


def test_compute_metrics_with_llr_keeps_the_old_keys():
    scores, labels, sides, true_llr = synthetic_trials(3000, seed=8)
    plain = compute_metrics(scores, labels)
    both = compute_metrics(true_llr, labels, llr=True)
    assert set(plain) < set(both)
    for key in ("cllr", "min_cllr", "act_dcf_0.01", "act_dcf_0.05", "act_dcf_0.01_threshold"):
        assert key in both and key not in plain
    # the true LLR is well calibrated: its actual DCF is close to its minDCF
    assert both["act_dcf_0.05"] <= both["min_dcf_0.05"] + 0.05
    text = format_metrics(both)
    assert "Cllr = " in text and "actDCF (p_target:0.01 c_miss:1 c_fa:1) = " in text
    assert "Cllr" not in format_metrics(plain)


def test_strict_json_has_no_infinities():
    data = {"a": float("inf"), "b": [np.float64("nan"), 1.5, np.float32(2.0)], "c": {"d": -np.inf, "e": 3}}
    assert finite_or_none(data) == {"a": None, "b": [None, 1.5, 2.0], "c": {"d": None, "e": 3}}
    assert json.loads(strict_json(data)) == finite_or_none(data)
