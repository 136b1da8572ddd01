"""Calibrated relevance, the pure part: noise model, labelled maps, set metrics, the fixed-cutoff baseline."""

from __future__ import annotations

import json
from itertools import product

import numpy as np
import pytest

from simvec.errors import InputError
from simvec.tasks.relevance import (
    Calibration,
    NoiseModel,
    best_fixed_cutoff,
    check_min_relevance,
    fit_labelled,
    fit_noise,
    labels_for,
    set_metrics,
)


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def noise_world():
    """2,000 random documents with a shared offset (so queries differ in their chance mean) and a fitted noise model."""
    rng = np.random.default_rng(1)
    d = 32
    offset = np.zeros(d, dtype=np.float32)
    offset[0] = 1.5
    docs = _unit(rng, 2000, d) + offset
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    pseudo = docs[:200] + 0.3 * _unit(rng, 200, d)
    pseudo /= np.linalg.norm(pseudo, axis=1, keepdims=True)
    model = fit_noise(docs, pseudo, sources=np.arange(200))
    return rng, docs, model


def test_noise_moments_match_the_empirical_score_distribution(noise_world):
    rng, docs, model = noise_world
    queries = _unit(rng, 50, docs.shape[1])
    mu, sigma = model.moments(queries)
    scores = queries @ docs.T
    np.testing.assert_allclose(mu, scores.mean(axis=1), atol=1e-3)
    np.testing.assert_allclose(sigma, scores.std(axis=1), rtol=0.02)


def test_noise_relevance_of_a_chance_best_hit_is_uniform_and_a_planted_match_scores_near_one(noise_world):
    rng, docs, model = noise_world
    calibration = Calibration("noise", "m", docs.shape[1], "cosine", "none", len(docs), model)
    # Fresh queries drawn like the pseudo-queries (document-like, plus noise) but unrelated to any stored document.
    offset = np.zeros(docs.shape[1], dtype=np.float32)
    offset[0] = 1.5
    queries = _unit(rng, 400, docs.shape[1]) + offset
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True) + 0.3 * _unit(rng, 400, docs.shape[1])
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    best = (queries @ docs.T).max(axis=1, keepdims=True)
    relevance = calibration.relevance(best, queries)[:, 0]
    # Under pure noise exp(-E) of the best hit is ~uniform: mean 0.5 and ~5% above 0.95.
    assert 0.4 < relevance.mean() < 0.6
    assert 0.01 < (relevance >= 0.95).mean() < 0.10
    planted = docs[:20] + 0.05 * _unit(rng, 20, docs.shape[1])  # near-copies of documents 0..19
    planted /= np.linalg.norm(planted, axis=1, keepdims=True)
    own = np.einsum("ij,ij->i", planted, docs[:20])[:, None]
    assert (calibration.relevance(own, planted)[:, 0] > 0.999).all()
    # A bigger collection has more chances to produce a high score by chance: the same score is less convincing.
    assert (calibration.relevance(best, queries, n_documents=20_000) <= relevance[:, None] + 1e-12).all()


def test_relevance_never_falls_as_the_score_rises(noise_world):
    rng, docs, model = noise_world
    grid = np.linspace(-0.5, 1.0, 301)[None, :]
    query = _unit(rng, 1, docs.shape[1])
    calibration = Calibration("noise", "m", docs.shape[1], "cosine", "none", len(docs), model)
    values = calibration.relevance(grid, query)[0]
    assert (np.diff(values) >= -1e-12).all() and values[0] < 1e-6 and values[-1] > 0.999


def _labelled_world(rng: np.random.Generator, model: NoiseModel, d: int, queries: int = 120, k: int = 30):
    """Hits whose true P(relevant) is a logistic function of the score."""
    vectors = _unit(rng, queries, d)
    scores = [np.sort(rng.uniform(0.0, 0.9, size=k))[::-1] for _ in range(queries)]
    truth = [1 / (1 + np.exp(-12 * (s - 0.6))) for s in scores]
    labels = [(rng.uniform(size=k) < p).astype(np.int64) for p in truth]
    return vectors, scores, labels, truth


@pytest.mark.parametrize("method", ["logistic", "isotonic"])
def test_labelled_calibration_recovers_the_true_probability(noise_world, method):
    rng, docs, model = noise_world
    vectors, scores, labels, _ = _labelled_world(rng, model, docs.shape[1])
    mapping, stats = fit_labelled(scores, labels, vectors, model, method=method)
    assert method == "isotonic" or mapping["features"][0] == "score"
    assert stats["queries"] == 120 and stats["pairs"] == 120 * 30
    calibration = Calibration(method, "m", docs.shape[1], "cosine", "none", len(docs), model, mapping, stats)
    probe = np.array([[0.3, 0.6, 0.8]] * 5)
    got = calibration.relevance(probe, vectors[:5])
    expected = 1 / (1 + np.exp(-12 * (probe - 0.6)))
    np.testing.assert_allclose(got, expected, atol=0.12 if method == "isotonic" else 0.06)
    # Round trip through JSON: the same numbers.
    again = Calibration.from_dict(json.loads(json.dumps(calibration.as_dict())))
    np.testing.assert_allclose(again.relevance(probe, vectors[:5]), got)


