"""Near-duplicates in a collection: over its stored vectors, and against it when documents are added.

`find_duplicates(collection, ...)` passes the stored vectors to `simvec.tasks.dedup.find_duplicates` (same rule,
same result type). `add_checked(collection, ...)` checks each new document, in input order, against the stored
documents and the new ones already accepted: a document within `threshold` (cosine) of one of them is a
duplicate of the most similar. `on_duplicate="skip"` leaves it out; `"flag"` adds it with `duplicate_of` (and
`duplicate_score`) in its metadata; `"allow"` adds everything unchecked. A document replacing itself (same id)
is not its own duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from simvec.errors import CollectionError
from simvec.store import validate
from simvec.store.results import AddResult
from simvec.tasks.dedup import DEFAULT_THRESHOLD
from simvec.tasks.dedup import find_duplicates as find_in_vectors
from simvec.tasks.dedup_results import Duplicates
from simvec.tasks.inputs import check_threshold
from simvec.tasks.neighbour_graph import NeighbourGraph

if TYPE_CHECKING:
    from simvec.store.collection import Collection

ON_DUPLICATE = ("allow", "skip", "flag")


def find_duplicates(
    collection: Collection,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    keep: str = "first",
    lexical_threshold: float | None = None,
) -> Duplicates:
    """Near-duplicate groups among the stored documents (ids are the collection's; `first` = insertion order)."""
    ids, vectors = collection.matrix()
    needs_docs = keep != "first" or lexical_threshold is not None
    docs = collection.get(ids) if needs_docs and ids else []
    return find_in_vectors(
        vectors,
        threshold,
        ids=ids,
        keep=keep,
        texts=[d.text or "" for d in docs] if needs_docs else None,
        metadata=[d.metadata for d in docs] if needs_docs else None,
        lexical_threshold=lexical_threshold,
    )


def check_new(
    collection: Collection, vectors: np.ndarray, ids: Sequence[str], threshold: float
) -> list[tuple[str, float] | None]:
    """For each new document in order: (id of the document it duplicates, cosine), or None when it is new.

    Stored documents and earlier accepted new documents count; a stored document with the same id does not.
    """
    threshold = check_threshold(threshold)
    if collection.metric != "cosine":
        raise CollectionError(
            f"duplicate checks compare cosine similarities; this collection's metric is {collection.metric}"
        )
    n = len(ids)
    stored: list[tuple[str, float] | None] = [None] * n
    if n and len(collection):
        for i, hits in enumerate(collection.search_batch(np.asarray(vectors), k=2, exact=True)):
            hits = [h for h in hits if h.id != ids[i] and h.score >= threshold]
            stored[i] = (hits[0].id, hits[0].score) if hits else None
    graph = NeighbourGraph.build(np.asarray(vectors, dtype=np.float32)) if n else None
    rows, cols, scores = graph.edges(threshold) if graph is not None else ([], [], [])
    earlier: dict[int, list[tuple[int, float]]] = {}
    for r, c, s in zip(np.asarray(rows).tolist(), np.asarray(cols).tolist(), np.asarray(scores).tolist(), strict=True):
        if c < r:
            earlier.setdefault(r, []).append((c, s))
    accepted = np.zeros(n, dtype=bool)
    decisions: list[tuple[str, float] | None] = []
    for i in range(n):
        options = [stored[i]] if stored[i] else []
        options += [(ids[j], s) for j, s in earlier.get(i, []) if accepted[j] and ids[j] != ids[i]]
        best = max(options, key=lambda option: option[1]) if options else None
        accepted[i] = best is None
        decisions.append(best)
    return decisions


def add_checked(
    collection: Collection,
    texts: Sequence[str] | None,
    *,
    ids: Sequence[str] | None,
    metadata: Sequence[dict | None] | None,
    vectors: np.ndarray | None,
    on_duplicate: str,
    threshold: float = DEFAULT_THRESHOLD,
    **options: object,
) -> AddResult:
    """`Collection.add` with a duplicate check; the result's `duplicates` maps each duplicate's id to (of, score)."""
    if on_duplicate not in ON_DUPLICATE:
        raise CollectionError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}, got {on_duplicate!r}")
    threshold = check_threshold(threshold, "duplicate_threshold")
    if collection.metric != "cosine":
        raise CollectionError(
            f"duplicate checks compare cosine similarities; this collection's metric is {collection.metric}"
        )
    if isinstance(texts, str):
        texts, ids = [texts], None if ids is None else [ids]
        metadata = None if metadata is None else [metadata]
        vectors = None if vectors is None else [vectors]
    n = validate.input_length(texts, ids, vectors)
    texts = None if texts is None else validate.check_texts(texts, n)
    ids = validate.check_ids(ids, n)
    if vectors is None:
        vectors = collection.encoder.encode_documents(texts, normalize=True)
    matrix = collection.check_vectors(vectors, "vectors")
    decisions = check_new(collection, matrix, ids, threshold)
    metadata = [dict(m or {}) for m in metadata] if metadata is not None else [{} for _ in range(n)]
    if len(metadata) != n:
        raise CollectionError(f"metadata must be a list of {n} dicts (one per document)")
    chosen = list(range(n))
    if on_duplicate == "skip":
        chosen = [i for i in range(n) if decisions[i] is None]
    elif on_duplicate == "flag":
        for i, decision in enumerate(decisions):
            if decision is not None:
                metadata[i].update(duplicate_of=decision[0], duplicate_score=round(float(decision[1]), 6))
    if chosen:
        result = collection.add(
            None if texts is None else [texts[i] for i in chosen],
            ids=[ids[i] for i in chosen],
            metadata=[metadata[i] for i in chosen],
            vectors=matrix[chosen],
            **options,
        )
    else:
        result = AddResult(ids=[])
    result.duplicates = {ids[i]: (d[0], float(d[1])) for i, d in enumerate(decisions) if d is not None}
    return result
