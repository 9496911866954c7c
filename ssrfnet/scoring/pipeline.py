"""Stage 5 driver: score every trial list with every protocol, AS-norm, metrics, DET plots, tables.

Outputs under `<exp>/scores/`:
- `<list>.<system>.score`: `enroll test score target|nontarget`;
  system is one of crops, utt, crops_asnormN, utt_asnormN, and with calibration each of them + `_affine`
  / `_qmf` (calibrated LLRs; ssrfnet.scoring.calibrated)
- `calibration/<system>_<kind>.json`: the calibration models (with calibration)
- `<list>.det.png`: DET curves of all systems of that list
- `<list>.result`: Kaldi/WeSpeaker-style `EER = ...` / `minDCF (...) = ...` lines per system
- `threshold.json`: the verification threshold, the EER point of the development (held-out) trials
- `mean_vec.npy`: the subtracted mean vector (only with subtract_mean)
and `<exp>/results.{md,json}` plus the README results section (ssrfnet.scoring.report).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssrfnet.fileio import StagedDir, atomic_write, atomic_write_json, atomic_write_text, staged_dir
from ssrfnet.kaldi.table import read_dict
from ssrfnet.kaldi.trials import read_trials
from ssrfnet.scoring.calibrated import CalibrationSetup, SystemCalibrator, is_calibrated, system_scores
from ssrfnet.scoring.cosine import (
    EmbeddingError,
    load_embeddings,
    score_trials,
    scoring_vectors,
    speaker_means,
    trial_indices,
)
from ssrfnet.scoring.det import plot_det
from ssrfnet.scoring.metrics import ScoreError, compute_metrics, format_metrics
from ssrfnet.scoring.report import model_info, results_texts, sanity_summary

PROTOCOL_NOTE = (
    "Protocols: *crops* = each utterance cut into N crops of the model's length at "
    "`int(linspace(0, len - crop, N))` (short files wrap-padded), score = mean of the N x N crop cosines "
    "(official SSRFNet); *utt* = cosine of one embedding per utterance (whole utterance for "
    "length-agnostic models, mean of the crop embeddings for fixed-length ones). AS-norm: cohort = "
    "per-speaker mean embeddings of the training set, top-N adaptive, 0.5*((s-mu_e)/sd_e + (s-mu_t)/sd_t)."
)


def list_name(path: str | os.PathLike) -> str:
    name = Path(path).name
    for ext in (".kaldi", ".txt", ".trials", ".lst"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def list_info(trial_file: str | os.PathLike) -> dict:
    """What the table says about a list: its file and, for `data/<set>/trials/<list>.kaldi`, the set and
    corpus recorded by stage 0 in `data/<set>/corpus.json` (mini stand-in or real data)."""
    path = Path(trial_file)
    info: dict = {"trials": str(path)}
    corpus_json = path.parent.parent / "corpus.json"
    if path.parent.name == "trials" and corpus_json.is_file():
        try:
            corpus = json.loads(corpus_json.read_text(encoding="utf-8"))
        except ValueError:
            _log(f"WARNING: {corpus_json}: not valid JSON; the results table cannot tell its corpus")
            return info
        info.update({k: corpus[k] for k in ("set", "title", "corpus") if k in corpus})
    return info


def write_score_file(path, trials, scores) -> None:
    with atomic_write(path) as handle:
        handle.writelines(
            f"{e} {t} {s:.6f} {'target' if lab else 'nontarget'}\n"
            for (e, t, lab), s in zip(trials, scores.tolist())
        )


def _log(msg: str) -> None:
    print(f"score: {msg}", flush=True)


def cohort_setup(dim, scores_dir, subtract_mean, asnorm, top_n, cohort_emb, cohort_data):
    """(mean vector or None, AS-norm cohort of speaker means or None) from the cohort embeddings."""
    mean = None
    cohort = None
    if subtract_mean or asnorm:
        if not cohort_emb:
            raise ValueError("mean subtraction and AS-norm need cohort embeddings (--cohort-emb)")
        coh = load_embeddings(cohort_emb, dim=dim)
        if subtract_mean:
            mean = coh.vectors.astype(np.float64).mean(axis=0).astype(np.float32)
            np.save(scores_dir / "mean_vec.npy", mean)
        if asnorm:
            if not cohort_data:
                raise ValueError("AS-norm needs the cohort data directory (--cohort-data) for utt2spk")
            cohort = speaker_means(coh, read_dict(Path(cohort_data) / "utt2spk"), mean)
            _log(f"AS-norm cohort: {cohort.shape[0]} speaker means from {cohort_emb}, "
                 f"top-{min(top_n, cohort.shape[0])}")
    return mean, cohort


def score_experiment(exp_dir: str | os.PathLike, emb_dir: str | os.PathLike, trial_files: list[str],
                     **options) -> dict:
    """Score every trial list with every system (see the module docstring and `score_into` for the options);
    returns results.json's dict.

    One set of outputs: the scores directory is built in a hidden sibling and replaces `<exp>/scores` only
    when every list was scored, with results.json, results.md and the README section renamed into place right
    after it (`ssrfnet.fileio.staged_dir`). A failing run leaves every earlier score file and table
    byte-identical; the new scores/ holds exactly this run's files."""
    exp_dir = Path(exp_dir)
    with staged_dir(exp_dir / "scores") as stage:
        return score_into(stage, exp_dir, emb_dir, trial_files, **options)


