"""Nearest-neighbour search behind one small interface (FAISS inside): flat, HNSW and IVF indexes."""

from simvec.index.faiss_index import INDEX_KINDS, METRICS, IndexStamp, VectorIndex, exact_search

__all__ = ["INDEX_KINDS", "METRICS", "IndexStamp", "VectorIndex", "exact_search"]
