"""Similarity and distance between embedding matrices, and exact top-k: pure numpy/scipy.

Pairwise functions take (n, d) and (m, d) arrays (1-D arrays count as one row) and return an
(n, m) float32 matrix; `paired` scores row i of a against row i of b. `cosine` and `dot` are similarities
(higher is closer); `euclidean` and `manhattan` are distances (lower is closer). Ranked results come as
(scores, indices), the order FAISS and the index layer use.
"""

from __future__ import annotations

import numpy as np

from simvec.errors import InputError
from simvec.types import METRICS, Metric, one_of

_DISTANCES = ("euclidean", "manhattan")
# Queries are scored against all documents this many at a time, bounding the score matrix.
_QUERY_BLOCK = 1024


def _matrix(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"{name} must be a 1-D vector or a 2-D matrix, got shape {x.shape}")
    return x


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _matrix(a, "a"), _matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"dimension mismatch: a has {a.shape[1]} dimensions, b has {b.shape[1]}")
    return a, b


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale each row (the last axis) to unit length; zero rows stay zero."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity matrix."""
    a, b = _pair(a, b)
    return l2_normalize(a) @ l2_normalize(b).T


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot-product matrix."""
    a, b = _pair(a, b)
    return a @ b.T


def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix."""
    from scipy.spatial.distance import cdist  # lazy: scipy.spatial costs every CLI start ~0.3 s

    a, b = _pair(a, b)
    return cdist(a, b, "euclidean").astype(np.float32)


def manhattan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Manhattan (L1) distance matrix."""
    from scipy.spatial.distance import cdist

    a, b = _pair(a, b)
    return cdist(a, b, "cityblock").astype(np.float32)


def check_metric(metric: str) -> Metric:
    """Return `metric` if simvec knows it, else raise an InputError listing the valid ones."""
    return one_of(metric, METRICS, "metric")


def pairwise(a: np.ndarray, b: np.ndarray, metric: Metric = "cosine") -> np.ndarray:
    """The `metric` matrix between rows of `a` and rows of `b`."""
    check_metric(metric)
    return {"cosine": cosine, "dot": dot, "euclidean": euclidean, "manhattan": manhattan}[metric](a, b)


def paired(a: np.ndarray, b: np.ndarray, metric: Metric = "cosine") -> np.ndarray:
    """Row-wise `metric`: a float32 vector whose item i compares row i of `a` with row i of `b`."""
    check_metric(metric)
    a, b = _pair(a, b)
    if len(a) != len(b):
        raise InputError(f"paired rows: a has {len(a)} rows, b has {len(b)}")
    if metric == "cosine":
        a, b = l2_normalize(a), l2_normalize(b)
    if metric in ("cosine", "dot"):
        return np.einsum("ij,ij->i", a, b)
    difference = a - b
    if metric == "euclidean":
        return np.linalg.norm(difference, axis=1).astype(np.float32)
    return np.abs(difference).sum(axis=1, dtype=np.float32)


def higher_is_closer(metric: Metric) -> bool:
    """True for similarities (cosine, dot), False for distances."""
    return metric not in _DISTANCES


def top_k(
    query_vecs: np.ndarray, doc_vecs: np.ndarray, k: int, metric: Metric = "cosine"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest documents per query: (scores, indices), best first; 1-D query -> 1-D results.

    Equal scores are ordered by document index. k larger than the number of documents returns them all.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise InputError(f"k must be a positive integer, got {k!r}")
    single = np.asarray(query_vecs).ndim == 1
    queries, docs = _pair(query_vecs, doc_vecs)
    k = min(int(k), len(docs))
    sign = 1.0 if higher_is_closer(metric) else -1.0
    indices = np.empty((len(queries), k), dtype=np.int64)
    scores = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), _QUERY_BLOCK):
        block = pairwise(queries[start : start + _QUERY_BLOCK], docs, metric) * sign
        if k < len(docs):
            part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(len(docs)), block.shape)
        part_scores = np.take_along_axis(block, part, axis=1)
        # lexsort: primary key descending score, secondary ascending index (deterministic ties)
        order = np.lexsort((part, -part_scores), axis=1)
        indices[start : start + len(block)] = np.take_along_axis(part, order, axis=1)
        scores[start : start + len(block)] = np.take_along_axis(part_scores, order, axis=1) * sign
    return (scores[0], indices[0]) if single else (scores, indices)
