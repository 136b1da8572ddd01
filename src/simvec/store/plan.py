"""How one filtered dense search runs: the plan chosen from the filter's selectivity, and what it cost.

The matching labels come from the metadata index (`SQLiteStore.matching_labels`), so the count is exact, not an
estimate, and costs one index lookup (cached per filter and generation by `FilterCache`). Then the cheapest
correct strategy is picked:

    empty          nothing matches: no search at all
    subset         few match (<= IndexParams.exact_filter_max): brute force over just their vectors, gathered
                   from the float32 vectors the index holds in RAM (or the store for compressed collections) — exact
    post-filter    nearly all match (>= NEARLY_ALL of the collection): search unfiltered with k widened by
                   1/selectivity, keep the matching hits; rows left short are redone with a selector
    selector       otherwise: the index searched with a FAISS ID selector (pre-filter)
    unfiltered     no filter

Exact plans (subset; flat index with selector or post-filter) return the same top-k as exact filtered brute force;
the others have the recall of the approximate index (HNSW efSearch, IVF nprobe, compressed codes + rescoring).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np

NEARLY_ALL = 0.9  # post-filter when at least this share of the collection matches
POST_FILTER_SLACK = 2.0  # widen k by this factor on top of 1/selectivity, so short rows stay rare
FILTER_CACHE_SIZE = 32  # filters whose label sets are kept per collection object
FILTER_CACHE_LABELS = 4_000_000  # and at most this many labels in all (32 MB), however broad the filters


@dataclass
class Plan:
    """The strategy of one dense search, its inputs and its measured cost (what `explain=True` shows)."""

    strategy: str
    index_kind: str
    count: int  # documents in the collection
    matching: int | None = None  # documents matching the filter (None: no filter)
    exact: bool = True  # same top-k as exact (filtered) brute force
    scored: int = 0  # vectors scored per query (for approximate indexes: candidates asked for)
    filter_cached: bool = False
    filter_ms: float = 0.0
    search_ms: float = 0.0
    redone_rows: int = 0  # rows an approximate search left short, redone exactly

    def as_dict(self) -> dict[str, object]:
        """The JSON form shown by `search(..., explain=True)` and `simvec collection search --explain`."""
        shown = asdict(self)
        shown["selectivity"] = None if self.matching is None else round(self.matching / max(self.count, 1), 6)
        shown["recall"] = "exact" if self.exact else f"approximate ({self.index_kind})"
        shown["filter_ms"], shown["search_ms"] = round(self.filter_ms, 3), round(self.search_ms, 3)
        return shown


def choose(matching: int | None, count: int, index_kind: str | None, exact_filter_max: int) -> str:
    """The strategy for a filter matching `matching` of `count` documents (None: no filter) on `index_kind`."""
    if matching is None:
        return "unfiltered" if index_kind is not None else "subset"
    if matching == 0:
        return "empty"
    if index_kind is None or matching <= exact_filter_max:
        return "subset"
    if matching >= NEARLY_ALL * count:
        return "post-filter"
    return "selector"


def post_filter_depth(k: int, matching: int, count: int, limit: int) -> int:
    """Candidates to ask an unfiltered search for, so k of them match a filter of this selectivity."""
    return min(limit, count, math.ceil(k * POST_FILTER_SLACK * count / max(matching, 1)) + k)


def keep_matching(scores: np.ndarray, labels: np.ndarray, allow: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first k hits per row whose labels are in `allow` (sorted), -1/NaN padded; order kept."""
    at = np.minimum(np.searchsorted(allow, labels), len(allow) - 1)
    keep = (labels >= 0) & (allow[at] == labels)
    out_scores = np.full((len(labels), k), np.nan, dtype=scores.dtype)
    out_labels = np.full((len(labels), k), -1, dtype=np.int64)
    for row in range(len(labels)):  # one row per query, not per document
        kept = np.flatnonzero(keep[row])[:k]
        out_scores[row, : len(kept)] = scores[row, kept]
        out_labels[row, : len(kept)] = labels[row, kept]
    return out_scores, out_labels


class FilterCache:
    """Label sets of recent filters, valid for the store generation they were read at."""

    def __init__(self, size: int = FILTER_CACHE_SIZE, labels: int = FILTER_CACHE_LABELS) -> None:
        self.size, self.labels = size, labels
        self._entries: OrderedDict[str, tuple[int, np.ndarray]] = OrderedDict()

    @staticmethod
    def key(filter: dict) -> str:
        """A stable key; JSON keeps 1, 1.0, true and "1" apart, as the type-strict filter does."""
        return json.dumps(filter, sort_keys=True)

    def get(self, filter: dict, generation: int) -> np.ndarray | None:
        """The cached labels of `filter` at `generation`, or None."""
        key = self.key(filter)
        entry = self._entries.get(key)
        if entry is None or entry[0] != generation:
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, filter: dict, generation: int, labels: np.ndarray) -> None:
        """Remember the labels of `filter` at `generation` (evicting the least recently used)."""
        key = self.key(filter)
        self._entries[key] = (generation, labels)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size or (
            len(self._entries) > 1 and sum(len(kept) for _, kept in self._entries.values()) > self.labels
        ):
            self._entries.popitem(last=False)
