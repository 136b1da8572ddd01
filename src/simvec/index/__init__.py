"""Nearest-neighbour search behind one `Index` protocol (FAISS inside): flat, HNSW, IVF and compressed codes."""

from simvec.index.base import Index, IndexStamp
from simvec.index.compressed import CodeIndex, RescoreStore, rescore
from simvec.index.faiss_index import INDEX_KINDS, METRICS, VectorIndex, exact_search

__all__ = [
    "INDEX_KINDS",
    "METRICS",
    "CodeIndex",
    "Index",
    "IndexStamp",
    "RescoreStore",
    "VectorIndex",
    "exact_search",
    "rescore",
]