def effective_top_n(cohort, top_n: int) -> int:
    """AS-norm's N: `top_n`, or the cohort size when the cohort is smaller (warned; tables say which N)."""
    if cohort is None or cohort.shape[0] >= top_n:
        return top_n
    _log(f"WARNING: AS-norm --asnorm-top-n {top_n} is more than the {cohort.shape[0]} cohort speakers: "
         f"using top-{cohort.shape[0]} (the mean over the whole cohort, i.e. S-norm)")
    return int(cohort.shape[0])


def score_into(
    stage: StagedDir,
    exp_dir: Path,
    emb_dir: str | os.PathLike,
    trial_files: list[str],
    *,
    protocol: str = "crops",
    subtract_mean: bool = False,
    asnorm: bool = False,
    top_n: int = 300,
    cohort_emb: str | None = None,
    cohort_data: str | None = None,
    dev_trials: str | None = None,
    dev_emb: str | None = None,
    p_targets=(0.01, 0.05),
    model_path: str | None = None,
    det: bool = True,
    model=None,
    calibration: CalibrationSetup | None = None,
    sanity_results: str | os.PathLike | None = None,
) -> dict:
    """Score every trial list with every system into `stage` (its files named under <exp>/scores).

    With `calibration`, also the affine/QMF calibrated systems `<system>_<kind>` (LLRs, with Cllr and the
    actual DCF), their models under scores/calibration/ and results["calibration"]. With `sanity_results`
    (the results.json of the no-training MFCC baseline), results["sanity_baseline"] holds its metrics on
    the same lists and protocols, which results.md shows beside this model's."""
    scores_dir, named_as = stage.path, stage.target
    has_crops = (Path(emb_dir) / "crops.scp").is_file()
    if protocol == "crops" and not has_crops:
        raise EmbeddingError(
            f"{emb_dir}/crops.scp: not found; the crops protocol needs per-crop embeddings "
            "(extract with --eval-write-crops true, or score with --eval-protocol utt)"
        )
    t0 = time.time()
    emb = load_embeddings(emb_dir, crops=has_crops)
    protocols = [protocol] + [p for p in (("crops", "utt") if has_crops else ("utt",)) if p != protocol]
    _log(f"{len(emb.keys)} embeddings of size {emb.dim} from {emb_dir} ({time.time() - t0:.1f} s)")

    mean, cohort = cohort_setup(emb.dim, scores_dir, subtract_mean, asnorm, top_n, cohort_emb, cohort_data)
    requested_top_n, top_n = top_n, effective_top_n(cohort, top_n)
    vectors = {p: scoring_vectors(emb, p, mean) for p in protocols}
    results: dict = {
        "exp_dir": str(exp_dir),
        "emb_dir": str(emb_dir),
        "model_path": model_path or str(exp_dir / "final.pt"),
        "protocol": protocol,
        "subtract_mean": subtract_mean,
        "asnorm_top_n": top_n if asnorm else None,
        "asnorm_top_n_requested": requested_top_n if asnorm else None,
        "cohort": cohort_emb if (asnorm or subtract_mean) else None,
        "p_targets": list(p_targets),
        "protocol_note": PROTOCOL_NOTE,
        "lists": {},
        "list_info": {},
    }
    calibrator = None
    if calibration is not None:
        calibrator = SystemCalibrator(calibration, scores_dir, protocols=protocols, mean=mean, cohort=cohort,
                                      top_n=top_n, dim=emb.dim, log=_log, named_as=named_as)
        results["calibration"] = calibrator.summary()
    lists = {trial_file: read_trials(trial_file) for trial_file in trial_files}
    if calibrator is not None:
        for trial_file, trials in lists.items():
            calibrator.check_durations(trials, trial_file)
    for trial_file, trials in lists.items():
        name = list_name(trial_file)
        if name in results["lists"]:
            raise ScoreError(f"{trial_file}: another trial list is also named {name!r}; rename one of them")
        scored = ScoredList(name, trial_file, trials, *trial_indices(trials, emb, trial_file))
        results["lists"][name] = score_list(scored, emb, vectors, protocols, scores_dir, cohort=cohort,
                                            top_n=top_n, calibrator=calibrator, p_targets=p_targets, det=det)
        results["list_info"][name] = list_info(trial_file)

    if dev_trials:
        results["threshold"] = calibrate_threshold(
            scores_dir, dev_emb or emb_dir, dev_trials, protocol, mean, p_targets, named_as=named_as
        )
    results["model"] = model_info(exp_dir, model, model_path)
    if sanity_results:
        results["sanity_baseline"] = sanity_summary(sanity_results, results["lists"])
    for path, text in results_texts(exp_dir, results).items():
        stage.also_write(path, text)
    return results


