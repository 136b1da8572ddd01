"""A collection's relevance calibration: fitted from its own vectors (and judged queries), stored with it, applied
to dense hits.

The math is in `simvec.tasks.relevance`; this module feeds it the collection's data and keeps the result:

- Noise pseudo-queries are NOISE_QUERIES random word windows of sampled documents, a quarter in each query length
  band, embedded as queries and scored against every other document.
- Labelled calibration searches each judged query (exact dense search, top `depth` hits) and labels a hit relevant
  when its qrels grade is > 0; unjudged documents count as not relevant.
- The calibration lives in the collection's database (table `calibration`), stamped with the model (id and a digest
  of the encoder settings), dimension, metric and compression. Changing the compression deletes it; a calibration
  whose stamp does not match the collection (an imported file, a database edited by an older simvec) is refused
  with both values named.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simvec.errors import CollectionError, InputError, InputFileError
from simvec.store import schema
from simvec.tasks.relevance import (
    DEFAULT_FEATURES,
    LENGTH_BANDS,
    METHODS,
    MIN_NOISE_DOCUMENTS,
    Calibration,
    NoiseModel,
    check_min_relevance,
    fit_labelled,
    fit_noise,
    labels_for,
)

if TYPE_CHECKING:
    from simvec.store.collection import Collection, Hit

NOISE_QUERIES = 256
PSEUDO_QUERY_WORDS = 24  # the longest pseudo-query (the last length band has no upper end)
DEFAULT_DEPTH = 100  # hits per judged query the labelled map is fitted on
TABLE = "CREATE TABLE IF NOT EXISTS calibration (slot INTEGER PRIMARY KEY CHECK (slot = 1), stamp TEXT, value TEXT)"


def how_to_calibrate(path: Path) -> str:
    """The sentence every 'not calibrated' error ends with."""
    return (
        "calibrate it first: collection.calibrate() (no labels) or collection.calibrate(queries, qrels), "
        f"or `simvec collection calibrate {path} [--queries Q --qrels R]`"
    )


def score_fingerprint(collection: Collection) -> str:
    """How the collection computes scores: its compression's name ("none" for float32), rescoring included."""
    spec = collection.compression
    return spec.name if spec is not None else "none"


def model_fingerprint(collection: Collection) -> str:
    """The model id plus a digest of the encoder settings that define the vector space (prompts, pooling, ...)."""
    settings = json.dumps(collection.settings["encoder"], sort_keys=True)
    return f"{collection.model_id}@{hashlib.sha256(settings.encode()).hexdigest()[:12]}"


def fit_collection_noise(collection: Collection, *, seed: int = 0) -> NoiseModel:
    """The collection's noise model from its stored vectors and pseudo-queries cut from sampled documents.

    Each pseudo-query is a random window of words of a sampled document, its length drawn from one of the query
    length bands in turn, so every band gets its share; it is embedded as a query and scored against every other
    document. A document without text lends its stored vector (a pooled-only pseudo-query).
    """
    ids, matrix = collection.matrix()
    if len(ids) < MIN_NOISE_DOCUMENTS:
        raise CollectionError(
            f"collection {collection.path} has {len(ids)} document(s); calibration needs at least {MIN_NOISE_DOCUMENTS}"
        )
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(ids), NOISE_QUERIES, replace=len(ids) < NOISE_QUERIES)
    documents = collection.get([ids[i] for i in rows])
    texts, words = [], []
    for i, doc in enumerate(documents):
        tokens = re.findall(r"\S+", doc.text or "")
        low, high = LENGTH_BANDS[i % len(LENGTH_BANDS)]
        length = min(int(rng.integers(low, (high or PSEUDO_QUERY_WORDS) + 1)), len(tokens))
        start = int(rng.integers(0, len(tokens) - length + 1)) if tokens else 0
        texts.append(" ".join(tokens[start : start + length]))
        words.append(length)
    queries = matrix[rows].copy()
    with_text = [i for i, text in enumerate(texts) if text]
    if with_text:
        queries[with_text] = collection.encoder.encode_queries(
            [texts[i] for i in with_text], normalize=collection.metric == "cosine", show_progress=False
        )
    lengths = [w if texts[i] else -1 for i, w in enumerate(words)]  # -1: in no band
    return fit_noise(matrix, queries, sources=rows, query_words=lengths, seed=seed)


