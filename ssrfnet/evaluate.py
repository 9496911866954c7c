"""Extraction and scoring in one call, outside the staged recipe: EER/minDCF of a model on trial lists
(`evaluate_model`), and the same-speaker decision for two recordings (`verify_pair`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ssrfnet.audio import read_audio
from ssrfnet.errors import ConfError
from ssrfnet.extract import EmbeddingExtractor, extract_data_dir
from ssrfnet.fileio import atomic_write_json
from ssrfnet.models import load_model, model_source_dir
from ssrfnet.scoring.cosine import Embeddings, scoring_vectors
from ssrfnet.scoring.pipeline import score_experiment


def evaluate_model(model_path: str, data: str, trials: list[str], out: str | os.PathLike, options: dict,
                   asnorm_cohort: str | None = None, device: str = "auto") -> dict:
    """Embed `data` (and the AS-norm cohort), score `trials`; writes <out>/{embeddings,scores}/,
    results.{md,json} and metrics.json (strict JSON), and returns the metrics."""
    out = Path(out)
    if options["eval_subtract_mean"] and not asnorm_cohort:
        raise ConfError("--eval-subtract-mean needs --asnorm-cohort (the cohort data directory)")
    model = load_model(model_path)
    extractor = EmbeddingExtractor.from_options(model, options, device)
    test = extract_data_dir(extractor, data, out / "embeddings" / "test",
                            write_crops=options["eval_protocol"] == "crops")
    cohort = None
    if asnorm_cohort:
        cohort = extract_data_dir(extractor, asnorm_cohort, out / "embeddings" / "cohort", write_crops=False)
    results = score_experiment(
        out, test, trials, protocol=options["eval_protocol"], subtract_mean=options["eval_subtract_mean"],
        asnorm=bool(asnorm_cohort), top_n=options["asnorm_top_n"], cohort_emb=str(cohort) if cohort else None,
        cohort_data=asnorm_cohort, p_targets=options["p_targets"], model_path=model_path, model=model)
    metrics = {"model": model_path, "data": data, "protocol": options["eval_protocol"],
               "lists": results["lists"], "parameters": results.get("model", {}).get("parameters"),
               "macs": results.get("model", {}).get("macs")}
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def load_threshold(model_path: str, threshold: float | None = None, threshold_file: str | None = None
                   ) -> dict | None:
    """The decision threshold: given, from a threshold.json, or stage 5's <model dir>/scores/threshold.json
    (the EER point of the development trials)."""
    if threshold is not None:
        return {"threshold": threshold, "source": "--threshold"}
    default = model_source_dir(model_path) / "scores" / "threshold.json"
    path = Path(threshold_file) if threshold_file else default
    if not path.is_file():
        if threshold_file:
            raise ConfError(f"--threshold-file {path}: not found")
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ConfError(f"{path}: not a JSON threshold file ({err})") from err
    if not isinstance(info, dict) or "threshold" not in info:
        raise ConfError(f"{path}: no 'threshold' key")
    return {**info, "source": str(path)}


def verify_pair(model_path: str, audio: list[str], options: dict, threshold: dict | None,
                device: str = "cpu") -> dict:
    """Score two recordings with the threshold's protocol (default --eval-protocol) and decide."""
    protocol = (threshold or {}).get("protocol") or options["eval_protocol"]
    mean = np.load(threshold["mean_vec"]) if threshold and threshold.get("mean_vec") else None
    extractor = EmbeddingExtractor.from_options(load_model(model_path), options, device)
    wavs = [(f"audio{i}", read_audio(a, where=a)) for i, a in enumerate(audio)]
    keys, vecs, crops = zip(*extractor.extract(wavs))
    vectors = scoring_vectors(Embeddings(list(keys), np.stack(vecs), np.stack(crops)), protocol, mean)
    result = {"score": float(vectors[0] @ vectors[1]), "protocol": protocol, "audio": list(audio)}
    if threshold is not None:
        result.update(threshold=float(threshold["threshold"]), threshold_source=threshold["source"],
                      same_speaker=bool(result["score"] >= float(threshold["threshold"])))
    return result
