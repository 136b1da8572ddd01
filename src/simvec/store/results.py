"""What collections return: search hits, stored documents, the outcome of an add; and the shared search options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np

from simvec.types import Mode


class SearchOptions(TypedDict, total=False):
    """Keyword options shared by `Collection.search` and `Collection.search_batch`."""

    filter: dict | None
    mode: Mode
    weights: Sequence[float] | None
    exact: bool
    ef_search: int | None
    nprobe: int | None
    min_relevance: float | None
    explain: bool
    candidates: int | None

    adapter: object  # "stored", None or a simvec.tasks.adapt.QueryAdapter


@dataclass
class Hit:
    """One search result: id, score (similarity, or distance for euclidean; MaxSim for multi-vector collections),
    text, metadata, `relevance` (the calibrated relevance in [0, 1], set by a `min_relevance` search) and
    `highlight` (chunked collections: the (start, end) character span of the document's best chunk)."""

    id: str
    score: float
    text: str | None
    metadata: dict = field(default_factory=dict)
    relevance: float | None = None
    highlight: tuple[int, int] | None = None


@dataclass
class Document:
    """A stored document; `vector` only when asked for."""

    id: str
    text: str | None
    metadata: dict
    vector: np.ndarray | None = None


@dataclass
class AddResult:
    """What `add` did: the ids in input order, and how many were new, replaced, or left unchanged."""

    ids: list[str]
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: dict[str, tuple[str, float]] = field(default_factory=dict)  # on_duplicate: id -> (of, cosine)