def _judged(
    queries: Mapping[str, str] | Sequence[str], qrels: Mapping[str, object] | Sequence[object]
) -> tuple[list[str], list[set[str]]]:
    """(query texts, relevant document ids) of the judged queries; qrels give {doc: grade} or relevant ids."""

    def relevant(value: object, where: str) -> set[str]:
        if isinstance(value, Mapping):
            try:
                return {str(doc) for doc, grade in value.items() if float(grade) > 0}
            except (TypeError, ValueError):
                raise InputError(f"qrels[{where}] grades must be numbers, got {dict(value)!r:.200}") from None
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, set, frozenset)):
            raise InputError(f"qrels[{where}] must be {{doc_id: grade}} or a list of relevant ids, got {value!r:.100}")
        return {str(doc) for doc in value}

    if isinstance(queries, Mapping):
        if not isinstance(qrels, Mapping):
            raise InputError("queries is a dict {id: text}, so qrels must be a dict {query_id: {doc_id: grade}}")
        missing = [qid for qid in qrels if qid not in queries]
        if missing:
            raise InputError(f"{len(missing)} judged queries are not in queries, e.g. {missing[0]!r}")
        ids = [qid for qid in queries if qid in qrels]
        if not ids:
            raise InputError(f"none of the {len(queries)} queries has judgements in qrels")
        texts = [queries[qid] for qid in ids]
        sets = [relevant(qrels[qid], repr(qid)) for qid in ids]
    else:
        if isinstance(queries, str) or isinstance(qrels, (str, Mapping)) or len(queries) != len(qrels):
            raise InputError("queries as a list needs qrels as a list of the same length (relevant ids per query)")
        texts, sets = list(queries), [relevant(value, str(i)) for i, value in enumerate(qrels)]
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"queries[{i}] must be a str, got {type(text).__name__}")
    return texts, sets


def calibrate(
    collection: Collection,
    queries: Mapping[str, str] | Sequence[str] | None = None,
    qrels: Mapping[str, object] | Sequence[object] | None = None,
    *,
    method: str | None = None,
    features: Sequence[str] | None = None,
    depth: int = DEFAULT_DEPTH,
    seed: int = 0,
) -> Calibration:
    """Fit the collection's calibration (noise only without labels, else a labelled map too) and store it."""
    if (queries is None) != (qrels is None):
        raise InputError(
            "calibrate needs queries and qrels together (or neither, for the unlabelled noise calibration)"
        )
    method = method or ("noise" if queries is None else "logistic")
    if method not in METHODS:
        raise InputError(f"unknown calibration method {method!r}; valid: {', '.join(METHODS)}")
    if (method == "noise") != (queries is None):
        raise InputError(
            "method 'noise' takes no judgements"
            if queries is not None
            else f"method {method!r} needs queries and qrels"
        )
    if collection.metric == "euclidean":
        raise CollectionError(
            f"collection {collection.path} uses euclidean distances (lower is closer); calibration maps similarity "
            "scores: use a cosine or dot collection"
        )
    noise = fit_collection_noise(collection, seed=seed)
    mapping, stats = {}, {}
    if queries is not None:
        texts, relevant = _judged(queries, qrels)
        known = {doc for rel in relevant for doc in rel if doc in collection}
        if not known:
            raise InputError(
                f"none of the relevant document ids in qrels is in collection {collection.path} "
                f"(e.g. {next((d for r in relevant for d in r), None)!r})"
            )
        vectors = collection.check_vectors(
            collection.encoder.encode_queries(texts, normalize=collection.metric == "cosine", show_progress=False),
            "query embeddings",
        )
        hits = collection.search_batch(vectors, depth, exact=True)
        scores = [np.array([h.score for h in row], dtype=np.float64) for row in hits]
        labels = labels_for([[h.id for h in row] for row in hits], relevant)
        mapping, stats = fit_labelled(
            scores, labels, vectors, noise, method=method, features=features or DEFAULT_FEATURES
        )
        stats["depth"] = depth
    calibration = Calibration(
        method,
        model_fingerprint(collection),
        collection.dimension,
        collection.metric,
        score_fingerprint(collection),
        collection.count(),
        noise,
        mapping,
        stats,
    )
    save(collection, calibration)
    return calibration


