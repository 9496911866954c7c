"""Speed of stage 5 maths: EER + minDCF over 600,000 trials (VoxCeleb1-E size) and AS-norm with a
6,000-speaker cohort against 5,000 test utterances (192-d), each against a naive baseline measured in
the same run.

Baselines: EER/minDCF by a per-threshold loop (one vectorised pass over all trials per threshold), timed
on a subset of thresholds and extrapolated to all distinct thresholds; AS-norm statistics by a
per-utterance loop (cohort dot products + full sort), timed on a subset and extrapolated.

usage: python bench/bench_metrics.py [--trials 600000] [--cohort 6000] [--utts 5000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssrfnet.scoring.asnorm import asnorm_scores, cohort_stats  # noqa: E402
from ssrfnet.scoring.metrics import compute_metrics  # noqa: E402
from ssrfnet.timing import median_seconds  # noqa: E402


def naive_metrics(scores, labels, thresholds, p=0.01):
    n_tar, n_non = labels.sum(), (~labels).sum()
    best_dcf, best_gap, eer = np.inf, np.inf, None
    for t in thresholds:
        accept = scores >= t
        fnr = np.count_nonzero(~accept & labels) / n_tar
        fpr = np.count_nonzero(accept & ~labels) / n_non
        best_dcf = min(best_dcf, p * fnr + (1 - p) * fpr)
        if abs(fnr - fpr) < best_gap:
            best_gap, eer = abs(fnr - fpr), (fnr + fpr) / 2
    return eer, best_dcf / p


def naive_stats(vectors, cohort, top_n):
    mu = np.empty(len(vectors))
    sd = np.empty(len(vectors))
    for i, v in enumerate(vectors):
        s = np.sort(cohort @ v)[::-1][:top_n]
        mu[i], sd[i] = s.mean(), s.std()
    return mu, sd


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=600_000)
    parser.add_argument("--cohort", type=int, default=6000)
    parser.add_argument("--utts", type=int, default=5000)
    parser.add_argument("--top-n", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"# cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")

    labels = rng.random(args.trials) < 0.5
    scores = rng.normal(np.where(labels, 0.6, 0.1), 0.12).astype(np.float32).astype(np.float64)
    fast = median_seconds(lambda: compute_metrics(scores, labels, (0.01, 0.05)), args.runs, warmup=0)
    n_thresholds = np.unique(scores).size
    subset = np.sort(rng.choice(np.unique(scores), 200, replace=False))
    naive_sub = median_seconds(
        lambda: naive_metrics(scores, labels, subset), max(1, args.runs // 2), warmup=0
    )
    naive_full = naive_sub / subset.size * n_thresholds
    print(f"EER + minDCF(0.01, 0.05), {args.trials:,} trials: {fast:.3f} s (median of {args.runs})")
    per = naive_sub / subset.size * 1e3
    print(
        f"  naive per-threshold loop: {per:.2f} ms/threshold x {n_thresholds:,} thresholds = "
        f"{naive_full:.0f} s (extrapolated from {subset.size}); ratio {naive_full / fast:,.0f}x"
    )

    vec = rng.normal(size=(args.utts, 192)).astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    coh = rng.normal(size=(args.cohort, 192)).astype(np.float32)
    coh /= np.linalg.norm(coh, axis=1, keepdims=True)
    fast_stats = median_seconds(lambda: cohort_stats(vec, coh, args.top_n), args.runs, warmup=0)
    enroll = rng.integers(0, args.utts, args.trials)
    test = rng.integers(0, args.utts, args.trials)
    raw = np.einsum("ij,ij->i", vec[enroll], vec[test])
    fast_all = median_seconds(
        lambda: asnorm_scores(raw, enroll, test, vec, coh, args.top_n), args.runs, warmup=0
    )
    sub = 250
    naive_sub = median_seconds(lambda: naive_stats(vec[:sub], coh, args.top_n), 1, warmup=0)
    naive_full = naive_sub / sub * args.utts
    print(
        f"AS-norm cohort stats, {args.utts:,} utts x {args.cohort:,} cohort, top-{args.top_n}: "
        f"{fast_stats:.3f} s; with {args.trials:,} trial scores normalised: {fast_all:.3f} s"
    )
    print(
        f"  naive per-utterance loop (dot + full sort): {naive_full:.2f} s (extrapolated from {sub}); "
        f"ratio {naive_full / fast_stats:.1f}x"
    )
    mu_f, sd_f = cohort_stats(vec[:sub], coh, args.top_n)
    mu_n, sd_n = naive_stats(vec[:sub], coh, args.top_n)
    d_mu, d_sd = np.abs(mu_f - mu_n).max(), np.abs(sd_f - sd_n).max()
    print(f"  max |difference| fast vs naive: mu {d_mu:.2e}, sd {d_sd:.2e}")


if __name__ == "__main__":
    main()
