"""VectorIndex: every kind finds what exact search finds, selectors pre-filter, files are stamped and atomic."""

from __future__ import annotations

import numpy as np
import pytest

from simvec.index import VectorIndex, exact_search
from simvec.vectors.similarity import top_k


def unit(rng: np.random.Generator, n: int, d: int = 32) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    vectors = unit(rng, 2000)
    labels = np.arange(1000, 3000, dtype=np.int64)  # labels are not positions
    return vectors, labels, unit(rng, 20)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_every_kind_agrees_with_numpy_exact_top_k(data, kind):
    vectors, labels, queries = data
    index = VectorIndex.build(kind, "ip", 32, labels, vectors, generation=7)
    assert index.ntotal == 2000 and index.stamp.generation == 7 and index.stamp.max_label == 2999
    scores, found = index.search(queries, 10, nprobe=64)  # nprobe >= nlist: IVF scans every list, so exact
    truth_scores, truth = top_k(queries, vectors, 10)
    overlap = np.mean([len(set(f) & set(labels[t])) / 10 for f, t in zip(found, truth, strict=False)])
    assert overlap >= (1.0 if kind != "hnsw" else 0.98)
    if kind == "flat":
        np.testing.assert_allclose(scores, truth_scores, atol=1e-5)


def test_l2_scores_are_euclidean_distances(data):
    vectors, labels, queries = data
    index = VectorIndex.build("flat", "l2", 32, labels, vectors)
    scores, found = index.search(queries[:1], 3)
    expected = np.linalg.norm(vectors[found[0] - 1000] - queries[0], axis=1)
    np.testing.assert_allclose(scores[0], expected, rtol=1e-5)
    assert list(scores[0]) == sorted(scores[0])


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_allow_selector_restricts_results(data, kind):
    vectors, labels, queries = data
    index = VectorIndex.build(kind, "ip", 32, labels, vectors)
    allow = labels[::7]
    _, found = index.search(queries, 10, allow=allow)
    valid = found[found >= 0]
    assert len(valid) and set(valid) <= set(allow)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_exclude_selector_hides_dead_labels(data, kind):
    vectors, labels, queries = data
    index = VectorIndex.build(kind, "ip", 32, labels, vectors)
    _, before = index.search(queries, 5)
    dead = np.unique(before[:, 0])
    _, after = index.search(queries, 5, exclude=dead)
    assert not set(after.ravel()) & set(dead)
    assert (after >= 0).all()


def test_exact_search_pads_when_fewer_than_k(data):
    vectors, labels, queries = data
    scores, found = exact_search(queries[:2], vectors[:3], labels[:3], 5, "ip")
    assert (found[:, 3:] == -1).all() and set(found[0, :3]) == set(labels[:3])


def test_save_load_keeps_stamp_and_results(tmp_path, data):
    vectors, labels, queries = data
    index = VectorIndex.build("hnsw", "ip", 32, labels, vectors, generation=3)
    path = tmp_path / "index.faiss"
    index.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["index.faiss"]  # no temporary file left behind
    loaded = VectorIndex.load(path)
    assert loaded.stamp == index.stamp
    np.testing.assert_array_equal(loaded.search(queries, 5)[1], index.search(queries, 5)[1])


def test_missing_or_corrupt_file_loads_as_none(tmp_path):
    assert VectorIndex.load(tmp_path / "nope.faiss") is None
    bad = tmp_path / "bad.faiss"
    bad.write_bytes(b"SIMVECIX1\n\x05\x00\x00\x00{}")
    assert VectorIndex.load(bad) is None
    bad.write_bytes(b"garbage")
    assert VectorIndex.load(bad) is None


def test_bad_kind_and_shape_are_rejected(data):
    vectors, labels, _ = data
    with pytest.raises(ValueError, match="unknown index kind 'annoy'"):
        VectorIndex.build("annoy", "ip", 32, labels, vectors)
    with pytest.raises(ValueError, match=r"shape \(n, 16\)"):
        VectorIndex.build("flat", "ip", 16, labels, vectors)
    with pytest.raises(ValueError, match="cannot be built empty"):
        VectorIndex.build("ivf", "ip", 32, labels[:0], vectors[:0])