def mismatch(collection: Collection, calibration: Calibration) -> str | None:
    """Why `calibration` does not fit the collection's scores (None when it does)."""
    wanted = {
        "model": model_fingerprint(collection),
        "dimension": collection.dimension,
        "metric": collection.metric,
        "compression": score_fingerprint(collection),
    }
    for key, value in wanted.items():
        if getattr(calibration, key) != value:
            return (
                f"it was fitted for {key} {getattr(calibration, key)!r} but collection {collection.path} has {value!r}"
            )
    return None


def save(collection: Collection, calibration: Calibration | None) -> None:
    """Store `calibration` with the collection (None removes it); refused when it does not fit the collection."""
    if calibration is not None:
        reason = mismatch(collection, calibration)
        if reason:
            raise CollectionError(f"calibration refused: {reason}; re-calibrate this collection instead")
    conn = collection.store.conn
    with schema.transaction(conn, "BEGIN IMMEDIATE"):  # no generation bump: the documents did not change
        conn.execute(TABLE)
        conn.execute("DELETE FROM calibration")
        if calibration is not None:
            conn.execute(
                "INSERT INTO calibration(slot, stamp, value) VALUES (1, ?, ?)",
                (uuid.uuid4().hex, json.dumps(calibration.as_dict())),
            )


def invalidate(conn: sqlite3.Connection) -> None:
    """Delete the stored calibration (inside the write transaction that changes how scores are computed)."""
    conn.execute(TABLE)
    conn.execute("DELETE FROM calibration")


def load(collection: Collection) -> Calibration | None:
    """The stored calibration (unchecked), or None."""
    try:
        row = collection.store.conn.execute("SELECT value FROM calibration").fetchone()
    except sqlite3.OperationalError:  # never calibrated: the table does not exist yet
        return None
    return Calibration.from_dict(json.loads(row[0])) if row else None


def current(collection: Collection) -> Calibration:
    """The stored calibration, checked against the collection; a named CollectionError when missing or stale."""
    calibration = load(collection)
    if calibration is None:
        raise CollectionError(
            f"min_relevance needs a calibrated collection; {collection.path} is not calibrated: "
            + how_to_calibrate(collection.path)
        )
    reason = mismatch(collection, calibration)
    if reason:
        raise CollectionError(
            f"the calibration of {collection.path} is out of date ({reason}): " + how_to_calibrate(collection.path)
        )
    return calibration


def check_search(collection: Collection, min_relevance: object, mode: str) -> tuple[float, Calibration]:
    """Validate a `min_relevance` search before anything is embedded: the threshold, the mode, the calibration."""
    threshold = check_min_relevance(min_relevance)
    if mode != "dense":
        raise CollectionError(
            f"min_relevance works with mode='dense' (it calibrates dense similarity scores), not mode={mode!r}"
        )
    return threshold, current(collection)


def query_words(text: str | None) -> int | None:
    """A query's length in words (None for a vector query): picks its noise length band."""
    return None if text is None else len(re.findall(r"\S+", text))


def filter_hits(
    calibration: Calibration,
    hits: list[list[Hit]],
    query_vectors: np.ndarray,
    texts: Sequence[str] | None,
    min_relevance: float,
    n_documents: int,
) -> list[list[Hit]]:
    """Each hit with its `relevance` set, keeping those at or above `min_relevance` (possibly none), best first."""
    kept = []
    for i, (row, vector) in enumerate(zip(hits, query_vectors, strict=True)):
        if not row:
            kept.append([])
            continue
        words = [query_words(texts[i] if texts is not None else None)]
        values = calibration.relevance(
            np.array([[h.score for h in row]]), vector[None, :], n_documents=n_documents, query_words=words
        )[0]
        for hit, value in zip(row, values, strict=True):
            hit.relevance = float(value)
        kept.append([hit for hit in row if hit.relevance >= min_relevance])
    return kept


def write_file(calibration: Calibration, path: str | Path) -> None:
    """Write a calibration to a JSON file (to move it to a copy of the collection)."""
    Path(path).write_text(json.dumps(calibration.as_dict()), encoding="utf-8")


def read_file(path: str | Path) -> Calibration:
    """Read a calibration JSON file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(str(path), "no such calibration file")
    try:
        return Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise InputFileError(str(path), f"invalid JSON: {exc.msg}", exc.lineno) from None
    except (KeyError, TypeError) as exc:
        raise InputFileError(str(path), f"not a simvec calibration ({exc!r})") from None
    except InputError as exc:
        raise InputFileError(str(path), str(exc)) from None
