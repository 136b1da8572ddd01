"""Near-duplicate detection without chaining: groups around kept representatives, from a reusable neighbour graph.

The rule. Documents are visited in keep order (`first`: input order; `longest` / `shortest`: by text length;
`max:FIELD` / `min:FIELD`: by a metadata value; ties in input order). A document whose cosine similarity to an
already kept document is at least `threshold` becomes a duplicate of the most similar such kept document;
otherwise it is kept. So every removed document is within the threshold of its own representative, and
A~B, B~C never puts A and C together unless A~C (union-find over the pairs would: that is chaining).

The graph (`simvec.tasks.neighbour_graph`) keeps each document's nearest neighbours, so a result regroups at
another threshold without searching again. Exactly identical vectors are merged before the search, so a set of
identical texts is one group however large. The lexical check (`lexical_threshold`, `simvec.tasks.lexical`)
additionally requires the character 5-gram Jaccard similarity of the two normalised texts to reach the given
value. Keep policies are in `simvec.tasks.keep_order`, the result types in `simvec.tasks.dedup_results`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simvec.encoders import Encoder
from simvec.errors import InputError
from simvec.tasks.dedup_results import DuplicateGroup, Duplicates, Member
from simvec.tasks.inputs import check_ids, check_threshold, embed_or_check
from simvec.tasks.keep_order import keep_order
from simvec.tasks.lexical import LexicalScores, normalise_text
from simvec.tasks.neighbour_graph import DEFAULT_NEIGHBOURS, MAX_NEIGHBOURS, NeighbourGraph

__all__ = ["DEFAULT_THRESHOLD", "DuplicateGroup", "Duplicates", "Member", "find_duplicates", "identical_rows"]

# The best F1 among 0.8-0.975 on data that is not the benchmark's (Banking77 queries and STS-B dev sentences
# with perturbed copies: benchmarks/dedup.py --choose); SciFact abstracts are the held-out check (BENCHMARKS.md).
DEFAULT_THRESHOLD = 0.925


@dataclass
class GroupingState:
    """What regrouping needs: ids, texts, the documents' graph nodes and keep ranks, the graph."""

    ids: list[str]
    texts: list[str] | None
    node_of: np.ndarray  # input position -> graph node (identical vectors share a node)
    rank: np.ndarray  # input position -> place in keep order
    keep: str
    graph: NeighbourGraph
    lexical: LexicalScores | None

    def regroup(self, threshold: float, lexical_threshold: float | None) -> Duplicates:
        """The documents grouped at `threshold` (and `lexical_threshold`) from the stored graph."""
        return _group(self, threshold, lexical_threshold)


