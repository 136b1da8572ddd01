"""Pure similarity math: checked against independent formulas and brute-force sorting."""

import numpy as np
import pytest

from simvec.vectors import similarity as sim


@pytest.fixture
def vectors():
    rng = np.random.default_rng(7)
    return rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=(9, 8)).astype(np.float32)


def test_cosine_matches_formula(vectors):
    a, b = vectors
    expected = np.array([[x @ y / np.linalg.norm(x) / np.linalg.norm(y) for y in b] for x in a])
    np.testing.assert_allclose(sim.cosine(a, b), expected, rtol=1e-5, atol=1e-6)


def test_dot_euclidean_manhattan_match_formulas(vectors):
    a, b = vectors
    np.testing.assert_allclose(sim.dot(a, b), a @ b.T, rtol=1e-5)
    np.testing.assert_allclose(sim.euclidean(a, b), [[np.linalg.norm(x - y) for y in b] for x in a], rtol=1e-5)
    np.testing.assert_allclose(sim.manhattan(a, b), [[np.abs(x - y).sum() for y in b] for x in a], rtol=1e-5)


def test_one_dimensional_inputs_are_single_rows(vectors):
    a, b = vectors
    assert sim.cosine(a[0], b).shape == (1, 9)
    assert sim.cosine(a[0], b[0]).shape == (1, 1)


def test_dimension_mismatch_names_both():
    with pytest.raises(ValueError, match="a has 3 dimensions, b has 4"):
        sim.cosine(np.ones((2, 3)), np.ones((2, 4)))


def test_unknown_metric_lists_valid():
    with pytest.raises(ValueError, match="cosine, dot, euclidean, manhattan"):
        sim.pairwise(np.ones((1, 2)), np.ones((1, 2)), "hamming")


@pytest.mark.parametrize("metric", sim.METRICS)
def test_top_k_equals_brute_force(vectors, metric):
    queries, docs = vectors
    scores, indices = sim.top_k(queries, docs, k=4, metric=metric)
    full = sim.pairwise(queries, docs, metric)
    for row, (idx, sc) in enumerate(zip(indices, scores, strict=False)):
        order = np.argsort(-full[row] if sim.higher_is_closer(metric) else full[row], kind="stable")[:4]
        np.testing.assert_array_equal(idx, order)
        np.testing.assert_allclose(sc, full[row][order], rtol=1e-6)


def test_top_k_sorted_best_first_and_single_query(vectors):
    queries, docs = vectors
    scores, idx = sim.top_k(queries[0], docs, k=9)
    assert idx.shape == (9,) and sorted(idx.tolist()) == list(range(9))
    assert np.all(np.diff(scores) <= 0)
    distances, _ = sim.top_k(queries[0], docs, k=3, metric="euclidean")
    assert np.all(np.diff(distances) >= 0)


def test_top_k_k_larger_than_docs_returns_all(vectors):
    queries, docs = vectors
    _, idx = sim.top_k(queries, docs, k=100)
    assert idx.shape == (5, 9)


def test_top_k_ties_ordered_by_index():
    docs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    _, idx = sim.top_k(np.array([1.0, 0.0]), docs, k=4)
    assert idx.tolist() == [0, 2, 3, 1]


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_top_k_rejects_bad_k(vectors, k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        sim.top_k(*vectors, k=k)


@pytest.mark.parametrize("metric", sim.METRICS)
def test_paired_is_the_diagonal_of_pairwise(vectors, metric):
    queries, docs = vectors
    rows = min(len(queries), len(docs))
    expected = np.diag(sim.pairwise(queries[:rows], docs[:rows], metric))
    np.testing.assert_allclose(sim.paired(queries[:rows], docs[:rows], metric), expected, rtol=1e-5, atol=1e-6)
    assert sim.paired(queries[0], docs[0], metric).shape == (1,)


def test_paired_needs_as_many_rows_in_both():
    with pytest.raises(ValueError, match="a has 2 rows, b has 3"):
        sim.paired(np.ones((2, 4)), np.ones((3, 4)))
