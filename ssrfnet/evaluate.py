"""Extraction and scoring in one call, outside the staged recipe: EER/minDCF of a model on trial lists."""

from __future__ import annotations

import os
from pathlib import Path

from ssrfnet.errors import ConfError
from ssrfnet.extract import EmbeddingExtractor, extract_data_dir
from ssrfnet.fileio import atomic_write_json
from ssrfnet.models import load_model
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
