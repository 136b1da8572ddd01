"""The neighbour graph dedup groups from, kept so a result can be regrouped at another threshold.

Each document's `neighbours` nearest documents (FAISS: exact for small inputs, IVF above) are kept as a
symmetric sparse graph with their cosines, so `Duplicates.rethreshold(t)` regroups at another threshold
without searching again. Where a document's list is full at the threshold (its last neighbour still scores
above it: a very large group), that document's search is widened.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simvec.tasks.neighbours import knn

DEFAULT_NEIGHBOURS = 32
MAX_NEIGHBOURS = 1024  # widening stops here; documents still full are counted in `Duplicates.incomplete`


@dataclass
class NeighbourGraph:
    """Cosine kNN graph over distinct vectors, symmetric, in CSR form (rows sorted by node)."""

    vectors: np.ndarray  # distinct unit vectors, one per node
    indptr: np.ndarray
    indices: np.ndarray
    scores: np.ndarray
    depth: np.ndarray  # neighbours searched per node
    last: np.ndarray  # the lowest score in each node's own search (-inf when it found every other node)

    @classmethod
    def build(cls, vectors: np.ndarray, neighbours: int = DEFAULT_NEIGHBOURS) -> NeighbourGraph:
        """Search each vector's `neighbours` nearest (itself excluded) and keep the edges both ways."""
        m = len(vectors)
        dimension = vectors.shape[1] if vectors.ndim == 2 else 0
        graph = cls(
            vectors,
            np.zeros(m + 1, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            np.zeros(m, np.int64),
            np.full(m, -np.inf, np.float32),
        )
        if m > 1 and dimension:
            graph._search(np.arange(m), neighbours)
        return graph

    def _search(self, nodes: np.ndarray, neighbours: int) -> None:
        m = len(self.vectors)
        k = min(neighbours + 1, m)
        scores, found = knn(self.vectors[nodes], self.vectors, k)
        rows = np.repeat(nodes, k)
        cols, vals = found.reshape(-1), scores.reshape(-1)
        keep = (cols >= 0) & (cols != rows)
        self.depth[nodes] = k - 1
        self.last[nodes] = np.where(k - 1 >= m - 1, -np.inf, scores[:, -1])
        self._merge(rows[keep], cols[keep], vals[keep])

    def _merge(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        m = len(self.vectors)
        old_rows = np.repeat(np.arange(m), np.diff(self.indptr))
        all_rows = np.concatenate([old_rows, rows, cols])
        all_cols = np.concatenate([self.indices, cols, rows])
        all_vals = np.concatenate([self.scores, vals, vals]).astype(np.float32)
        key = all_rows * m + all_cols
        key, first = np.unique(key, return_index=True)  # sorted by (row, col): CSR order
        self.indices, self.scores = all_cols[first], all_vals[first]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(all_rows[first], minlength=m))])

    def complete(self, threshold: float) -> int:
        """Widen the search of nodes whose list is full at `threshold`; returns how many remain incomplete."""
        while True:
            full = np.flatnonzero(self.last >= threshold)
            if not len(full):
                return 0
            wider = int(min(MAX_NEIGHBOURS, self.depth[full].max() * 4))
            full = full[self.depth[full] < wider]
            if not len(full):
                return int((self.last >= threshold).sum())
            self._search(full, wider)

    def edges(self, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, scores) of the edges scoring at least `threshold`, both directions."""
        rows = np.repeat(np.arange(len(self.vectors)), np.diff(self.indptr))
        keep = self.scores >= threshold
        return rows[keep], self.indices[keep], self.scores[keep]
