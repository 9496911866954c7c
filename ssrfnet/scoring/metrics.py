"""Verification metrics: ROC/DET points, EER, normalised minDCF, Cllr and actual DCF, score-file reading.

All metrics come from one sorted pass over the scores. Thresholds are the distinct score values
(descending); a trial is accepted when its score is >= the threshold, so tied scores always move
together (a tie between a target and a non-target is a diagonal step of the DET curve, never an
order-dependent staircase). The curve starts at (FPR 0, FNR 1) (threshold +inf, accept nothing).

EER is where the piecewise-linear curve FNR(FPR) crosses FNR = FPR, found by linear interpolation
between the two neighbouring operating points. This is what sklearn's roc_curve + brentq on
1 - x - interp(fpr, tpr)(x) computes in the official code, without the root finder.

minDCF = min over thresholds of C_miss*P_miss*p + C_fa*P_fa*(1-p), divided by
min(C_miss*p, C_fa*(1-p)) (the cost of the best trivial system), as in Kaldi and WeSpeaker.

For scores that are calibrated log-likelihood ratios (natural log; `ssrfnet.scoring.calibration`):
- Cllr = 1/(2 ln 2) * (mean over targets of log(1 + e^-llr) + mean over non-targets of log(1 + e^llr)),
  in bits: 0 is perfect, 1 is a system that always says llr = 0, above 1 is worse than saying nothing.
  minCllr is the Cllr of the best monotone recalibration of the same scores (pool-adjacent-violators),
  so Cllr - minCllr is the calibration loss.
- actual DCF at prior p: the normalised cost of the Bayes decision llr >= log(C_fa*(1-p) / (C_miss*p))
  (`bayes_threshold`), i.e. the cost a user pays with that threshold, not the best threshold in hindsight.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ssrfnet.errors import SSRFNetError


class ScoreError(SSRFNetError, ValueError):
    """Bad scores or labels; the message names the file and line (or the trial) at fault."""


LABELS = {"target": True, "nontarget": False, "1": True, "0": False, "tgt": True, "nontgt": False}


@dataclass
class ScoreList:
    """Scores read from a file: parallel lists of enroll keys, test keys, scores and labels."""

    enroll: list[str]
    test: list[str]
    scores: np.ndarray
    labels: np.ndarray  # bool


def parse_label(text: str, where: str) -> bool:
    try:
        return LABELS[text.lower()]
    except KeyError:
        raise ScoreError(f"{where}: bad label {text!r} (expected target/nontarget or 1/0)") from None


def read_scores(path: str | os.PathLike) -> ScoreList:
    """Read `enroll test score label` lines (label target|nontarget or 1|0).

    Lines with only `score label` are accepted too (keys become line numbers). Any malformed line,
    non-numeric or NaN/inf score raises ScoreError naming `file:line`.
    """
    enroll, test, scores, labels = [], [], [], []
    if not os.path.isfile(path):
        raise ScoreError(f"{path}: score file not found")
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path}:{lineno}"
            if len(fields) == 4:
                e, t, s, lab = fields
            elif len(fields) == 2:
                e, t, (s, lab) = str(lineno), str(lineno), fields
            else:
                raise ScoreError(
                    f"{where}: expected 'enroll test score target|nontarget', got {line.rstrip()!r}"
                )
            try:
                value = float(s)
            except ValueError:
                raise ScoreError(f"{where}: score {s!r} is not a number") from None
            if not math.isfinite(value):
                raise ScoreError(f"{where}: score of trial {e} {t} is {s}")
            enroll.append(e)
            test.append(t)
            scores.append(value)
            labels.append(parse_label(lab, where))
    if not scores:
        raise ScoreError(f"{path}: no scores")
    return ScoreList(enroll, test, np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool))


def _check(scores, labels, name: str = "scores"):
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).astype(bool).ravel()
    if scores.shape != labels.shape:
        raise ScoreError(f"{name}: {scores.size} scores but {labels.size} labels")
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        raise ScoreError(f"{name}: score of trial {bad[0] + 1} (1-based) is {scores[bad[0]]}")
    n_tar = int(labels.sum())
    n_non = labels.size - n_tar
    if n_tar == 0 or n_non == 0:
        which = "target" if n_tar == 0 else "non-target"
        raise ScoreError(
            f"{name}: {labels.size} trials but no {which} trials: EER and minDCF are undefined "
            "without both classes"
        )
    return scores, labels, n_tar, n_non


def roc_points(scores, labels, name: str = "scores"):
    """(fpr, fnr, thresholds) at every distinct threshold, starting at (0, 1, +inf), ending at (1, 0)."""
    scores, labels, n_tar, n_non = _check(scores, labels, name)
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    y = labels[order]
    # last index of each group of equal scores (descending order)
    last = np.flatnonzero(np.diff(s) != 0)
    last = np.append(last, s.size - 1)
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    fpr = np.concatenate(([0.0], fp / n_non))
    fnr = np.concatenate(([1.0], 1.0 - tp / n_tar))
    thresholds = np.concatenate(([np.inf], s[last]))
    return fpr, fnr, thresholds


def eer_from_points(fpr, fnr, thresholds) -> tuple[float, float]:
    diff = fnr - fpr  # starts at 1, ends at -1, non-increasing
    i = int(np.argmax(diff <= 0))
    if diff[i] == 0 or i == 0:
        return float(fpr[i]), float(thresholds[i])
    d0, d1 = diff[i - 1], diff[i]
    t = d0 / (d0 - d1)
    eer = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    th0, th1 = thresholds[i - 1], thresholds[i]
    threshold = th1 if not np.isfinite(th0) else th0 + t * (th1 - th0)
    return float(eer), float(threshold)


def compute_eer(scores, labels, name: str = "scores") -> tuple[float, float]:
    """(EER as a fraction in [0, 1], threshold at the EER point)."""
    return eer_from_points(*roc_points(scores, labels, name))


def min_dcf_from_points(fpr, fnr, thresholds, p_target, c_miss=1.0, c_fa=1.0) -> tuple[float, float]:
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    dcf = c_miss * fnr * p_target + c_fa * fpr * (1.0 - p_target)
    i = int(np.argmin(dcf))
    norm = min(c_miss * p_target, c_fa * (1.0 - p_target))
    return float(dcf[i] / norm), float(thresholds[i])


def compute_min_dcf(
    scores, labels, p_target=0.01, c_miss=1.0, c_fa=1.0, name="scores"
) -> tuple[float, float]:
    """(normalised minDCF, threshold where it is reached)."""
    return min_dcf_from_points(*roc_points(scores, labels, name), p_target, c_miss, c_fa)


def bayes_threshold(p_target: float, c_miss: float = 1.0, c_fa: float = 1.0) -> float:
    """The LLR threshold of the Bayes decision at a target prior and costs: accept when llr >= it."""
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    return float(math.log(c_fa * (1.0 - p_target) / (c_miss * p_target)))


def _cllr_bits(llr: np.ndarray, labels: np.ndarray) -> float:
    # +-inf LLRs (from PAV) on the right side cost 0: logaddexp(0, -inf) == 0
    miss = np.logaddexp(0.0, -llr[labels]).mean()
    false_alarm = np.logaddexp(0.0, llr[~labels]).mean()
    return float((miss + false_alarm) / (2.0 * math.log(2.0)))


def compute_cllr(llr, labels, name: str = "scores") -> float:
    """Cllr in bits of log-likelihood-ratio scores (natural log)."""
    llr, labels, _, _ = _check(llr, labels, name)
    return _cllr_bits(llr, labels)


def pav_llr(scores, labels, name: str = "scores") -> np.ndarray:
    """The optimal monotone map of scores to LLRs (pool-adjacent-violators); may be +-inf at the ends."""
    from sklearn.isotonic import IsotonicRegression

    scores, labels, n_tar, n_non = _check(scores, labels, name)
    posterior = IsotonicRegression(y_min=0.0, y_max=1.0).fit_transform(scores, labels.astype(np.float64))
    with np.errstate(divide="ignore"):
        log_odds = np.log(posterior) - np.log1p(-posterior)
    return log_odds - math.log(n_tar / n_non)


def compute_min_cllr(scores, labels, name: str = "scores") -> float:
    """Cllr after the optimal monotone recalibration: what calibration can reach for these scores."""
    return _cllr_bits(pav_llr(scores, labels, name), np.asarray(labels).astype(bool).ravel())


def compute_act_dcf(llr, labels, p_target=0.01, c_miss=1.0, c_fa=1.0, name="scores") -> float:
    """Normalised DCF of the Bayes decision llr >= bayes_threshold(p_target, c_miss, c_fa)."""
    llr, labels, n_tar, n_non = _check(llr, labels, name)
    accept = llr >= bayes_threshold(p_target, c_miss, c_fa)
    p_miss = np.count_nonzero(~accept & labels) / n_tar
    p_fa = np.count_nonzero(accept & ~labels) / n_non
    dcf = c_miss * p_miss * p_target + c_fa * p_fa * (1.0 - p_target)
    return float(dcf / min(c_miss * p_target, c_fa * (1.0 - p_target)))


def compute_llr_metrics(llr, labels, p_targets=(0.01, 0.05), c_miss=1.0, c_fa=1.0, name="scores") -> dict:
    """Cllr, minCllr (bits) and the actual DCF with its LLR threshold at each p_target."""
    result = {"cllr": compute_cllr(llr, labels, name), "min_cllr": compute_min_cllr(llr, labels, name)}
    for p in p_targets:
        result[f"act_dcf_{p:g}"] = compute_act_dcf(llr, labels, p, c_miss, c_fa, name)
        result[f"act_dcf_{p:g}_threshold"] = bayes_threshold(p, c_miss, c_fa)
    return result


def compute_metrics(
    scores, labels, p_targets=(0.01, 0.05), c_miss=1.0, c_fa=1.0, name="scores", *, llr: bool = False
) -> dict:
    """EER (in %) and minDCF at each p_target, from a single sort; with `llr` (the scores are calibrated
    log-likelihood ratios) also Cllr, minCllr and the actual DCF at each p_target."""
    fpr, fnr, thresholds = roc_points(scores, labels, name)
    eer, eer_threshold = eer_from_points(fpr, fnr, thresholds)
    labels = np.asarray(labels).astype(bool)
    result = {
        "num_trials": int(labels.size),
        "num_target": int(labels.sum()),
        "num_nontarget": int((~labels).sum()),
        "eer": 100.0 * eer,
        "eer_threshold": eer_threshold,
    }
    for p in p_targets:
        value, threshold = min_dcf_from_points(fpr, fnr, thresholds, p, c_miss, c_fa)
        result[f"min_dcf_{p:g}"] = value
        result[f"min_dcf_{p:g}_threshold"] = threshold
    if llr:
        result.update(compute_llr_metrics(scores, labels, p_targets, c_miss, c_fa, name))
    return result


def format_metrics(metrics: dict, p_targets=(0.01, 0.05), c_miss=1.0, c_fa=1.0) -> str:
    """Kaldi/WeSpeaker-style lines: `EER = 0.867` and `minDCF (p_target:0.01 c_miss:1 c_fa:1) = 0.085`."""
    lines = [f"EER = {metrics['eer']:.3f}"]
    for p in p_targets:
        value = metrics[f"min_dcf_{p:g}"]
        lines.append(f"minDCF (p_target:{p:g} c_miss:{c_miss:g} c_fa:{c_fa:g}) = {value:.3f}")
    if "cllr" in metrics:
        lines.append(f"Cllr = {metrics['cllr']:.3f} (minCllr = {metrics['min_cllr']:.3f})")
        for p in p_targets:
            value = metrics[f"act_dcf_{p:g}"]
            lines.append(f"actDCF (p_target:{p:g} c_miss:{c_miss:g} c_fa:{c_fa:g}) = {value:.3f}")
    return "\n".join(lines)
