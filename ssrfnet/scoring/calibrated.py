"""Calibrated systems of stage 5: fit an affine and a QMF calibration per scoring system, apply them.

For every system that stage 5 scores (`<protocol>` and `<protocol>_asnorm<N>`), the calibration trials
(`<cal-data>/trials/calibration.kaldi`, held-out training speakers, short vs long segments; see
`ssrfnet.prep.calibration_set`) are scored exactly as the test lists are (same protocol, mean vector and
AS-norm cohort), and each calibration kind is fitted on them and saved as
`<exp>/scores/calibration/<system>_<kind>.json`. Applied to a test list it gives the system
`<system>_<kind>` (e.g. `crops_qmf`, `crops_asnorm300_qmf`, `utt_affine`), whose scores are LLRs.

Quality measures: durations from utt2dur (the calibration data dir's, and `eval_utt2dur` for the test
utterances: one file, or several, e.g. one per test set when stage 5 scores all sets from one combined
embedding table); magnitudes are the L2 norms of the un-normalised utterance embeddings (xvector.scp: the
whole-utterance embedding, or the mean of the crop embeddings for fixed-length models).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssrfnet.kaldi.trials import read_trials
from ssrfnet.scoring.asnorm import asnorm_scores
from ssrfnet.scoring.calibration import (
    AFFINE_FEATURES,
    DEFAULT_PRIOR,
    KINDS,
    QMF_FEATURES,
    CalibrationError,
    CalibrationModel,
    check_features,
    fit_calibration,
    read_durations,
    trial_sides,
)
from ssrfnet.scoring.cosine import Embeddings, cosine_scores, load_embeddings, scoring_vectors, trial_indices

CAL_TRIALS = "trials/calibration.kaldi"
SUFFIXES = tuple(f"_{kind}" for kind in KINDS)


def system_scores(vectors, enroll, test, protocol: str, cohort=None, top_n: int = 300) -> list:
    """[(system, scores)]: the cosine scores of `protocol`, and their AS-norm when a cohort is given."""
    raw = cosine_scores(vectors, enroll, test)
    runs = [(protocol, raw)]
    if cohort is not None:
        runs.append((f"{protocol}_asnorm{top_n}", asnorm_scores(raw, enroll, test, vectors, cohort, top_n)))
    return runs


def is_calibrated(system: str) -> bool:
    return system.endswith(SUFFIXES)


def magnitudes(emb: Embeddings) -> dict[str, float]:
    norms = np.linalg.norm(emb.vectors.astype(np.float64), axis=1)
    return dict(zip(emb.keys, norms.tolist()))


@dataclass
class CalibrationSetup:
    """What stage 5 needs to calibrate: the calibration set and the test utterances' durations."""

    cal_emb: str | os.PathLike  # embeddings of the calibration segments (stage 4 on the calibration dir)
    cal_data: str | os.PathLike  # the calibration data dir: utt2dur and trials/calibration.kaldi
    # durations of the test utterances: data/vox1/utt2dur, or a sequence of such files (one per test set)
    eval_utt2dur: str | os.PathLike | Sequence[str | os.PathLike] | None
    prior: float = DEFAULT_PRIOR
    kinds: tuple[str, ...] = KINDS
    qmf_features: tuple[str, ...] = QMF_FEATURES

    def validate(self) -> None:
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown or not self.kinds:
            raise CalibrationError(f"--calibration-kinds: expected some of {', '.join(KINDS)}, got "
                                   f"{','.join(self.kinds)!r}")
        check_features(self.qmf_features)
        if "qmf" in self.kinds and not self.eval_utt2dur:
            raise CalibrationError("QMF needs the durations of the test utterances: give --eval-data "
                                   "(the test data directory with utt2dur)")

    def features(self, kind: str) -> tuple[str, ...]:
        return AFFINE_FEATURES if kind == "affine" else tuple(self.qmf_features)

    @property
    def duration_files(self) -> list[str]:
        files = self.eval_utt2dur
        if not files:
            return []
        return [str(files)] if isinstance(files, (str, os.PathLike)) else [str(f) for f in files]

    def eval_durations(self) -> dict[str, float]:
        """The test utterances' durations from every utt2dur (an utterance in two files keeps the last)."""
        durations: dict[str, float] = {}
        for path in self.duration_files:
            durations.update(read_durations(path))
        return durations

    @property
    def durations_source(self) -> str:
        return ", ".join(self.duration_files) or "utt2dur"


