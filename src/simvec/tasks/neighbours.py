"""k nearest neighbours by cosine between two sets of vectors, with FAISS, memory bounded by n x k (never n x m).

Small inputs are searched exactly (`faiss.knn` works through the matrix in blocks). Above `EXACT_LIMIT`
query x base products an IVF-flat index is trained on the base set and probed widely: dedup and mining
look for *close* pairs, which share or neighbour an IVF cell, so the recall of the pairs that matter
stays near 1 (BENCHMARKS.md measures it against exact search).
"""

from __future__ import annotations

import faiss
import numpy as np

from simvec.errors import InputError
from simvec.vectors.similarity import l2_normalize

EXACT_LIMIT = 25_000_000  # query x base pairs searched exactly (a 5k x 5k self-join takes ~1 s on one core)
IVF_LISTS_PER_SQRT = 2  # lists = 2 sqrt(m): k-means cost grows with lists squared, search cost with m / lists
IVF_TRAIN_PER_LIST = 20  # k-means on a seeded sample of 20 points per list places the lists well enough
IVF_PROBES = 8  # lists probed per query (at least; 1/64 of them on large sets)


def unit_rows(vectors: object, name: str = "vectors") -> np.ndarray:
    """A float32 (n, d) C-contiguous matrix of unit rows; errors name what is wrong."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise InputError(f"{name} must be a 2-D (n, dimension) matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        row = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
        raise InputError(f"{name}[{row}] contains NaN or infinity")
    return np.ascontiguousarray(l2_normalize(matrix), dtype=np.float32)


def knn(queries: np.ndarray, base: np.ndarray, k: int, *, exact: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k most cosine-similar rows of `base` per row of `queries`: (scores, indices), best first, -1 padded.

    Both inputs must already be unit rows (see `unit_rows`). `exact=None` chooses by size.
    """
    n, m = len(queries), len(base)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    indices = np.full((n, k), -1, dtype=np.int64)
    width = min(k, m)
    if n == 0 or width == 0:
        return scores, indices
    if exact is None:
        exact = n * m <= EXACT_LIMIT or m < 2_000
    if exact:
        found_scores, found = faiss.knn(queries, base, width, metric=faiss.METRIC_INNER_PRODUCT)
    else:
        nlist = max(1, int(IVF_LISTS_PER_SQRT * np.sqrt(m)))
        quantizer = faiss.IndexFlatIP(base.shape[1])
        index = faiss.IndexIVFFlat(quantizer, base.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(m, size=min(m, IVF_TRAIN_PER_LIST * nlist), replace=False)
        index.cp.seed, index.cp.niter, index.cp.min_points_per_centroid = 0, 10, 1
        index.train(base[np.sort(sample)])
        index.add(base)
        index.nprobe = min(nlist, max(IVF_PROBES, nlist // 64))
        found_scores, found = index.search(queries, width)
    scores[:, :width] = np.where(found >= 0, found_scores, -np.inf)
    indices[:, :width] = found
    return scores, indices