def test_top_gap_compares_each_hit_with_the_query_best(noise_world):
    rng, docs, model = noise_world
    vectors, scores, labels, _ = _labelled_world(rng, model, docs.shape[1])
    mapping, _ = fit_labelled(scores, labels, vectors, model, features=["score", "noise_z", "top_gap"])
    calibration = Calibration("logistic", "m", docs.shape[1], "cosine", "none", len(docs), model, mapping)
    if "top_gap" in mapping["features"]:
        # The same score reads as more relevant when it is its query's best than when a better hit exists.
        alone = calibration.relevance(np.array([[0.6]]), vectors[:1])[0, 0]
        behind = calibration.relevance(np.array([[0.9, 0.6]]), vectors[:1])[0, 1]
        assert alone > behind
    assert set(mapping["features"]) <= {"score", "noise_z", "top_gap"} and all(c >= 0 for c in mapping["coef"])


def test_logistic_drops_a_feature_that_would_make_relevance_fall_with_the_score(noise_world):
    rng, docs, model = noise_world
    d = docs.shape[1]
    vectors = _unit(rng, 200, d)
    mu, sigma = model.moments(vectors)
    # Relevance driven by the raw score alone, but queries with a high chance mean get more relevant hits, so
    # the noise z gets a negative weight when fitted jointly; the fit must drop it and stay monotone.
    scores = [np.sort(rng.uniform(m - 0.1, m + 0.6, size=20))[::-1] for m in mu]
    labels = [(rng.uniform(size=20) < 1 / (1 + np.exp(-10 * (s - 0.7)))).astype(np.int64) for s in scores]
    mapping, _ = fit_labelled(scores, labels, vectors, model)
    assert all(c >= 0 for c in mapping["coef"])
    calibration = Calibration("logistic", "m", d, "cosine", "none", len(docs), model, mapping)
    grid = np.linspace(-1, 1, 101)[None, :].repeat(10, axis=0)
    assert (np.diff(calibration.relevance(grid, vectors[:10]), axis=1) >= -1e-12).all()
    assert sigma.min() > 0


def test_bad_calibration_input_is_named(noise_world):
    rng, docs, model = noise_world
    with pytest.raises(InputError, match="both relevant and non-relevant"):
        fit_labelled([np.array([0.5, 0.4])], [np.array([0, 0])], _unit(rng, 1, docs.shape[1]), model)
    with pytest.raises(InputError, match="unknown labelled calibration method 'svm'"):
        fit_labelled([np.array([0.5])], [np.array([1])], _unit(rng, 1, docs.shape[1]), model, method="svm")
    with pytest.raises(InputError, match="features must be distinct names from score, noise_z, top_gap; got bogus"):
        fit_labelled(
            [np.array([0.5, 0.1])], [np.array([1, 0])], _unit(rng, 1, docs.shape[1]), model, features=["bogus"]
        )
    with pytest.raises(InputError, match="at least 2 documents"):
        fit_noise(docs[:1], docs[:1])
    calibration = Calibration("noise", "m", docs.shape[1], "cosine", "none", len(docs), model)
    with pytest.raises(InputError, match=r"query_vectors must have shape \(2, 32\)"):
        calibration.relevance(np.zeros((2, 3)), _unit(rng, 1, docs.shape[1]))
    data = calibration.as_dict() | {"version": 99}
    with pytest.raises(InputError, match="calibration format version 99 is not supported"):
        Calibration.from_dict(data)


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "0.5", True, None])
def test_min_relevance_outside_its_range_is_refused(value):
    with pytest.raises(InputError, match=r"min_relevance must be a number in \[0, 1\]"):
        check_min_relevance(value)


def test_min_relevance_accepts_the_closed_range():
    assert check_min_relevance(0) == 0.0 and check_min_relevance(1) == 1.0 and check_min_relevance(0.5) == 0.5


def test_set_metrics():
    assert set_metrics(["a", "b", "c", "d"], {"a", "x"}) == (0.25, 0.5, pytest.approx(2 * 0.25 * 0.5 / 0.75))
    assert set_metrics([], {"a"}) == (0.0, 0.0, 0.0)  # nothing returned for a query with relevant documents
    assert set_metrics(["a"], set()) == (0.0, 0.0, 0.0)
    assert labels_for([["a", "b"]], [{"b"}])[0].tolist() == [0, 1]


def test_best_fixed_cutoff_matches_brute_force():
    rng = np.random.default_rng(3)
    ids = [[f"d{j}" for j in range(15)] for _ in range(25)]
    scores = [np.round(np.sort(rng.uniform(0, 1, 15))[::-1], 2) for _ in range(25)]  # rounding makes ties
    relevant = [set(rng.choice(ids[0], rng.integers(0, 4), replace=False)) for _ in range(25)]
    cutoff, f1 = best_fixed_cutoff(scores, ids, relevant)

    def mean_f1(c: float) -> float:
        return float(
            np.mean(
                [
                    set_metrics([d for d, s in zip(i, row, strict=True) if s >= c], rel)[2]
                    for i, row, rel in zip(ids, scores, relevant, strict=True)
                ]
            )
        )

    brute = {float(c): mean_f1(c) for c in np.unique(np.concatenate(scores))}
    assert f1 == pytest.approx(max(brute.values()))
    assert cutoff == max(c for c, v in brute.items() if v == pytest.approx(f1))
    assert mean_f1(cutoff) == pytest.approx(f1)
    assert all(mean_f1(c) <= f1 + 1e-12 for c, _ in product(brute, [0]))
