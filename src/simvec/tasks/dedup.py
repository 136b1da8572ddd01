"""Near-duplicate detection without chaining: groups around kept representatives, from a reusable neighbour graph.

The rule. Documents are visited in keep order (`first`: input order; `longest` / `shortest`: by text length;
`max:FIELD` / `min:FIELD`: by a metadata value; ties in input order). A document whose cosine similarity to an
already kept document is at least `threshold` becomes a duplicate of the most similar such kept document;
otherwise it is kept. So every removed document is within the threshold of its own representative, and
A~B, B~C never puts A and C together unless A~C (union-find over the pairs would: that is chaining).

The graph. Each document's `neighbours` nearest documents (FAISS: exact for small inputs, IVF above) are
kept as a symmetric sparse graph with their cosines, so `Duplicates.rethreshold(t)` regroups at another
threshold without searching again. Where a document's list is full at the threshold (its last neighbour still
scores above it: a very large group), that document's search is widened. Exactly identical vectors are merged
before the search, so a set of identical texts is one group however large.

The lexical check (`lexical_threshold`) additionally requires the character 5-gram Jaccard similarity of the
two normalised texts (case-folded, punctuation and whitespace collapsed) to reach the given value: it tells
"the same text, reformatted" from "a different text on the same topic".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from simvec.encoders import Encoder, shared_encoder
from simvec.errors import InputError, InputTypeError
from simvec.tasks.neighbours import knn, unit_rows

# The best F1 among 0.8-0.975 on data that is not the benchmark's (Banking77 queries and STS-B dev sentences
# with perturbed copies: benchmarks/dedup.py --choose); SciFact abstracts are the held-out check (BENCHMARKS.md).
DEFAULT_THRESHOLD = 0.925
DEFAULT_NEIGHBOURS = 32
MAX_NEIGHBOURS = 1024  # widening stops here; documents still full are counted in `Duplicates.incomplete`
KEEP_POLICIES = ("first", "longest", "shortest", "max:FIELD", "min:FIELD")
SHINGLE = 5


def check_threshold(value: object, name: str = "threshold") -> float:
    """A similarity threshold in (0, 1]; errors name the parameter and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value):
        raise InputError(f"{name} must be a number in (0, 1], got {value!r}")
    if not 0 < value <= 1:
        raise InputError(f"{name} must be in (0, 1], got {value}")
    return float(value)


def check_ids(ids: Sequence[object] | None, n: int, name: str = "ids") -> list[str]:
    """Ids as strings (default "0".."n-1"); the same length as the input, non-empty and unique."""
    if ids is None:
        return [str(i) for i in range(n)]
    if isinstance(ids, str):
        raise InputTypeError(f"{name} must be a sequence of ids, got a str")
    ids = list(ids)
    if len(ids) != n:
        raise InputError(f"{name} has {len(ids)} items but there are {n} documents")
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(ids):
        if raw is None or raw == "":
            raise InputError(f"{name}[{i}] is empty")
        doc_id = str(raw)
        if doc_id in seen:
            raise InputError(f"duplicate id {doc_id!r}: {name}[{seen[doc_id]}] and {name}[{i}]")
        seen[doc_id] = i
        out.append(doc_id)
    return out


def embed_or_check(
    items: Sequence[str] | np.ndarray, encoder: Encoder | None, name: str = "texts"
) -> tuple[list[str] | None, np.ndarray]:
    """(texts or None, unit vectors) from texts (embedded with `encoder`) or from an (n, d) vector matrix."""
    if isinstance(items, np.ndarray) and items.dtype.kind in "fiu":
        return None, unit_rows(items, name)
    if isinstance(items, str):
        raise InputTypeError(f"{name} must be a sequence of texts or an (n, d) array of vectors, got one str")
    texts = list(items)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(f"{name}[{i}] is {type(text).__name__}, expected str")
    if not texts:
        return [], np.zeros((0, 0), dtype=np.float32)
    encoder = encoder or shared_encoder()
    return texts, unit_rows(encoder.encode(texts), name)


# ---- the neighbour graph ------------------------------------------------------------------------


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


