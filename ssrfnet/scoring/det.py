"""DET curves (miss vs false-alarm probability on normal-deviate axes), saved as PNG with matplotlib/Agg."""

from __future__ import annotations

import os

import numpy as np

from ssrfnet.fileio import atomic_write
from ssrfnet.scoring.metrics import roc_points

TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
TICK_LABELS = ["0.1", "0.2", "0.5", "1", "2", "5", "10", "20", "40"]


def _thin(fpr: np.ndarray, fnr: np.ndarray, max_points: int = 5000):
    """Keep at most ~max_points operating points (the curve of 600k trials has as many)."""
    if fpr.size <= max_points:
        return fpr, fnr
    keep = np.unique(np.linspace(0, fpr.size - 1, max_points).astype(np.int64))
    return fpr[keep], fnr[keep]


def plot_det(curves: dict[str, tuple], path: str | os.PathLike, title: str = "") -> None:
    """`curves`: label -> (scores, labels[, eer_percent]). Writes one PNG with all curves, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.special import ndtri

    lo, hi = ndtri(TICKS[0] / 2), ndtri(0.5)
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=100)
    for label, item in curves.items():
        scores, labels = item[0], item[1]
        fpr, fnr, _ = roc_points(scores, labels, name=label)
        fpr, fnr = _thin(fpr, fnr)
        eps = 1e-6
        x = ndtri(np.clip(fpr, eps, 1 - eps))
        y = ndtri(np.clip(fnr, eps, 1 - eps))
        text = label if len(item) < 3 else f"{label} (EER {item[2]:.2f}%)"
        ax.plot(x, y, linewidth=1.5, label=text)
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=0.5, linestyle=":")
    ticks = ndtri(TICKS)
    ax.set_xticks(ticks, TICK_LABELS)
    ax.set_yticks(ticks, TICK_LABELS)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("False alarm probability (%)")
    ax.set_ylabel("Miss probability (%)")
    ax.grid(True, linewidth=0.4, alpha=0.6)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png")
    plt.close(fig)
