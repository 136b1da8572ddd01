"""Clustering on synthetic vectors (no model): methods, k selection, the sampled HDBSCAN path, keywords, errors."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from simvec.errors import InputError
from simvec.tasks import cluster as cluster_module
from simvec.tasks.cluster import NOISE, candidate_ks, cluster
from simvec.tasks.keywords import class_tfidf, cluster_keywords


def blobs(sizes=(40, 30, 20), dim=32, spread=0.05, seed=0):
    """Well-separated groups around random unit directions; returns (vectors, gold labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    vectors = np.concatenate([c + rng.normal(0, spread, (n, dim)) for c, n in zip(centres, sizes, strict=True)])
    gold = np.repeat(np.arange(len(sizes)), sizes)
    order = rng.permutation(len(gold))
    return vectors[order].astype(np.float32), gold[order]


@pytest.mark.parametrize("method, k", [("kmeans", 3), ("agglomerative", 3), ("kmeans", None), ("hdbscan", None)])
def test_methods_recover_separated_groups(method, k):
    vectors, gold = blobs()
    result = cluster(vectors, k, method, min_cluster_size=10 if method == "hdbscan" else None)
    assert result.k == 3 and result.noise == 0
    assert adjusted_rand_score(gold, result.labels) == pytest.approx(1.0)
    # ids ordered by size, largest first; sizes and centroids agree with the labels
    assert result.sizes.tolist() == [40, 30, 20]
    for c in result.clusters:
        members = vectors[result.labels == c.id]
        mean = members.mean(axis=0) / np.linalg.norm(members, axis=1, keepdims=True).mean()
        assert c.size == len(members)
        assert float(result.centroids[c.id] @ (mean / np.linalg.norm(mean))) > 0.99
        assert all(result.labels[i] == c.id for i in c.examples)


def test_k_none_reports_the_silhouette_of_every_candidate():
    vectors, _ = blobs(sizes=(50, 50, 50, 50), spread=0.1)
    result = cluster(vectors)
    assert result.k == 4
    assert set(result.k_scores) == set(candidate_ks(200))
    assert max(result.k_scores, key=result.k_scores.get) == 4


def test_examples_are_the_most_central_members():
    vectors, _ = blobs(sizes=(30, 30))
    result = cluster(vectors, 2, n_examples=5)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for c in result.clusters:
        members = np.flatnonzero(result.labels == c.id)
        expected = members[np.argsort(-(unit[members] @ result.centroids[c.id]))[:5]]
        assert c.examples == expected.tolist()


def test_sampled_hdbscan_transfers_labels_by_nearest_neighbours(monkeypatch):
    vectors, gold = blobs(sizes=(300, 200, 100), dim=24)
    full = cluster(vectors, method="hdbscan", min_cluster_size=30)
    monkeypatch.setattr(cluster_module, "HDBSCAN_SAMPLE", 150)
    sampled = cluster(vectors, method="hdbscan", min_cluster_size=30)
    assert full.k == sampled.k == 3
    assert adjusted_rand_score(gold, sampled.labels) == pytest.approx(1.0)
    assert sampled.sizes.tolist() == [300, 200, 100]


def test_hdbscan_marks_isolated_points_as_noise():
    vectors, _ = blobs(sizes=(40, 40), dim=16, spread=0.02)
    outliers = np.random.default_rng(1).normal(0, 3, (3, 16)).astype(np.float32)
    result = cluster(np.concatenate([vectors, outliers]), method="hdbscan", min_cluster_size=10)
    assert result.k == 2
    assert (result.labels[-3:] == NOISE).all() and result.noise == 3


def test_class_tfidf_matches_bertopic_formula():
    counts = np.array([[3, 0, 1], [0, 2, 1]], dtype=float)
    average = counts.sum(axis=1).mean()  # 3.5 words per class
    idf = np.log(average / counts.sum(axis=0) + 1)
    expected = counts / counts.sum(axis=1, keepdims=True) * idf
    np.testing.assert_allclose(class_tfidf(counts).toarray(), expected)


def test_keywords_name_what_sets_a_cluster_apart():
    texts = [
        "my card was declined",
        "card declined at the shop",
        "why is my card declined",
        "exchange rate for euros",
        "what exchange rate do you use",
        "bad exchange rate",
        "the weather is nice",
    ]
    labels = np.array([0, 0, 0, 1, 1, 1, -1])
    keywords = cluster_keywords(texts, labels, 2, top_n=3)
    assert keywords[0][0] in ("card declined", "declined", "card")
    assert "exchange rate" in keywords[1]
    assert not any("weather" in w for ws in keywords for w in ws)  # noise counts only towards the idf


@pytest.mark.parametrize(
    "data, kwargs, message",
    [
        (np.zeros((0, 8)), {}, "at least 2 texts or vectors, got 0"),
        (np.ones((1, 8)), {}, "at least 2 texts or vectors, got 1"),
        (np.eye(4, dtype=np.float32), {"k": 5}, "k=5 is out of range: 4 texts can form 1 to 4 clusters"),
        (np.eye(4, dtype=np.float32), {"k": 0}, "k=0 is out of range"),
        (np.eye(4, dtype=np.float32), {"method": "spectral"}, "unknown clustering method 'spectral'"),
        (np.eye(4, dtype=np.float32), {"method": "hdbscan", "k": 2}, "pass min_cluster_size instead of k"),
        (np.eye(4, dtype=np.float32), {"min_cluster_size": 2}, "applies to method='hdbscan' only"),
        (np.eye(4, dtype=np.float32), {"texts": ["a", "b"]}, "got 2 texts for 4 vectors"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), {}, "NaN or infinity (row 0)"),
    ],
)
def test_bad_input_is_named(data, kwargs, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cluster(data, **kwargs)


def test_two_distinct_vectors_with_k_none_form_one_cluster_not_a_crash():
    # The silhouette needs 2..n-1 clusters, so two points leave no candidate k (schemathesis found the 500).
    vectors = np.eye(4, dtype=np.float32)[:2]
    result = cluster(vectors)
    assert result.k == 1 and list(result.labels) == [0, 0]


@pytest.mark.parametrize("seed", [-1, 2**32, True])
def test_seed_outside_numpys_range_is_refused(seed):
    with pytest.raises(InputError, match="seed must be an integer in 0..4294967295"):
        cluster(np.eye(4, dtype=np.float32), seed=seed)
