"""Embedding tables and cosine scoring (whole-utterance and the official 10 x 10 crop mean).

Stage 4 writes, per data directory, `xvector.scp` (one vector per utterance) and `crops.scp` (a
(num_crops, dim) matrix per utterance). Every trial score is a dot product of two *scoring vectors*:

- `utt` protocol: the L2-normalised utterance vector, so the score is the cosine similarity;
- `crops` protocol: the mean of the L2-normalised crop vectors. The dot product of two such means is
  exactly the mean of the num_crops x num_crops pairwise crop cosines (the official score), computed in
  O(dim) per trial instead of O(num_crops^2 dim).

Optionally a mean vector (of the cohort/training embeddings) is subtracted before normalising.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssrfnet.errors import SSRFNetError
from ssrfnet.scoring.metrics import ScoreError

PROTOCOLS = ("crops", "utt")


class EmbeddingError(SSRFNetError, ValueError):
    """Missing or malformed embeddings; the message names the key, file and sizes."""


@dataclass
class Embeddings:
    keys: list[str]
    vectors: np.ndarray  # (n, dim) float32
    crops: np.ndarray | None = None  # (n, num_crops, dim) float32
    source: str = ""

    def __post_init__(self):
        self.index = {k: i for i, k in enumerate(self.keys)}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def _read_scp_arrays(scp: Path, ndim: int, expect_shape: tuple | None):
    import kaldiio

    keys, arrays = [], []
    shape = expect_shape
    for key, value in kaldiio.load_scp_sequential(str(scp)):
        arr = np.asarray(value, dtype=np.float32)
        if arr.ndim != ndim:
            raise EmbeddingError(f"{scp}: key {key!r} has shape {arr.shape}, expected a {ndim}-d array")
        if shape is None:
            shape = arr.shape
        if arr.shape != shape:
            raise EmbeddingError(
                f"{scp}: embedding of {key!r} has size {tuple(arr.shape)}, expected {tuple(shape)} "
                "(the size of the others / the model's embedding size)"
            )
        if not np.all(np.isfinite(arr)):
            raise EmbeddingError(f"{scp}: embedding of {key!r} contains NaN or inf")
        keys.append(key)
        arrays.append(arr)
    if not keys:
        raise EmbeddingError(f"{scp}: no embeddings")
    return keys, np.stack(arrays)


def load_embeddings(
    emb_dir: str | os.PathLike, *, crops: bool = False, dim: int | None = None
) -> Embeddings:
    """Read `<emb_dir>/xvector.scp` (and `crops.scp` when `crops`), checking sizes and key agreement."""
    emb_dir = Path(emb_dir)
    scp = emb_dir / "xvector.scp"
    if not scp.is_file():
        raise EmbeddingError(f"{scp}: not found (run stage 4, steps/extract_embeddings.sh, first)")
    keys, vectors = _read_scp_arrays(scp, 1, None if dim is None else (dim,))
    crop_arr = None
    if crops:
        cscp = emb_dir / "crops.scp"
        if not cscp.is_file():
            raise EmbeddingError(
                f"{cscp}: not found; the crops protocol needs per-crop embeddings "
                "(extract with --eval-write-crops true, or score with --eval-protocol utt)"
            )
        ckeys, crop_arr = _read_scp_arrays(cscp, 2, None)
        if crop_arr.shape[2] != vectors.shape[1]:
            raise EmbeddingError(
                f"{cscp}: crop embeddings have size {crop_arr.shape[2]}, xvector.scp has {vectors.shape[1]}"
            )
        if ckeys != keys:
            missing = sorted(set(keys) ^ set(ckeys))[:5]
            raise EmbeddingError(f"{emb_dir}: xvector.scp and crops.scp hold different keys, e.g. {missing}")
    return Embeddings(keys, vectors, crop_arr, source=str(emb_dir))


def l2_normalise(x: np.ndarray, axis: int = -1) -> np.ndarray:
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def scoring_vectors(emb: Embeddings, protocol: str, mean: np.ndarray | None = None) -> np.ndarray:
    """(n, dim) vectors whose dot products are the trial scores of `protocol` (see module doc)."""
    if protocol not in PROTOCOLS:
        raise EmbeddingError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if protocol == "crops":
        if emb.crops is None:
            raise EmbeddingError(f"{emb.source}: no crop embeddings loaded for the crops protocol")
        x = emb.crops if mean is None else emb.crops - mean
        return l2_normalise(x).mean(axis=1).astype(np.float32)
    x = emb.vectors if mean is None else emb.vectors - mean
    return l2_normalise(x).astype(np.float32)


def trial_indices(trials, emb: Embeddings, trials_name: str = "trials") -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the enroll and test utterances of each trial; names the first missing key."""
    index = emb.index
    enroll = np.empty(len(trials), dtype=np.int64)
    test = np.empty(len(trials), dtype=np.int64)
    for n, (e, t, *_rest) in enumerate(trials):
        try:
            enroll[n] = index[e]
            test[n] = index[t]
        except KeyError as err:
            missing = sum(1 for tr in trials if tr[0] not in index or tr[1] not in index)
            raise ScoreError(
                f"{trials_name}:{n + 1}: no embedding for utterance {err.args[0]!r} in {emb.source} "
                f"({missing} of {len(trials)} trials name utterances without embeddings)"
            ) from None
    return enroll, test


def cosine_scores(
    vectors: np.ndarray, enroll: np.ndarray, test: np.ndarray, chunk: int = 200_000
) -> np.ndarray:
    """Row-wise dot products vectors[enroll] . vectors[test], in chunks to bound memory."""
    out = np.empty(len(enroll), dtype=np.float64)
    for start in range(0, len(enroll), chunk):
        e = vectors[enroll[start : start + chunk]]
        t = vectors[test[start : start + chunk]]
        out[start : start + chunk] = np.einsum("ij,ij->i", e, t, dtype=np.float64)
    return out


def score_trials(emb: Embeddings, trials, protocol: str = "crops", mean: np.ndarray | None = None,
                 trials_name: str = "trials") -> tuple[np.ndarray, np.ndarray]:
    """(scores, target labels) of (enroll, test, target) trials under `protocol`."""
    enroll, test = trial_indices(trials, emb, trials_name)
    labels = np.fromiter((bool(t[2]) for t in trials), dtype=bool, count=len(trials))
    return cosine_scores(scoring_vectors(emb, protocol, mean), enroll, test), labels


def speaker_means(emb: Embeddings, utt2spk: dict[str, str], mean: np.ndarray | None = None) -> np.ndarray:
    """Cohort: the per-speaker mean of the (mean-subtracted) utterance vectors, L2-normalised, (S, dim)."""
    spk_ids = {}
    rows = np.empty(len(emb.keys), dtype=np.int64)
    for i, key in enumerate(emb.keys):
        if key not in utt2spk:
            raise EmbeddingError(f"{emb.source}: utterance {key!r} is not in the cohort's utt2spk")
        rows[i] = spk_ids.setdefault(utt2spk[key], len(spk_ids))
    x = emb.vectors.astype(np.float64)
    if mean is not None:
        x = x - mean
    sums = np.zeros((len(spk_ids), x.shape[1]))
    np.add.at(sums, rows, x)
    counts = np.bincount(rows, minlength=len(spk_ids))[:, None]
    return l2_normalise(sums / counts).astype(np.float32)
