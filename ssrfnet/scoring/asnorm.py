"""Adaptive symmetric score normalisation (AS-norm).

For each enroll and test utterance, score it against every cohort vector (per-speaker mean embeddings
of the training set), keep the `top_n` highest cohort scores and take their mean mu and standard
deviation sd (population, ddof=0). A trial score s becomes

    0.5 * ((s - mu_e) / sd_e + (s - mu_t) / sd_t).

With top_n >= cohort size this is plain S-norm. The statistics are computed once per utterance (not
per trial) with a chunked matmul + top-k, so 5,000 utterances x 6,000 cohort speakers take well under a
second.
"""

from __future__ import annotations

import numpy as np
import torch


def cohort_stats(
    vectors: np.ndarray, cohort: np.ndarray, top_n: int = 300, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the top-n cohort scores of each row of `vectors`; both (n,) float64."""
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n}")
    k = min(top_n, cohort.shape[0])
    if k < 2:
        raise ValueError(f"AS-norm needs at least 2 cohort vectors, got {cohort.shape[0]}")
    if vectors.shape[1] != cohort.shape[1]:
        raise ValueError(f"embedding size {vectors.shape[1]} differs from the cohort's {cohort.shape[1]}")
    coh = torch.from_numpy(np.ascontiguousarray(cohort, dtype=np.float32)).T.contiguous()
    mu = np.empty(len(vectors))
    sd = np.empty(len(vectors))
    with torch.no_grad():
        for start in range(0, len(vectors), chunk):
            x = torch.from_numpy(np.ascontiguousarray(vectors[start : start + chunk], dtype=np.float32))
            top = torch.topk(x @ coh, k, dim=1, sorted=False).values.double()
            mu[start : start + chunk] = top.mean(dim=1).numpy()
            sd[start : start + chunk] = top.std(dim=1, unbiased=False).numpy()
    return mu, np.maximum(sd, 1e-8)


def asnorm_scores(
    scores: np.ndarray,
    enroll: np.ndarray,
    test: np.ndarray,
    vectors: np.ndarray,
    cohort: np.ndarray,
    top_n: int = 300,
) -> np.ndarray:
    """AS-normalised trial scores; `enroll`/`test` index rows of `vectors` (the scoring vectors)."""
    used = np.unique(np.concatenate([enroll, test]))
    mu_used, sd_used = cohort_stats(vectors[used], cohort, top_n)
    mu = np.zeros(len(vectors))
    sd = np.ones(len(vectors))
    mu[used], sd[used] = mu_used, sd_used
    s = np.asarray(scores, dtype=np.float64)
    return 0.5 * ((s - mu[enroll]) / sd[enroll] + (s - mu[test]) / sd[test])