# ---- lexical check --------------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """Case-folded, every run of non-word characters one space: what reformatting does not change."""
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def shingles(text: str, size: int = SHINGLE) -> np.ndarray:
    """Sorted unique 64-bit hashes of the character `size`-grams of the normalised text."""
    codes = np.frombuffer(normalise_text(text).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < size:
        return np.unique(codes.sum(keepdims=True)) if len(codes) else np.zeros(0, np.uint64)
    hashes = np.zeros(len(codes) - size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):  # polynomial rolling hash modulo 2**64: overflow is the modulo
        for j in range(size):
            hashes = hashes * np.uint64(1_000_003) + codes[j : len(codes) - size + 1 + j]
    return np.unique(hashes)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique shingle arrays (1.0 for two empty texts)."""
    if not len(a) and not len(b):
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


# Exact Jaccard on the candidate pairs the embeddings propose, by hand: MinHash (datasketch) estimates Jaccard
# to find candidates among all pairs, which the neighbour graph already does; here only a few pairs need it.
class _Lexical:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self._shingles: dict[int, np.ndarray] = {}
        self._pairs: dict[tuple[int, int], float] = {}

    def of(self, i: int) -> np.ndarray:
        if i not in self._shingles:
            self._shingles[i] = shingles(self.texts[i])
        return self._shingles[i]

    def score(self, i: int, j: int) -> float:
        key = (i, j) if i < j else (j, i)
        if key not in self._pairs:
            self._pairs[key] = jaccard(self.of(i), self.of(j))
        return self._pairs[key]


# ---- results ---------------------------------------------------------------------------------------


@dataclass
class Member:
    """A duplicate: its id, input position, cosine to the representative, and Jaccard when checked."""

    id: str
    index: int
    score: float
    jaccard: float | None = None


@dataclass
class DuplicateGroup:
    """A kept representative and the documents removed as its duplicates (best first)."""

    representative: str
    index: int
    members: list[Member]

    def __len__(self) -> int:
        return 1 + len(self.members)


@dataclass
class Duplicates:
    """The result of `find_duplicates`: per-document decisions, the groups, and the graph to regroup from."""

    ids: list[str]
    duplicate_of: np.ndarray  # input position of the representative, -1 for a kept document
    scores: np.ndarray  # cosine to the representative, NaN for a kept document
    jaccards: np.ndarray  # character 5-gram Jaccard to the representative when checked, else NaN
    threshold: float
    keep: str
    lexical_threshold: float | None
    incomplete: int = 0  # documents whose neighbour list stayed full at MAX_NEIGHBOURS (a group may be split)
    _state: _State | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def kept(self) -> list[int]:
        """Input positions of the kept documents, in input order."""
        return np.flatnonzero(self.duplicate_of < 0).tolist()

    @property
    def removed(self) -> int:
        return int((self.duplicate_of >= 0).sum())

    @property
    def groups(self) -> list[DuplicateGroup]:
        """Groups with at least one duplicate, largest first (then by the representative's position)."""
        members: dict[int, list[Member]] = {}
        for i in np.flatnonzero(self.duplicate_of >= 0):
            jac = float(self.jaccards[i])
            members.setdefault(int(self.duplicate_of[i]), []).append(
                Member(self.ids[i], int(i), float(self.scores[i]), None if math.isnan(jac) else jac)
            )
        groups = [
            DuplicateGroup(self.ids[rep], rep, sorted(found, key=lambda m: (-m.score, m.index)))
            for rep, found in members.items()
        ]
        return sorted(groups, key=lambda g: (-len(g), g.index))

    def records(self) -> list[dict]:
        """One `{"id", "duplicate_of", "score"}` per input document, in input order (null when kept)."""
        return [
            {
                "id": doc_id,
                "duplicate_of": self.ids[rep] if rep >= 0 else None,
                "score": round(float(score), 6) if rep >= 0 else None,
            }
            for doc_id, rep, score in zip(self.ids, self.duplicate_of.tolist(), self.scores, strict=True)
        ]

    def summary(self, examples: int = 3) -> dict:
        """Counts, the largest group, and a few example groups, JSON-ready."""
        groups = self.groups
        return {
            "documents": len(self.ids),
            "kept": len(self.ids) - self.removed,
            "removed": self.removed,
            "groups": len(groups),
            "largest_group": len(groups[0]) if groups else 0,
            "threshold": self.threshold,
            "keep": self.keep,
            "lexical_threshold": self.lexical_threshold,
            "incomplete": self.incomplete,
            "examples": [
                {"representative": g.representative, "duplicates": [[m.id, round(m.score, 4)] for m in g.members[:5]]}
                for g in groups[:examples]
            ],
        }

    def rethreshold(self, threshold: float, *, lexical_threshold: float | None = None) -> Duplicates:
        """The same documents regrouped at another threshold, from the stored neighbour graph (no new search)."""
        if self._state is None:
            raise InputError("this result has no neighbour graph to regroup from")
        return _group(self._state, threshold, lexical_threshold)


@dataclass
class _State:
    ids: list[str]
    texts: list[str] | None
    node_of: np.ndarray  # input position -> graph node (identical vectors share a node)
    rank: np.ndarray  # input position -> place in keep order
    keep: str
    graph: NeighbourGraph
    lexical: _Lexical | None


# ---- keep policy -------------------------------------------------------------------------------


def keep_order(
    keep: str, n: int, texts: Sequence[str] | None = None, metadata: Sequence[dict | None] | None = None
) -> np.ndarray:
    """Rank of each document in keep order (0 is kept first); ties keep input order."""
    if not isinstance(keep, str):
        raise InputError(f"keep must be one of {', '.join(KEEP_POLICIES)}, got {keep!r}")
    position = np.arange(n)
    if keep == "first":
        order = position
    elif keep in ("longest", "shortest"):
        if texts is None:
            raise InputError(f"keep={keep!r} needs the texts; pass texts= with vectors")
        lengths = np.array([len(t) for t in texts])
        order = np.lexsort((position, -lengths if keep == "longest" else lengths))
    elif keep.startswith(("max:", "min:")) and len(keep) > 4:
        name = keep[4:]
        if metadata is None:
            raise InputError(f"keep={keep!r} needs metadata (one dict per document)")
        if len(metadata) != n:
            raise InputError(f"metadata has {len(metadata)} items but there are {n} documents")
        values = [(item or {}).get(name) for item in metadata]
        present = [v for v in values if v is not None]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
        if not numeric and not all(isinstance(v, str) for v in present):
            kinds = sorted({type(v).__name__ for v in present})
            raise InputError(f"metadata field {name!r} must be all numbers or all strings, got {', '.join(kinds)}")
        by_value: dict[object, list[int]] = {}
        for i, value in enumerate(values):
            if value is not None:
                by_value.setdefault(value, []).append(i)
        # largest (max:) or smallest (min:) value first, ties in input order, documents without the field last
        ranked = [i for value in sorted(by_value, reverse=keep.startswith("max:")) for i in by_value[value]]
        order = np.asarray(ranked + [i for i in range(n) if values[i] is None], dtype=np.int64)
    else:
        raise InputError(f"unknown keep policy {keep!r}; valid: {', '.join(KEEP_POLICIES)}")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank


# ---- grouping --------------------------------------------------------------------------------------


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
    threshold = check_threshold(threshold)
    if lexical_threshold is not None:
        lexical_threshold = check_threshold(lexical_threshold, "lexical_threshold")
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
    lexical = _Lexical(found_texts) if lexical_threshold is not None else None
    state = _State(ids, found_texts, node_of, rank, keep, graph, lexical)
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


def _group(state: _State, threshold: float, lexical_threshold: float | None) -> Duplicates:
    threshold = check_threshold(threshold)
    if lexical_threshold is not None:
        lexical_threshold = check_threshold(lexical_threshold, "lexical_threshold")
        if state.lexical is None:
            if state.texts is None:
                raise InputError("lexical_threshold needs the texts; this result was built from vectors alone")
            state.lexical = _Lexical(state.texts)
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