class SystemCalibrator:
    """One fitted calibration model per (system, kind); applies them to the trial lists of stage 5."""

    def __init__(self, setup: CalibrationSetup, scores_dir, *, protocols, mean=None, cohort=None,
                 top_n: int = 300, dim: int | None = None, log=print, named_as=None):
        """`named_as`: the scores directory the files will be found in when `scores_dir` is a staging one."""
        setup.validate()
        shown = Path(named_as or scores_dir)
        self.scoring = {"mean_vec": str(shown / "mean_vec.npy") if mean is not None else None}
        self.setup = setup
        self.models: dict[str, dict[str, CalibrationModel]] = {}
        self.model_dir = Path(scores_dir) / "calibration"
        self.shown_dir = shown / "calibration"
        cal_trials = Path(setup.cal_data) / CAL_TRIALS
        cal = load_embeddings(setup.cal_emb, crops="crops" in protocols, dim=dim)
        trials = read_trials(cal_trials)
        enroll, test = trial_indices(trials, cal, str(cal_trials))
        labels = np.fromiter((t[2] for t in trials), dtype=bool, count=len(trials))
        dur_path = Path(setup.cal_data) / "utt2dur"
        sides = trial_sides(trials, read_durations(dur_path), magnitudes(cal), trials_name=str(cal_trials),
                            durations_source=str(dur_path))
        for protocol in protocols:
            vectors = scoring_vectors(cal, protocol, mean)
            for system, scores in system_scores(vectors, enroll, test, protocol, cohort, top_n):
                self.models[system] = {
                    kind: self._fit(system, kind, scores, labels, sides, str(cal_trials), log)
                    for kind in setup.kinds
                }
        self.eval_durations = setup.eval_durations()
        self._magnitudes: dict[str, dict[str, float]] = {}

    def _fit(self, system, kind, scores, labels, sides, name, log) -> CalibrationModel:
        model = fit_calibration(scores, labels, sides, features=self.setup.features(kind),
                                prior=self.setup.prior, kind=kind, system=system, name=name)
        model.info.update(protocol=system.split("_")[0], asnorm="_asnorm" in system, **self.scoring)
        model.save(self.model_dir / f"{system}_{kind}.json")
        info = model.info
        log(f"calibration {system}_{kind}: Cllr {info['cllr_raw_scores']:.3f} (raw) -> {info['cllr']:.3f} "
            f"on {info['num_trials']} calibration trials, prior {model.prior:g}")
        return model

    def check_durations(self, trials, trial_file: str) -> None:
        """Fail before scoring when a trial utterance has no duration (QMF only)."""
        if any(m.needs_sides for kinds in self.models.values() for m in kinds.values()):
            ones = {key: 1.0 for t in trials for key in t[:2]}
            trial_sides(trials, self.eval_durations, ones, trials_name=trial_file,
                        durations_source=self.setup.durations_source)

    def apply(self, system: str, scores, trials, emb: Embeddings, trial_file: str) -> list:
        """[(`<system>_<kind>`, llr)] for one scored trial list."""
        models = self.models.get(system, {})
        sides = None
        if any(m.needs_sides for m in models.values()):
            mags = self._magnitudes.setdefault(emb.source, magnitudes(emb))
            sides = trial_sides(trials, self.eval_durations, mags, trials_name=trial_file,
                                durations_source=self.setup.durations_source)
        return [(f"{system}_{kind}", m.llr(scores, sides if m.needs_sides else None))
                for kind, m in models.items()]

    def summary(self) -> dict:
        """results.json's `calibration` entry: the setup and, per calibrated system, its model and fit."""
        return {
            "prior": self.setup.prior,
            "trials": str(Path(self.setup.cal_data) / CAL_TRIALS),
            "embeddings": str(self.setup.cal_emb),
            "eval_durations": self.setup.durations_source if self.setup.duration_files else None,
            "systems": {
                f"{system}_{kind}": {"model": str(self.shown_dir / f"{system}_{kind}.json"),
                                     "features": m.features, "llr_threshold": m.llr_threshold(), **m.info}
                for system, kinds in self.models.items() for kind, m in kinds.items()
            },
        }
