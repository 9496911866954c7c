"""Score calibration: a trial score plus quality measures -> a calibrated log-likelihood ratio.

Two calibrations, both prior-weighted logistic regression (Brummer's linear calibration):

- *affine*: llr = a * score + b (the score alone; fixes scale and offset, keeps the DET curve);
- *QMF* (quality measure functions, as in WeSpeaker and ESPnet): llr = b + sum_i w_i * f_i over the score and
  quality measures of the trial: the log durations of both sides and the magnitudes (L2 norms) of their
  un-normalised embeddings, plus, by default, the score x shorter-side log duration product, so the slope
  (how much a score means) can change with duration and not only the offset.

Quality measures are symmetric in the two sides (`*_min`, `*_max` of the enroll and test values), because
the calibration trials pair a long enrolment with a short test while test lists pair arbitrary utterances;
the per-side measures (`*_enroll`, `*_test`) exist for lists whose roles are fixed.

Training weights the two classes by a stated target prior p (targets in all weigh p, non-targets 1 - p), so
the regression's log posterior odds at that prior minus logit(p) is a log-likelihood ratio, independent of
how many target and non-target calibration trials there happen to be. Features are standardised for the
fit, with an L2 penalty 0.5 |w|^2 against the N weighted trial losses (scikit-learn C = 1; the weights sum
to N): negligible for thousands of calibration trials, but it keeps the slopes finite when a small
calibration set is separable (the tiny mini corpus gives 35 trials), where an unpenalised fit would make
overconfident LLRs. The scaling is folded back, so the saved model is plain coefficients on the raw
features. A model is saved as
a plain JSON file (`CalibrationModel.save` / `load`), which `verify` reads to turn one score into an LLR.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssrfnet.errors import SSRFNetError
from ssrfnet.fileio import atomic_write_json
from ssrfnet.scoring.metrics import bayes_threshold, compute_cllr, compute_min_cllr

FORMAT = "ssrfnet-calibration"
VERSION = 1
KINDS = ("affine", "qmf")
DEFAULT_PRIOR = 0.05

FEATURE_DEFINITIONS = {
    "score": "the trial score (cosine, or AS-normed cosine)",
    "log_dur_enroll": "log of the enrolment utterance's duration in seconds",
    "log_dur_test": "log of the test utterance's duration in seconds",
    "log_dur_min": "log duration of the shorter side",
    "log_dur_max": "log duration of the longer side",
    "mag_enroll": "L2 norm of the enrolment utterance's un-normalised embedding",
    "mag_test": "L2 norm of the test utterance's un-normalised embedding",
    "mag_min": "the smaller embedding norm of the two sides",
    "mag_max": "the larger embedding norm of the two sides",
}
AFFINE_FEATURES = ("score",)
QMF_FEATURES = ("score", "log_dur_min", "log_dur_max", "mag_min", "mag_max", "score*log_dur_min")
REGULARISATION_C = 1.0


class CalibrationError(SSRFNetError, ValueError):
    """Bad calibration data, options or model file; the message names the file, option or utterance."""


@dataclass
class TrialSides:
    """Quality side information per trial: durations (seconds) and embedding norms of both sides."""

    dur_enroll: np.ndarray
    dur_test: np.ndarray
    mag_enroll: np.ndarray
    mag_test: np.ndarray

    def __len__(self) -> int:
        return len(self.dur_enroll)


def check_features(names: Sequence[str], where: str = "--qmf-features") -> list[str]:
    """Validate feature names: base features or products `a*b` of them; the score must be among them."""
    names = [str(n).strip() for n in names]
    if not names or "" in names:
        raise CalibrationError(f"{where}: empty feature name in {','.join(names)!r}")
    for name in names:
        unknown = [part for part in name.split("*") if part not in FEATURE_DEFINITIONS]
        if unknown:
            raise CalibrationError(
                f"{where}: unknown calibration feature {unknown[0]!r} in {name!r}; known: "
                f"{', '.join(FEATURE_DEFINITIONS)} and products such as score*log_dur_min"
            )
    if "score" not in names:
        raise CalibrationError(f"{where}: the feature list {','.join(names)!r} must contain 'score'")
    if len(set(names)) != len(names):
        raise CalibrationError(f"{where}: repeated feature in {','.join(names)!r}")
    return names


def needs_sides(names: Sequence[str]) -> bool:
    return any(part != "score" for name in names for part in name.split("*"))


def _base_columns(scores: np.ndarray, sides: TrialSides | None) -> dict[str, np.ndarray]:
    columns = {"score": np.asarray(scores, dtype=np.float64)}
    if sides is None:
        return columns
    log_e, log_t = np.log(sides.dur_enroll), np.log(sides.dur_test)
    mag_e = np.asarray(sides.mag_enroll, dtype=np.float64)
    mag_t = np.asarray(sides.mag_test, dtype=np.float64)
    columns.update(
        log_dur_enroll=log_e, log_dur_test=log_t,
        log_dur_min=np.minimum(log_e, log_t), log_dur_max=np.maximum(log_e, log_t),
        mag_enroll=mag_e, mag_test=mag_t, mag_min=np.minimum(mag_e, mag_t), mag_max=np.maximum(mag_e, mag_t),
    )
    return columns


def feature_matrix(names: Sequence[str], scores, sides: TrialSides | None) -> np.ndarray:
    """(num_trials, len(names)) float64 features; products multiply their parts."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if sides is not None and len(sides) != scores.size:
        raise CalibrationError(f"{scores.size} scores but quality measures of {len(sides)} trials")
    if sides is None and needs_sides(names):
        raise CalibrationError(
            f"calibration features {','.join(names)} need the durations and embedding magnitudes of the "
            "trial utterances (QMF), none were given"
        )
    columns = _base_columns(scores, sides)
    out = np.empty((scores.size, len(names)))
    for j, name in enumerate(names):
        out[:, j] = np.prod([columns[part] for part in name.split("*")], axis=0)
    return out


