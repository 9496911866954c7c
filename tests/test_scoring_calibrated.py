"""Stage 5 with score calibration: affine and QMF systems fitted on calibration trials, applied to tests."""

from __future__ import annotations

import json

import kaldiio
import numpy as np
import pytest

from ssrfnet.scoring.calibrated import CalibrationSetup
from ssrfnet.scoring.calibration import CalibrationError, CalibrationModel
from ssrfnet.scoring.metrics import compute_cllr, read_scores
from ssrfnet.scoring.pipeline import score_experiment

DIM = 16


def write_embeddings(path, utts: dict[str, tuple[str, float]], centres, rng):
    """Crop embeddings = speaker centre + noise whose size shrinks with the utterance's duration."""
    path.mkdir(parents=True, exist_ok=True)
    vec, crops = {}, {}
    for key, (spk, dur) in sorted(utts.items()):
        c = centres[spk] + (4.0 / np.sqrt(dur)) * rng.normal(size=(10, DIM))
        crops[key] = c.astype(np.float32)
        vec[key] = c.mean(axis=0).astype(np.float32)
    kaldiio.save_ark(str(path / "xvector.ark"), vec, scp=str(path / "xvector.scp"))
    kaldiio.save_ark(str(path / "crops.ark"), crops, scp=str(path / "crops.scp"))


def write_utt2dur(path, utts):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} {d:.3f}\n" for k, (_, d) in sorted(utts.items())))


def all_pairs(utts, rng, n):
    keys = sorted(utts)
    lines = set()
    while len(lines) < n:
        e, t = rng.choice(keys, 2, replace=False)
        lines.add(f"{e} {t} {'target' if utts[e][0] == utts[t][0] else 'nontarget'}")
    return sorted(lines)


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    spk = [f"id{i:03d}" for i in range(62)]
    centres = {s: rng.normal(size=DIM) / np.sqrt(DIM) * 3 for s in spk}

    def durations(n):
        return np.exp(rng.uniform(np.log(2.0), np.log(15.0), n))

    test = {f"{s}-u{u}": (s, d) for s in spk[:10] for u, d in enumerate(durations(8))}
    cal = {}
    for s in spk[10:22]:
        for u in range(6):
            cal[f"{s}-u{u}-long"] = (s, float(rng.uniform(6.5, 15.0)))
            cal[f"{s}-u{u}-short"] = (s, float(rng.uniform(2.0, 6.0)))
    train = {f"{s}-u{u}": (s, 8.0) for s in spk[22:] for u in range(3)}
    for name, utts in (("test", test), ("cal", cal), ("train", train)):
        write_embeddings(tmp_path / "emb" / name, utts, centres, rng)
        write_utt2dur(tmp_path / "data" / name / "utt2dur", utts)
    (tmp_path / "data" / "train" / "utt2spk").write_text(
        "".join(f"{k} {s}\n" for k, (s, _) in sorted(train.items()))
    )
    cal_trials = [
        f"{e} {t} {'target' if cal[e][0] == cal[t][0] else 'nontarget'}"
        for e in sorted(cal)
        if e.endswith("-long")
        for t in sorted(cal)
        if t.endswith("-short") and e[:-5] != t[:-6]
    ]
    (tmp_path / "data" / "cal" / "trials").mkdir()
    (tmp_path / "data" / "cal" / "trials" / "calibration.kaldi").write_text("\n".join(cal_trials) + "\n")
    trials = tmp_path / "data" / "test" / "trials" / "test_O.kaldi"
    trials.parent.mkdir()
    trials.write_text("\n".join(all_pairs(test, rng, 1500)) + "\n")
    calib = CalibrationSetup(
        tmp_path / "emb" / "cal", tmp_path / "data" / "cal", tmp_path / "data" / "test" / "utt2dur"
    )
    return tmp_path, str(trials), calib


def run(tmp_path, trials, calib, exp="exp", **kw):
    return score_experiment(
        tmp_path / exp,
        tmp_path / "emb" / "test",
        [trials],
        asnorm=True,
        top_n=20,
        cohort_emb=str(tmp_path / "emb" / "train"),
        cohort_data=str(tmp_path / "data" / "train"),
        det=False,
        calibration=calib,
        **kw,
    )


