"""Late interaction (ColBERT's MaxSim, the Chamfer similarity of MUVERA) between vector sets: pure numpy.

Chamfer(Q, D) = sum over query vectors q of max over document vectors d of <q, d>. Document sets are given either
as a list of arrays or as one stacked matrix with `offsets` (set i is rows offsets[i]:offsets[i+1]), the layout of
a memory-mapped store; float16 and int8 rows are scored in float32 blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_ROW_BLOCK = 262_144  # document vectors converted to float32 and scored at a time


def chamfer(query: np.ndarray, document: np.ndarray) -> float:
    """Chamfer similarity of one query set (nq, d) and one document set (nd, d)."""
    return float((np.asarray(query, np.float32) @ np.asarray(document, np.float32).T).max(axis=1).sum())


def maxsim_stacked(query: np.ndarray, vectors: np.ndarray, offsets: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Chamfer of one query set against every set of a stacked matrix: (n_sets,) float32; `scale` multiplies rows.

    Every set must be non-empty (offsets strictly increasing).
    """
    query = np.asarray(query, dtype=np.float32)
    n_sets = len(offsets) - 1
    best = np.empty((n_sets, len(query)), dtype=np.float32)
    set_at = 0
    while set_at < n_sets:  # blocks of whole sets, so reduceat never straddles a block
        stop = int(np.searchsorted(offsets, offsets[set_at] + _ROW_BLOCK, side="right")) - 1
        stop = min(max(stop, set_at + 1), n_sets)
        rows = np.asarray(vectors[offsets[set_at] : offsets[stop]], dtype=np.float32)
        sims = rows @ query.T
        best[set_at:stop] = np.maximum.reduceat(sims, offsets[set_at:stop] - offsets[set_at], axis=0)
        set_at = stop
    return best.sum(axis=1) * np.float32(scale)


def maxsim(query: np.ndarray, documents: Sequence[np.ndarray]) -> np.ndarray:
    """Chamfer of one query set against each document set: (len(documents),) float32."""
    if not len(documents):
        return np.empty(0, dtype=np.float32)
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in documents])])
    return maxsim_stacked(query, np.concatenate([np.asarray(d, np.float32) for d in documents]), offsets)


def maxsim_matrix(
    queries: np.ndarray, query_offsets: np.ndarray, vectors: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """Chamfer of every query set against every document set, stacked both sides: (n_queries, n_documents)."""
    queries = np.asarray(queries, dtype=np.float32)
    n_docs = len(offsets) - 1
    per_token = np.empty((n_docs, len(queries)), dtype=np.float32)
    doc_at = 0
    while doc_at < n_docs:
        stop = int(np.searchsorted(offsets, offsets[doc_at] + _ROW_BLOCK, side="right")) - 1
        stop = min(max(stop, doc_at + 1), n_docs)
        rows = np.asarray(vectors[offsets[doc_at] : offsets[stop]], dtype=np.float32)
        per_token[doc_at:stop] = np.maximum.reduceat(rows @ queries.T, offsets[doc_at:stop] - offsets[doc_at], axis=0)
        doc_at = stop
    return np.add.reduceat(per_token, query_offsets[:-1], axis=1).T