@dataclass
class ScoredList:
    name: str
    trial_file: str
    trials: list
    enroll: np.ndarray
    test: np.ndarray


def _metrics_line(system: str, m: dict, p_targets) -> str:
    line = f"EER {m['eer']:.3f}% " + ", ".join(f"minDCF({p:g}) {m[f'min_dcf_{p:g}']:.4f}" for p in p_targets)
    if "cllr" in m:
        line += f", Cllr {m['cllr']:.3f}, " + ", ".join(f"actDCF({p:g}) {m[f'act_dcf_{p:g}']:.4f}"
                                                        for p in p_targets)
    return line


def score_list(scored: ScoredList, emb, vectors, protocols, scores_dir: Path, *, cohort=None, top_n=300,
               calibrator=None, p_targets=(0.01, 0.05), det=True) -> dict:
    """Every system of one trial list: score files, metrics, `<list>.result`, the DET plot."""
    labels = np.fromiter((t[2] for t in scored.trials), dtype=bool, count=len(scored.trials))
    systems, curves = {}, {}
    for p in protocols:
        runs = system_scores(vectors[p], scored.enroll, scored.test, p, cohort, top_n)
        if calibrator is not None:
            runs += [run for system, s in list(runs)
                     for run in calibrator.apply(system, s, scored.trials, emb, scored.trial_file)]
        for system, s in runs:
            write_score_file(scores_dir / f"{scored.name}.{system}.score", scored.trials, s)
            systems[system] = compute_metrics(s, labels, p_targets, name=f"{scored.trial_file} ({system})",
                                              llr=is_calibrated(system))
            if not system.endswith("_affine"):  # affine keeps the ranking: the same DET curve as its system
                curves[system] = (s, labels, systems[system]["eer"])
            _log(f"{scored.name} {system}: {_metrics_line(system, systems[system], p_targets)}")
    atomic_write_text(
        scores_dir / f"{scored.name}.result",
        "".join(f"# {system}\n{format_metrics(m, p_targets)}\n" for system, m in systems.items()),
    )
    if det:
        plot_det(curves, scores_dir / f"{scored.name}.det.png", title=scored.name)
    return systems


def calibrate_threshold(scores_dir, dev_emb, dev_trials, protocol, mean, p_targets, named_as=None) -> dict:
    """EER threshold of the development trials (never the test lists), saved as scores/threshold.json
    (`named_as`: the directory its mean vector will be found in, when `scores_dir` is a staging one)."""
    emb = load_embeddings(dev_emb, crops=protocol == "crops")
    trials = read_trials(dev_trials)
    s, labels = score_trials(emb, trials, protocol, mean, dev_trials)
    name = list_name(dev_trials)
    write_score_file(Path(scores_dir) / f"{name}.{protocol}.score", trials, s)
    m = compute_metrics(s, labels, p_targets, name=dev_trials)
    info = {
        "threshold": m["eer_threshold"],
        "criterion": "eer",
        "protocol": protocol,
        "trials": str(dev_trials),
        "embeddings": str(dev_emb),
        "eer": m["eer"],
        "min_dcf_thresholds": {f"{p:g}": m[f"min_dcf_{p:g}_threshold"] for p in p_targets},
        "mean_vec": str(Path(named_as or scores_dir) / "mean_vec.npy") if mean is not None else None,
        "note": "score >= threshold means same speaker; cosine without AS-norm",
    }
    atomic_write_json(Path(scores_dir) / "threshold.json", info, indent=2)
    _log(f"threshold {info['threshold']:.4f} from {dev_trials} (dev EER {m['eer']:.3f}%)")
    return info