def read_durations(path: str | os.PathLike) -> dict[str, float]:
    """utt2dur (`<utt> <seconds>`) -> {utt: seconds}; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(
            f"{path}: not found; QMF needs the durations (utt2dur, seconds) of the trial utterances"
        )
    durations = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                value = float(fields[1]) if len(fields) == 2 else math.nan
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise CalibrationError(
                    f"{path}:{lineno}: expected '<utt> <seconds > 0>', got {line.strip()!r}"
                )
            durations[fields[0]] = value
    if not durations:
        raise CalibrationError(f"{path}: no durations")
    return durations


def trial_sides(
    trials: Sequence[tuple],
    durations: Mapping[str, float],
    magnitudes: Mapping[str, float],
    *,
    trials_name: str = "trials",
    durations_source: str = "utt2dur",
) -> TrialSides:
    """Durations and magnitudes of both sides of every `(enroll, test, ...)` trial; names what is missing."""
    n = len(trials)
    dur = np.empty((2, n))
    mag = np.empty((2, n))
    for i, (enroll, test, *_rest) in enumerate(trials):
        for side, utt in enumerate((enroll, test)):
            if utt not in durations:
                missing = sum(1 for t in trials if t[0] not in durations or t[1] not in durations)
                raise CalibrationError(
                    f"{durations_source}: no duration for utterance {utt!r} of {trials_name}:{i + 1} "
                    f"({missing} of {n} trials lack one); QMF needs the duration of every trial utterance"
                )
            if utt not in magnitudes:
                raise CalibrationError(f"{trials_name}:{i + 1}: no embedding magnitude for utterance {utt!r}")
            dur[side, i] = durations[utt]
            mag[side, i] = magnitudes[utt]
    return TrialSides(dur[0], dur[1], mag[0], mag[1])


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _check_prior(prior: float, where: str = "--calibration-prior") -> float:
    prior = float(prior)
    if not 0.0 < prior < 1.0:
        raise CalibrationError(f"{where}: the target prior must be in (0, 1), got {prior}")
    return prior


@dataclass
class CalibrationModel:
    """llr = bias + coefficients . features(score, quality); natural-log likelihood ratio."""

    kind: str
    features: list[str]
    coefficients: list[float]
    bias: float
    prior: float
    system: str = ""
    info: dict = field(default_factory=dict)

    @property
    def needs_sides(self) -> bool:
        return needs_sides(self.features)

    def llr(self, scores, sides: TrialSides | None = None) -> np.ndarray:
        x = feature_matrix(self.features, scores, sides)
        return x @ np.asarray(self.coefficients, dtype=np.float64) + self.bias

    def llr_threshold(self, p_target: float | None = None, c_miss: float = 1.0, c_fa: float = 1.0) -> float:
        """Bayes decision threshold on the LLR at a target prior (default: the model's stated prior)."""
        return bayes_threshold(self.prior if p_target is None else p_target, c_miss, c_fa)

    def to_dict(self) -> dict:
        parts = sorted({p for name in self.features for p in name.split("*")})
        return {
            "format": FORMAT, "version": VERSION, "kind": self.kind, "system": self.system,
            "output": "natural-log likelihood ratio: llr = bias + sum_i coefficients[i] * features[i]",
            "features": list(self.features), "coefficients": [float(c) for c in self.coefficients],
            "bias": float(self.bias), "prior": float(self.prior),
            "llr_threshold": self.llr_threshold(),
            "decision": "same speaker when llr >= log((1 - p) / p) at target prior p (C_miss = C_fa = 1); "
                        "llr_threshold is that value at the stated prior",
            "feature_definitions": {p: FEATURE_DEFINITIONS[p] for p in parts},
            "trained_on": self.info,
        }

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_json(path, self.to_dict(), indent=2)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CalibrationModel:
        path = Path(path)
        try:
            blob = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CalibrationError(f"{path}: calibration model not found") from None
        except (OSError, ValueError) as err:
            raise CalibrationError(f"{path}: not a readable JSON calibration model ({err})") from None
        if not isinstance(blob, dict) or blob.get("format") != FORMAT or blob.get("version") != VERSION:
            raise CalibrationError(f"{path}: not a {FORMAT} version {VERSION} file")
        try:
            features = check_features(blob["features"], where=f"{path}: features")
            coefs = [float(c) for c in blob["coefficients"]]
            bias, prior = float(blob["bias"]), _check_prior(blob["prior"], where=f"{path}: prior")
        except (KeyError, TypeError, ValueError) as err:
            raise CalibrationError(f"{path}: malformed calibration model ({err!r})") from None
        if len(coefs) != len(features) or not all(math.isfinite(v) for v in [*coefs, bias]):
            raise CalibrationError(
                f"{path}: expected {len(features)} finite coefficients (one per feature), got {coefs}"
            )
        return cls(str(blob.get("kind", "")), features, coefs, bias, prior, str(blob.get("system", "")),
                   dict(blob.get("trained_on") or {}))


def default_model_path(model_file: str | os.PathLike, protocol: str = "crops", kind: str = "qmf") -> Path:
    """The calibration stage 5 leaves beside a model for `verify`: <model dir>/scores/calibration/
    <protocol>_<kind>.json (the plain cosine system: verify has no AS-norm cohort)."""
    return Path(model_file).parent / "scores" / "calibration" / f"{protocol}_{kind}.json"


def calibrated_decision(
    model: CalibrationModel,
    score: float,
    durations: tuple[float, float] | None = None,
    magnitudes: tuple[float, float] | None = None,
    p_target: float | None = None,
) -> dict:
    """One trial (e.g. `verify`): the LLR, the Bayes threshold at `p_target` (default: the model's stated
    prior) and the decision. `durations` (seconds) and `magnitudes` (embedding norms) are (enroll, test)."""
    sides = None
    if model.needs_sides:
        if durations is None or magnitudes is None:
            raise CalibrationError(
                f"the {model.kind} calibration of {model.system or 'this system'} needs the durations and "
                "embedding magnitudes of both recordings"
            )
        sides = TrialSides(*(np.array([v], dtype=np.float64) for v in (*durations, *magnitudes)))
    prior = model.prior if p_target is None else _check_prior(p_target, where="--target-prior")
    llr = float(model.llr([float(score)], sides)[0])
    threshold = model.llr_threshold(prior)
    return {"llr": llr, "llr_threshold": threshold, "target_prior": prior, "same_speaker": llr >= threshold,
            "calibration": f"{model.system}_{model.kind}" if model.system else model.kind}


def _class_weights(labels: np.ndarray, prior: float, name: str) -> np.ndarray:
    n_tar = int(labels.sum())
    n_non = labels.size - n_tar
    if n_tar == 0 or n_non == 0:
        which = "target" if n_tar == 0 else "non-target"
        raise CalibrationError(
            f"{name}: {labels.size} calibration trials but no {which} trials; calibration needs both classes "
            "(held-out speakers with two or more utterances, and at least two speakers)"
        )
    weights = np.where(labels, prior / n_tar, (1.0 - prior) / n_non)
    return weights * (labels.size / weights.sum())


def fit_calibration(
    scores,
    labels,
    sides: TrialSides | None = None,
    *,
    features: Sequence[str] = QMF_FEATURES,
    prior: float = DEFAULT_PRIOR,
    kind: str = "qmf",
    system: str = "",
    name: str = "calibration trials",
) -> CalibrationModel:
    """Prior-weighted logistic regression of the labels on the features; returns the LLR model."""
    from sklearn.linear_model import LogisticRegression

    features = check_features(features)
    prior = _check_prior(prior)
    labels = np.asarray(labels).astype(bool).ravel()
    x = feature_matrix(features, scores, sides)
    if x.shape[0] != labels.size:
        raise CalibrationError(f"{name}: {x.shape[0]} scores but {labels.size} labels")
    if not np.all(np.isfinite(x)):
        raise CalibrationError(f"{name}: non-finite calibration features (check scores and durations)")
    weights = _class_weights(labels, prior, name)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    constant = scale < 1e-12
    scale[constant] = 1.0  # a constant feature is a zero column after centring: it gets weight 0
    fit = LogisticRegression(C=REGULARISATION_C, max_iter=5000, tol=1e-10)
    fit.fit((x - mean) / scale, labels, sample_weight=weights)
    coefs = fit.coef_[0] / scale
    bias = float(fit.intercept_[0] - coefs @ mean) - _logit(prior)
    model = CalibrationModel(kind, features, coefs.tolist(), bias, prior, system)
    llr = model.llr(scores, sides)
    model.info = {
        "trials": name, "num_trials": int(labels.size), "num_target": int(labels.sum()),
        "num_nontarget": int((~labels).sum()),
        "constant_features": [f for f, c in zip(features, constant) if c],
        "cllr_raw_scores": compute_cllr(scores, labels, name), "cllr": compute_cllr(llr, labels, name),
        "min_cllr_of_score": compute_min_cllr(scores, labels, name),
    }
    return model
