"""AS-norm and cosine scoring against straightforward loop implementations."""

import numpy as np
import pytest

from ssrfnet.scoring.asnorm import asnorm_scores, cohort_stats
from ssrfnet.scoring.cosine import Embeddings, cosine_scores, scoring_vectors, speaker_means


def reference_asnorm(emb_e, emb_t, cohort, top_n):
    """One trial at a time, the textbook way."""
    def unit(v):
        return v / np.linalg.norm(v)

    e, t = unit(emb_e), unit(emb_t)
    c = np.array([unit(x) for x in cohort])
    s = float(e @ t)
    se = np.sort(c @ e)[::-1][:top_n]
    st = np.sort(c @ t)[::-1][:top_n]
    return 0.5 * ((s - se.mean()) / se.std() + (s - st.mean()) / st.std())


@pytest.mark.parametrize("top_n", [5, 40, 1000])
def test_asnorm_matches_reference(top_n):
    rng = np.random.default_rng(1)
    utts = rng.normal(size=(12, 16)).astype(np.float32)
    cohort_raw = rng.normal(size=(40, 16)).astype(np.float32)
    emb = Embeddings([f"u{i}" for i in range(12)], utts)
    vec = scoring_vectors(emb, "utt")
    cohort = cohort_raw / np.linalg.norm(cohort_raw, axis=1, keepdims=True)
    enroll = np.array([0, 1, 2, 3, 0, 5])
    test = np.array([4, 6, 7, 8, 9, 11])
    raw = cosine_scores(vec, enroll, test)
    got = asnorm_scores(raw, enroll, test, vec, cohort, top_n)
    want = [reference_asnorm(utts[e], utts[t], cohort_raw, top_n) for e, t in zip(enroll, test)]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_cohort_stats_chunking_is_invisible():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    c = rng.normal(size=(30, 8)).astype(np.float32)
    a = cohort_stats(x, c, 7, chunk=4)
    b = cohort_stats(x, c, 7, chunk=1000)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)


def test_crop_protocol_is_mean_of_pairwise_cosines():
    rng = np.random.default_rng(3)
    crops = rng.normal(size=(3, 10, 8)).astype(np.float32)
    emb = Embeddings(["a", "b", "c"], crops.mean(axis=1), crops)
    vec = scoring_vectors(emb, "crops")
    got = cosine_scores(vec, np.array([0, 0]), np.array([1, 2]))
    for k, j in enumerate([1, 2]):
        pair = [
            float(x @ y / np.linalg.norm(x) / np.linalg.norm(y)) for x in crops[0] for y in crops[j]
        ]
        assert got[k] == pytest.approx(np.mean(pair), rel=1e-5)


def test_mean_subtraction_and_speaker_means():
    vecs = np.array([[1, 0], [3, 0], [0, 2], [0, 4]], dtype=np.float32)
    emb = Embeddings(["s1-a", "s1-b", "s2-a", "s2-b"], vecs)
    cohort = speaker_means(emb, {"s1-a": "s1", "s1-b": "s1", "s2-a": "s2", "s2-b": "s2"})
    np.testing.assert_allclose(cohort, [[1, 0], [0, 1]])
    mean = vecs.mean(axis=0)
    v = scoring_vectors(emb, "utt", mean)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(v[0], (vecs[0] - mean) / np.linalg.norm(vecs[0] - mean), rtol=1e-6)