def find_duplicates(
    items: Sequence[str] | np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    ids: Sequence[str] | None = None,
    keep: str = "first",
    metadata: Sequence[dict | None] | None = None,
    texts: Sequence[str] | None = None,
    lexical_threshold: float | None = None,
    encoder: Encoder | None = None,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> Duplicates:
    """Group near-duplicates of `items` (texts, embedded with `encoder`, or an (n, d) matrix of vectors).

    Every removed document is within `threshold` (cosine) of its kept representative; see the module
    docstring for the rule. `texts` accompanies vectors for keep="longest"/"shortest" and the lexical check.
    """
    threshold, lexical_threshold = _check_thresholds(threshold, lexical_threshold)
    if isinstance(neighbours, bool) or not isinstance(neighbours, int) or not 1 <= neighbours <= MAX_NEIGHBOURS:
        raise InputError(f"neighbours must be an integer in 1..{MAX_NEIGHBOURS}, got {neighbours!r}")
    found_texts, vectors = embed_or_check(items, encoder, "items")
    n = len(vectors)
    if texts is not None:
        if found_texts is not None:
            raise InputError("give texts either as items or as texts=, not both")
        found_texts = list(texts)
        if len(found_texts) != n:
            raise InputError(f"texts has {len(found_texts)} items but there are {n} vectors")
    ids = check_ids(ids, n)
    rank = keep_order(keep, n, found_texts, metadata)
    if lexical_threshold is not None and found_texts is None:
        raise InputError("lexical_threshold needs the texts; pass texts= with vectors")
    node_of = identical_rows(vectors, found_texts if lexical_threshold is not None else None)
    _, first_of = np.unique(node_of, return_index=True)
    graph = NeighbourGraph.build(vectors[first_of], neighbours)
    lexical = LexicalScores(found_texts) if lexical_threshold is not None else None
    state = GroupingState(ids, found_texts, node_of, rank, keep, graph, lexical)
    return _group(state, threshold, lexical_threshold)


def identical_rows(vectors: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
    """Node number of each row: rows with identical vectors (and identical normalised texts, if given) share one."""
    if not len(vectors):
        return np.zeros(0, dtype=np.int64)
    rows = np.ascontiguousarray(vectors).view(np.dtype((np.void, vectors.dtype.itemsize * vectors.shape[1])))
    _, node_of = np.unique(rows.ravel(), return_inverse=True)
    if texts is not None:
        text_ids: dict[str, int] = {}
        by_text = np.array([text_ids.setdefault(normalise_text(t), len(text_ids)) for t in texts], dtype=np.int64)
        _, node_of = np.unique(node_of.ravel() * len(text_ids) + by_text, return_inverse=True)
    return node_of.ravel().astype(np.int64)


def _check_thresholds(threshold: object, lexical_threshold: object | None) -> tuple[float, float | None]:
    """The cosine threshold, then the optional lexical (Jaccard) one, checked (for a search and a regrouping)."""
    threshold = check_threshold(threshold)
    return threshold, None if lexical_threshold is None else check_threshold(lexical_threshold, "lexical_threshold")


def _group(state: GroupingState, threshold: float, lexical_threshold: float | None) -> Duplicates:
    threshold, lexical_threshold = _check_thresholds(threshold, lexical_threshold)
    if lexical_threshold is not None and state.lexical is None:
        if state.texts is None:
            raise InputError("lexical_threshold needs the texts; this result was built from vectors alone")
        state.lexical = LexicalScores(state.texts)
    n = len(state.ids)
    graph = state.graph
    incomplete = graph.complete(threshold)
    m = len(graph.vectors)
    # each node is represented by its best-ranked document; nodes are visited in that document's order
    order = np.argsort(state.rank)
    nodes_in_order, first = np.unique(state.node_of[order], return_index=True)
    best_doc = np.empty(m, dtype=np.int64)
    best_doc[nodes_in_order] = order[first]
    node_rank = state.rank[best_doc]
    rows, cols, vals = graph.edges(threshold)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=m))])
    node_rep = np.full(m, -1, dtype=np.int64)  # representative node, or -1 when the node is kept
    node_score = np.full(m, np.nan, dtype=np.float32)
    node_jac = np.full(m, np.nan, dtype=np.float32)
    kept = np.zeros(m, dtype=bool)
    candidates = np.zeros(m, dtype=bool)
    candidates[rows] = True
    kept[~candidates] = True  # no neighbour at the threshold: kept without looking
    for node in np.argsort(node_rank, kind="stable"):
        if not candidates[node]:
            continue
        start, stop = indptr[node], indptr[node + 1]
        nb, sc = cols[start:stop], vals[start:stop]
        ok = kept[nb]
        best, best_score, best_jac = -1, -np.inf, np.nan
        for j, s in zip(nb[ok].tolist(), sc[ok].tolist(), strict=True):
            if s <= best_score:
                continue
            jac = np.nan
            if lexical_threshold is not None:
                jac = state.lexical.score(int(best_doc[node]), int(best_doc[j]))
                if jac < lexical_threshold:
                    continue
            best, best_score, best_jac = j, s, jac
        if best < 0:
            kept[node] = True
        else:
            node_rep[node], node_score[node], node_jac[node] = best, best_score, best_jac
    duplicate_of = np.full(n, -1, dtype=np.int64)
    scores = np.full(n, np.nan, dtype=np.float32)
    jaccards = np.full(n, np.nan, dtype=np.float32)
    doc_node = state.node_of
    own_best = best_doc[doc_node]
    is_rep_node = node_rep[doc_node] >= 0
    # a document in a removed node joins that node's representative; in a kept node, its best document
    duplicate_of[is_rep_node] = best_doc[node_rep[doc_node[is_rep_node]]]
    scores[is_rep_node] = node_score[doc_node[is_rep_node]]
    jaccards[is_rep_node] = node_jac[doc_node[is_rep_node]]
    twin = ~is_rep_node & (own_best != np.arange(n))
    duplicate_of[twin] = own_best[twin]
    scores[twin] = 1.0  # identical vectors
    if lexical_threshold is not None:
        jaccards[twin] = 1.0  # identical normalised texts
    return Duplicates(
        ids=state.ids,
        duplicate_of=duplicate_of,
        scores=scores,
        jaccards=jaccards,
        threshold=threshold,
        keep=state.keep,
        lexical_threshold=lexical_threshold,
        incomplete=incomplete,
        _state=state,
    )
