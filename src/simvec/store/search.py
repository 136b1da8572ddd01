"""One search over a store snapshot: dense (through the derived index), keyword (BM25), or hybrid (fused)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np

from simvec.store.derived import DerivedIndexes
from simvec.store.fusion import RRF_K, reciprocal_rank_fusion
from simvec.store.plan import Plan
from simvec.store.protocol import Store
from simvec.store.results import Hit
from simvec.vectors.compression_spec import CompressionSpec

FUSION_DEPTH = 100  # hybrid: each ranking contributes its top max(k, FUSION_DEPTH) to the fusion


def rank_queries(
    store: Store,
    derived: DerivedIndexes,
    texts: list[str] | None,
    vectors: np.ndarray | None,
    k: int,
    *,
    mode: str,
    filter: dict | None,
    weights: Sequence[float] | None,
    kind_of: Callable[[int], str],
    spec: CompressionSpec | None,
    exact: bool,
    ef_search: int | None,
    nprobe: int | None,
) -> list[list[Hit]]:
    """The k best hits per query, all read in one snapshot; `texts` for keyword/hybrid, `vectors` for dense/hybrid."""
    with store.read():
        count = store.count()
        if count == 0:
            return [[] for _ in range(len(texts if texts is not None else vectors))]
        depth = max(k, FUSION_DEPTH) if mode == "hybrid" else k
        dense = keyword = None
        if mode != "keyword":
            dense = derived.search(
                vectors,
                depth,
                filter=filter,
                count=count,
                kind=kind_of(count),
                spec=spec,
                exact=exact,
                ef_search=ef_search,
                nprobe=nprobe,
            )
        if mode != "dense":
            keyword = [store.keyword(text, depth, filter) for text in texts]
        if mode == "hybrid":
            ranked = [
                reciprocal_rank_fusion([[s for s, _ in d], [s for s, _ in kw]], weights=weights, k=RRF_K)[:k]
                for d, kw in zip(dense, keyword, strict=True)
            ]
        else:
            ranked = dense if mode == "dense" else keyword
        docs = store.fetch({label for hits in ranked for label, _ in hits})
    return [
        [Hit(docs[s][0], float(score), docs[s][1], json.loads(docs[s][2])) for s, score in hits if s in docs]
        for hits in ranked
    ]


def explain_plan(mode: str, dense: Plan | None) -> dict[str, object]:
    """What `search(..., explain=True)` shows: the dense plan, and how keyword ranking ran in keyword/hybrid mode."""
    shown: dict[str, object] = {"mode": mode}
    if dense is not None:
        shown["dense"] = dense.as_dict()
    if mode != "dense":
        shown["keyword"] = "FTS5 BM25 over the documents the filter selects (metadata index lookups in SQL)"
    return shown
