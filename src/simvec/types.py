"""The names every layer shares, defined once as `Literal` types (the valid-value tuples derive from them)."""

from __future__ import annotations

from typing import Literal, get_args

from simvec.errors import InputError

# Pairwise measures of simvec.vectors.similarity: similarities (cosine, dot) and distances (euclidean, manhattan).
Metric = Literal["cosine", "dot", "euclidean", "manhattan"]
# The metrics a collection's index can search by (FAISS has no manhattan index).
CollectionMetric = Literal["cosine", "dot", "euclidean"]
# Output precisions of `Encoder.encode` (sentence-transformers' `quantize_embeddings`).
Precision = Literal["float32", "float16", "int8", "uint8", "binary", "ubinary"]
# Search modes: vectors, BM25 keywords, or both fused by reciprocal rank.
Mode = Literal["dense", "keyword", "hybrid"]

METRICS: tuple[Metric, ...] = get_args(Metric)
COLLECTION_METRICS: tuple[CollectionMetric, ...] = get_args(CollectionMetric)
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
MODES: tuple[Mode, ...] = get_args(Mode)


def one_of(value: str, valid: tuple[str, ...], what: str) -> str:
    """`value` if it is one of `valid`, else an InputError listing the valid ones ("unknown metric 'x'; ...")."""
    if value not in valid:
        raise InputError(f"unknown {what} {value!r}; valid {what}s: {', '.join(valid)}")
    return value