def test_calibrated_systems_in_results(setup):
    tmp_path, trials, calib = setup
    results = run(tmp_path, trials, calib)
    systems = results["lists"]["test_O"]
    bases = ["crops", "crops_asnorm20", "utt", "utt_asnorm20"]
    assert sorted(systems) == sorted(bases + [f"{b}_{k}" for b in bases for k in ("affine", "qmf")])
    for base in bases:
        assert "cllr" not in systems[base]  # cosine scores are not LLRs
        for kind in ("affine", "qmf"):
            m = systems[f"{base}_{kind}"]
            assert {"cllr", "min_cllr", "act_dcf_0.01", "act_dcf_0.05"} <= set(m)
            model = CalibrationModel.load(tmp_path / "exp" / "scores" / "calibration" / f"{base}_{kind}.json")
            assert (
                model.system == base and model.kind == kind and model.info["protocol"] == base.split("_")[0]
            )
            scores = read_scores(tmp_path / "exp" / "scores" / f"test_O.{base}_{kind}.score")
            assert compute_cllr(scores.scores, scores.labels) == pytest.approx(m["cllr"], abs=1e-4)
        # calibrated LLRs are better log-likelihood ratios than the raw cosine scores
        raw = read_scores(tmp_path / "exp" / "scores" / f"test_O.{base}.score")
        assert systems[f"{base}_qmf"]["cllr"] < compute_cllr(raw.scores, raw.labels)
        # affine calibration is monotone: same EER as its system
        assert systems[f"{base}_affine"]["eer"] == pytest.approx(systems[base]["eer"])
    cal = results["calibration"]
    assert cal["prior"] == 0.05 and cal["trials"].endswith("cal/trials/calibration.kaldi")
    assert set(cal["systems"]) == {f"{b}_{k}" for b in bases for k in ("affine", "qmf")}
    text = (tmp_path / "exp" / "results.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    md = (tmp_path / "exp" / "results.md").read_text()
    assert "Calibrated systems" in md and "QMF calibration (LLR) of AS-norm top-20 on crops" in md
    assert "Cllr = " in (tmp_path / "exp" / "scores" / "test_O.result").read_text()


def test_missing_test_durations_fail_before_scoring(setup):
    tmp_path, trials, calib = setup
    dur = tmp_path / "data" / "test" / "utt2dur"
    lines = dur.read_text().splitlines(keepends=True)
    dropped = lines[3].split()[0]
    dur.write_text("".join(lines[:3] + lines[4:]))
    with pytest.raises(
        CalibrationError,
        match=rf"test/utt2dur: no duration for utterance '{dropped}' of "
        r".*test_O\.kaldi:\d+",
    ):
        run(tmp_path, trials, calib)
    assert not list((tmp_path / "exp" / "scores").glob("test_O.*.score"))
    with pytest.raises(
        CalibrationError, match="QMF needs the durations of the test utterances: give --eval-data"
    ):
        run(tmp_path, trials, CalibrationSetup(calib.cal_emb, calib.cal_data, None), exp="exp2")
    # affine calibration needs no durations
    results = run(
        tmp_path, trials, CalibrationSetup(calib.cal_emb, calib.cal_data, None, kinds=("affine",)), exp="exp3"
    )
    assert "crops_affine" in results["lists"]["test_O"] and "crops_qmf" not in results["lists"]["test_O"]


def test_one_class_calibration_trials_are_an_error(setup):
    tmp_path, trials, calib = setup
    path = tmp_path / "data" / "cal" / "trials" / "calibration.kaldi"
    path.write_text(
        "".join(line + "\n" for line in path.read_text().splitlines() if line.endswith(" target"))
    )
    with pytest.raises(
        CalibrationError,
        match=r"cal/trials/calibration\.kaldi: \d+ calibration trials but no "
        r"non-target trials",
    ):
        run(tmp_path, trials, calib)


def test_ablation_over_stage5_results(setup):
    """results.json files written by stage 5 (with and without calibration, an LMFT twin) -> the table."""
    from ssrfnet.scoring.ablation import build_ablation

    tmp_path, trials, calib = setup
    run(tmp_path, trials, calib, exp="exp/ssrfnet")
    run(tmp_path, trials, calib, exp="exp/ssrfnet_lm")
    score_experiment(
        tmp_path / "exp" / "baseline", tmp_path / "emb" / "test", [trials], protocol="utt", det=False
    )
    blob, text = build_ablation(tmp_path / "exp")
    rows = blob["rows"]
    assert [(r["experiment"], r["lmft"]) for r in rows[:2]] == [("baseline", False)] * 2  # crops, utt
    ssrfnet = [r for r in rows if r["experiment"] == "ssrfnet" and not r["lmft"]]
    assert {(r["protocol"], r["asnorm_top_n"], r["calibration"]) for r in ssrfnet} == {
        (p, n, c) for p in ("crops", "utt") for n in (None, 20) for c in ("none", "affine", "qmf")
    }
    assert all((r["cllr"] is None) == (r["calibration"] == "none") for r in rows)
    assert len([r for r in rows if r["lmft"]]) == len(ssrfnet) == 12
    assert "| test_O | ssrfnet | yes | utt | top-20 | qmf |" in text
