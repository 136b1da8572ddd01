"""`VectorIndex`: a FAISS index over (label, vector) pairs with ID-selector filtering, stamped and saved atomically.

Labels are int64 ids chosen by the caller (the store uses its SQLite row sequence, never reused).
Every kind is wrapped in `IndexIDMap2`, so labels survive save/load and selectors speak in labels.
Nothing here deletes: a caller excludes dead labels with `exclude=` (HNSW cannot remove vectors) and
rebuilds when too many accumulate. Scores are inner products ("ip") or euclidean distances ("l2").
"""

from __future__ import annotations

import struct
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np

from simvec.atomic import atomic_write
from simvec.errors import InputError
from simvec.index.base import (
    CheckedReader,
    IndexStamp,
    check_new_labels,
    finish_scores,
    label_selector,
    labels_at,
    positions_of,
    read_header,
    sealed_header,
)

INDEX_KINDS = ("flat", "hnsw", "ivf")
METRICS = ("ip", "l2")
HNSW_M = 32  # graph degree: FAISS's usual choice for 384-d text embeddings
HNSW_EF_CONSTRUCTION = 64  # build cost grows with it; SciFact recall@10 vs exact is 0.997 with efSearch 128
HNSW_EF_SEARCH = 128  # default; search widens it to at least k
IVF_MIN_POINTS_PER_LIST = 39  # FAISS k-means wants >= 39 training points per centroid
_MAGIC = b"SIMVECIX1\n"


def _faiss_metric(metric: str) -> int:
    if metric not in METRICS:
        raise InputError(f"unknown index metric {metric!r}; valid: {', '.join(METRICS)}")
    return faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2


