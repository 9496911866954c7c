"""Stage 5: cosine / 10-crop scoring, AS-norm, EER and minDCF, DET plots and result tables."""

from ssrfnet.scoring.metrics import ScoreError, compute_eer, compute_metrics, compute_min_dcf, read_scores

__all__ = ["ScoreError", "compute_eer", "compute_metrics", "compute_min_dcf", "read_scores"]
