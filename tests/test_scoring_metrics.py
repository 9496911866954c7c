"""EER / minDCF on hand-computed cases, score-file parsing and the compute_metrics CLI."""

import json

import numpy as np
import pytest

from ssrfnet.bin import compute_metrics as cm_cli
from ssrfnet.scoring.metrics import (
    ScoreError,
    compute_eer,
    compute_metrics,
    compute_min_dcf,
    read_scores,
    roc_points,
)


def test_perfect_separation_gives_zero_eer():
    eer, threshold = compute_eer([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0])
    assert eer == 0.0
    assert 0.2 < threshold <= 0.8
    assert compute_min_dcf([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0], 0.01)[0] == 0.0


def test_fully_inverted_gives_100():
    assert compute_metrics([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0])["eer"] == pytest.approx(100.0)


def test_four_trials_by_hand():
    # descending: T .9, N .6, T .4, N .1 -> (fpr, fnr): (0,1) (0,.5) (.5,.5) (.5,0) (1,0)
    scores, labels = [0.9, 0.6, 0.4, 0.1], [1, 0, 1, 0]
    fpr, fnr, thr = roc_points(scores, labels)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(fnr, [1, 0.5, 0.5, 0, 0])
    assert compute_eer(scores, labels)[0] == pytest.approx(0.5)
    # p=0.01: dcf = .01 fnr + .99 fpr -> min .005 at (0,.5); normalised by .01
    assert compute_min_dcf(scores, labels, 0.01)[0] == pytest.approx(0.5)
    assert compute_min_dcf(scores, labels, 0.05)[0] == pytest.approx(0.5)


def test_five_trials_min_dcf_by_hand():
    # T .9, N .7, T .6, T .5, N .2: points (0,1) (0,2/3) (.5,2/3) (.5,1/3) (.5,0) (1,0)
    scores, labels = [0.9, 0.7, 0.6, 0.5, 0.2], [1, 0, 1, 1, 0]
    assert compute_min_dcf(scores, labels, 0.05)[0] == pytest.approx((0.05 * 2 / 3) / 0.05)
    assert compute_min_dcf(scores, labels, 0.01)[0] == pytest.approx(2 / 3)
    # p=0.6: dcf = .6 fnr + .4 fpr; min .2 at (.5, 0); normalised by min(.6, .4)
    value, threshold = compute_min_dcf(scores, labels, 0.6)
    assert value == pytest.approx(0.5)
    assert threshold == pytest.approx(0.5)


def test_tied_scores_interpolate_diagonally():
    # T .9, {T,N} tied at .5, N .1: (0,1) (0,.5) (.5,0) (1,0); crossing halfway along the diagonal
    eer, threshold = compute_eer([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
    assert eer == pytest.approx(0.25)
    assert threshold == pytest.approx(0.7)
    # the order of tied trials does not matter
    assert compute_eer([0.9, 0.5, 0.5, 0.1], [1, 0, 1, 0])[0] == pytest.approx(0.25)
    # all scores equal: a single diagonal from (0,1) to (1,0)
    assert compute_eer([0.3] * 6, [1, 0, 1, 0, 0, 1])[0] == pytest.approx(0.5)


def test_matches_brute_force_threshold_sweep():
    rng = np.random.default_rng(0)
    labels = rng.random(400) < 0.3
    scores = np.round(rng.normal(labels * 1.5, 1.0), 1)  # many ties
    fpr, fnr, _ = roc_points(scores, labels)
    for k, t in enumerate(np.unique(scores)[::-1]):
        accept = scores >= t
        assert fpr[k + 1] == pytest.approx((accept & ~labels).sum() / (~labels).sum())
        assert fnr[k + 1] == pytest.approx((~accept & labels).sum() / labels.sum())
    m = compute_metrics(scores, labels)
    p = 0.05
    brute = min(
        [p * 1.0]
        + [p * ((scores < t) & labels).sum() / labels.sum() + (1 - p) * ((scores >= t) & ~labels).sum()
           / (~labels).sum() for t in np.unique(scores)]
    ) / p
    assert m["min_dcf_0.05"] == pytest.approx(brute)
    assert 0 < m["eer"] < 50


def test_one_class_is_an_error():
    with pytest.raises(ScoreError, match="undefined"):
        compute_eer([0.1, 0.2], [1, 1])
    with pytest.raises(ScoreError, match="no target"):
        compute_metrics([0.1, 0.2], [0, 0])


def test_nan_score_array_is_an_error():
    with pytest.raises(ScoreError, match="trial 2"):
        compute_eer([0.1, float("nan"), 0.3], [1, 0, 1])


def write(path, text):
    path.write_text(text)
    return str(path)


def test_read_scores_formats(tmp_path):
    s = read_scores(write(tmp_path / "a", "e1 t1 0.5 target\ne1 t2 -0.2 nontarget\ne2 t1 0.1 1\ne2 t3 0 0\n"))
    assert s.enroll == ["e1", "e1", "e2", "e2"]
    assert s.labels.tolist() == [True, False, True, False]
    assert s.scores.tolist() == [0.5, -0.2, 0.1, 0.0]


@pytest.mark.parametrize(
    "text, match",
    [
        ("e1 t1 0.5 target\ne1 t2 abc nontarget\n", r"a:2: score 'abc'"),
        ("e1 t1 0.5 target\ne1 t2 nan nontarget\n", r"a:2: score of trial e1 t2 is nan"),
        ("e1 t1 0.5 target\ne1 t2 0.1 maybe\n", r"a:2: bad label 'maybe'"),
        ("e1 t1 0.5 target\ne1 t2 0.1\n", r"a:2: expected"),
    ],
)
def test_bad_score_lines_name_file_and_line(tmp_path, text, match):
    with pytest.raises(ScoreError, match=match):
        read_scores(write(tmp_path / "a", text))


def test_compute_metrics_cli(tmp_path, capsys):
    text = "a b 0.9 target\na c 0.6 nontarget\nd b 0.4 target\nd c 0.1 nontarget\n"
    path = write(tmp_path / "s.score", text)
    assert cm_cli.main(["--scores", path]) == 0
    out = capsys.readouterr().out
    assert "EER = 50.000" in out
    assert "minDCF (p_target:0.01 c_miss:1 c_fa:1) = 0.500" in out
    assert cm_cli.main(["--scores", path, "--p-target", "0.05", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["eer"] == pytest.approx(50.0) and data["min_dcf_0.05"] == pytest.approx(0.5)
    bad = write(tmp_path / "bad.score", "a b 0.9 target\na c 0.6 target\n")
    assert cm_cli.main(["--scores", bad]) == 1
    assert "undefined" in capsys.readouterr().err