def ivf_lists(n: int) -> int:
    """Number of IVF lists for n vectors: about 4*sqrt(n), with enough training points per list."""
    return max(1, min(int(4 * np.sqrt(max(n, 1))), n // IVF_MIN_POINTS_PER_LIST))


def _as_matrix(vectors: np.ndarray, dimension: int) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dimension:
        raise InputError(f"expected vectors of shape (n, {dimension}), got {vectors.shape}")
    return vectors


def exact_search(
    queries: np.ndarray, vectors: np.ndarray, labels: np.ndarray, k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force k nearest of `vectors` (carrying `labels`) per query: (scores, labels), -1 padded."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    out_scores = np.full((len(queries), k), np.nan, dtype=np.float32)
    out_labels = np.full((len(queries), k), -1, dtype=np.int64)
    if len(vectors):
        scores, positions = faiss.knn(
            queries, np.ascontiguousarray(vectors, dtype=np.float32), min(k, len(vectors)), metric=_faiss_metric(metric)
        )
        width = positions.shape[1]
        out_scores[:, :width] = scores
        out_labels[:, :width] = np.where(positions >= 0, np.asarray(labels, dtype=np.int64)[positions], -1)
    return finish_scores(out_scores, out_labels, metric)


class VectorIndex:
    """One FAISS index (flat, HNSW or IVF) addressed by int64 labels."""

    def __init__(self, index: faiss.Index, stamp: IndexStamp) -> None:
        self.index = index
        self.stamp = stamp
        self._positions: np.ndarray | None = None  # position -> label, increasing (labels are added in order)

    def _known(self) -> np.ndarray:
        if self._positions is None:
            self._positions = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        return self._positions

    @classmethod
    def build(
        cls,
        kind: str,
        metric: str,
        dimension: int,
        labels: np.ndarray,
        vectors: np.ndarray,
        *,
        generation: int = 0,
        hnsw_m: int = HNSW_M,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
    ) -> VectorIndex:
        """A new index of `kind` holding `vectors` under `labels`; IVF is trained on them (needs at least one)."""
        fmetric = _faiss_metric(metric)
        vectors = _as_matrix(vectors, dimension)
        if kind == "flat":
            inner = faiss.IndexFlat(dimension, fmetric)
        elif kind == "hnsw":
            inner = faiss.IndexHNSWFlat(dimension, hnsw_m, fmetric)
            inner.hnsw.efConstruction = ef_construction
        elif kind == "ivf":
            if not len(vectors):
                raise InputError("an IVF index is trained on its vectors; it cannot be built empty")
            quantizer = faiss.IndexFlat(dimension, fmetric)
            inner = faiss.IndexIVFFlat(quantizer, dimension, ivf_lists(len(vectors)), fmetric)
            inner.cp.min_points_per_centroid = 1  # tiny collections: no k-means warning spam
            inner.train(vectors)
        else:
            raise InputError(f"unknown index kind {kind!r}; valid kinds: {', '.join(INDEX_KINDS)}")
        stamp = IndexStamp(
            kind=kind,
            metric=metric,
            dimension=dimension,
            generation=generation,
            built_generation=generation,
            trained_size=len(vectors) if kind == "ivf" else 0,
        )
        built = cls(faiss.IndexIDMap2(inner), stamp)
        built.add(labels, vectors)
        return built

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def search_subset(self, queries: np.ndarray, k: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact k nearest per query among `labels` (all in the index), scored where a flat or HNSW index keeps its
        float32 vectors — no copy of the subset; None for IVF (its vectors sit in inverted lists, not one matrix)."""
        inner = faiss.downcast_index(self.index.index)
        if isinstance(inner, faiss.IndexHNSW):
            inner = faiss.downcast_index(inner.storage)
        if not isinstance(inner, faiss.IndexFlat):
            return None
        known = self._known()
        positions = positions_of(known, labels)
        if len(positions) != len(labels):
            raise RuntimeError("bug: asked the index to score labels it does not hold")
        queries = _as_matrix(queries, self.stamp.dimension)
        scores = np.full((len(queries), k), np.nan, dtype=np.float32)
        found = np.full((len(queries), k), -1, dtype=np.int64)
        width = min(k, len(positions))
        if width:
            # FAISS's by-index kernels score the subset in place (faiss.knn on a gathered copy was 4x slower here).
            by_index = faiss.knn_inner_products_by_idx if self.stamp.metric == "ip" else faiss.knn_L2sqr_by_idx
            top_scores = np.empty((len(queries), width), dtype=np.float32)
            top_positions = np.empty((len(queries), width), dtype=np.int64)
            by_index(
                faiss.swig_ptr(queries), inner.get_xb(), faiss.swig_ptr(positions), self.stamp.dimension,
                len(queries), self.ntotal, len(positions), width,
                faiss.swig_ptr(top_scores), faiss.swig_ptr(top_positions), 0,  # 0: the same subset for every query
            )  # fmt: skip
            scores[:, :width] = top_scores
            found[:, :width] = labels_at(known, top_positions)
        return finish_scores(scores, found, self.stamp.metric)

    @property
    def kind(self) -> str:
        return self.stamp.kind

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Append vectors under new labels (labels must not already be in the index)."""
        labels = check_new_labels(labels, self.ntotal, self.stamp.max_label)
        if len(labels):
            self.index.add_with_ids(_as_matrix(vectors, self.stamp.dimension), labels)
            self._positions = None
            self.stamp.max_label = max(self.stamp.max_label, int(labels.max()))

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allow: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """k nearest per query among `allow` labels (or all but `exclude`): (scores, labels), -1 padded.

        Filtering happens inside FAISS through ID selectors (a pre-filter). HNSW and IVF may still
        return fewer than k hits for a very selective filter; callers check and fall back to exact search.
        """
        queries = _as_matrix(queries, self.stamp.dimension)
        # We search the inner index and translate labels in numpy rather than through IndexIDMap2.search,
        # whose OpenMP label-translation loop costs milliseconds per single query on a busy machine.
        known = self._known()
        selector = label_selector(known, allow, exclude)
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(ef_search or HNSW_EF_SEARCH, k))
        elif self.kind == "ivf":
            nlist = faiss.extract_index_ivf(self.index).nlist
            params = faiss.SearchParametersIVF(nprobe=min(nlist, nprobe or max(8, nlist // 8)))
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        scores, positions = faiss.downcast_index(self.index.index).search(queries, k, params=params)
        return finish_scores(scores, labels_at(known, positions), self.stamp.metric)

    def save(self, path: str | Path) -> None:
        """Write to a temporary file, fsync it, and rename it over `path` (readers never see a partial file)."""
        body = faiss.serialize_index(self.index)
        head = sealed_header(_MAGIC, asdict(self.stamp), [body])
        atomic_write(Path(path), lambda handle: handle.writelines([head, body]))

    @classmethod
    def load(cls, path: str | Path) -> VectorIndex | None:
        """The index saved at `path`, or None when it is missing, unreadable or fails its checksum (the caller
        rebuilds it)."""
        try:
            with Path(path).open("rb") as handle:
                raw = read_header(handle, _MAGIC)
                if not isinstance(raw, dict) or "checksum" not in raw:
                    return None
                expected = raw.pop("checksum")
                stamp = IndexStamp(**raw)
                reader = CheckedReader(handle)
                index = faiss.read_index(faiss.PyCallbackIOReader(reader))
                if not reader.matches(expected):
                    return None
        except (OSError, ValueError, TypeError, RuntimeError, struct.error):
            return None
        return cls(index, stamp)
