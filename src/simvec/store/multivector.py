"""Multi-vector collections: each document kept as a set of vectors (its tokens, or its chunks) beside its row.

`MultivectorSpec` is what `Collection.create(multivector=..., chunking=...)` stores in the settings. The sets live in
SQLite's `vector_sets` table (one row per document: its vectors as float16 or int8 and, for chunks, the character
span of each chunk), written in the same transaction as the document row, so the store stays the source of truth and
the derived files (`simvec.store.multivector_index`) can always be rebuilt from it. A trigger drops a document's set
with the document (delete or upsert).
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from simvec.encoders import Encoder
from simvec.encoders.chunking import Chunker, ChunkingConfig
from simvec.errors import CollectionError, InputError
from simvec.vectors.fde import FDEConfig

MultivectorKind = Literal["tokens", "chunks"]
Storage = Literal["float16", "int8"]
INT8_SCALE = 127.0  # unit vectors: every coordinate is in [-1, 1]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS vector_sets (seq INTEGER PRIMARY KEY, spans BLOB NOT NULL, vectors BLOB NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS vector_sets_delete AFTER DELETE ON docs BEGIN "
    "DELETE FROM vector_sets WHERE seq = old.seq; END",
)

# Defaults measured on SciFact token vectors (BENCHMARKS.md, "Long documents and multi-vector retrieval"): of five
# FDE settings, 20 repetitions x 2**4 partitions x 32-d AMS (10,240-d, the paper's size) had the best recall of exact
# MaxSim's top 10 per candidate at equal size; 200 candidates reach 0.958 of it. Documents fill empty partitions.
DEFAULT_FDE = {"num_repetitions": 20, "num_simhash_projections": 4, "projection_dimension": 32}
DEFAULT_CANDIDATES = 200  # FDE candidates reranked by exact MaxSim per query


@dataclass(frozen=True)
class MultivectorSpec:
    """How a multi-vector collection keeps and searches its vector sets."""

    kind: MultivectorKind
    chunking: dict | None = None  # ChunkingConfig fields, for kind="chunks"
    fde: dict = field(default_factory=lambda: dict(DEFAULT_FDE))  # FDEConfig fields except dimension
    candidates: int = DEFAULT_CANDIDATES
    storage: Storage = "float16"

    @classmethod
    def parse(
        cls, multivector: str | dict | None, chunking: dict | ChunkingConfig | None, dimension: int, max_tokens: int
    ) -> MultivectorSpec | None:
        """A checked spec from `Collection.create`'s arguments (`chunking` alone means kind="chunks"), or None."""
        if multivector is None and chunking is None:
            return None
        if multivector is None or isinstance(multivector, str):
            given = {"kind": multivector or "chunks"}
        elif isinstance(multivector, dict):
            given = {"kind": "chunks", **multivector}
        else:
            raise CollectionError(f"multivector must be 'tokens', 'chunks' or a dict, got {type(multivector).__name__}")
        if given["kind"] not in ("tokens", "chunks"):
            raise CollectionError(f"multivector must be 'tokens' or 'chunks', got {given['kind']!r}")
        unknown = sorted(set(given) - {"kind", "chunking", "fde", "candidates", "storage"})
        if unknown:
            raise CollectionError(
                f"unknown multivector options {unknown}; valid: kind, chunking, fde, candidates, storage"
            )
        if chunking is not None:
            if given["kind"] != "chunks":
                raise CollectionError("chunking= applies to multivector='chunks', not 'tokens'")
            given["chunking"] = chunking.as_dict() if isinstance(chunking, ChunkingConfig) else chunking
        if given["kind"] == "chunks":
            given["chunking"] = ChunkingConfig.parse(given.get("chunking"), max_tokens).as_dict()
        fde = {**DEFAULT_FDE, **(given.get("fde") or {})}
        if "dimension" in fde:
            raise CollectionError("multivector fde options take no dimension: it is the model's")
        FDEConfig(dimension=dimension, **fde)  # checks the values (and the FDE's size) now
        given["fde"] = fde
        candidates = given.get("candidates", DEFAULT_CANDIDATES)
        if isinstance(candidates, bool) or not isinstance(candidates, int) or not 1 <= candidates <= 100_000:
            raise CollectionError(f"multivector candidates must be an integer 1..100000, got {candidates!r}")
        if given.get("storage", "float16") not in ("float16", "int8"):
            raise CollectionError(f"multivector storage must be 'float16' or 'int8', got {given['storage']!r}")
        return cls(**given)

    def fde_config(self, dimension: int) -> FDEConfig:
        """The FDE configuration for vectors of `dimension`."""
        return FDEConfig(dimension=dimension, **self.fde)

    def as_dict(self) -> dict[str, object]:
        """The JSON form stored in the collection's settings."""
        return asdict(self)


def install(conn: sqlite3.Connection) -> None:
    """Create the `vector_sets` table and its delete trigger if missing (call inside a write transaction)."""
    for statement in SCHEMA:
        conn.execute(statement)


def encode_sets(
    spec: MultivectorSpec, encoder: Encoder, texts: list[str]
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Each text's single unit vector (the row's: tokens, the usual one; chunks, the first chunk's) and its set:
    (unit vectors (n, dim) float32, chunk spans (n, 2) int32, empty for tokens). One pass of the model either way."""
    if spec.kind == "tokens":
        single, sets = encoder.encode_documents_with_tokens(texts)
        return single, [(vectors, np.empty((0, 2), dtype=np.int32)) for vectors in sets]
    spans = Chunker(encoder.card, spec.chunking).spans(texts)
    pieces = [text[a:b] for text, text_spans in zip(texts, spans, strict=True) for a, b in text_spans]
    vectors = encoder.encode_documents(pieces, normalize=True, show_progress=False)
    bounds = np.cumsum([0, *(len(s) for s in spans)])
    sets = [
        (vectors[a:b], np.asarray(s, dtype=np.int32).reshape(-1, 2))
        for a, b, s in zip(bounds[:-1], bounds[1:], spans, strict=True)
    ]
    return vectors[bounds[:-1]], sets


def to_storage(vectors: np.ndarray, storage: Storage) -> np.ndarray:
    """Unit float32 vectors as stored: float16, or int8 at a fixed scale of 127."""
    if storage == "int8":
        return np.round(np.clip(vectors, -1.0, 1.0) * INT8_SCALE).astype(np.int8)
    return vectors.astype("<f2")


def storage_scale(storage: Storage) -> float:
    """What stored values are multiplied by to give the float vectors back."""
    return 1.0 / INT8_SCALE if storage == "int8" else 1.0


def write_sets(
    conn: sqlite3.Connection, ids: list[str], sets: list[tuple[np.ndarray, np.ndarray]], storage: Storage
) -> None:
    """Store the sets of the documents just inserted under `ids` (call inside the same write transaction)."""
    seqs = dict(conn.execute(f"SELECT id, seq FROM docs WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall())
    conn.executemany(
        "INSERT OR REPLACE INTO vector_sets(seq, spans, vectors) VALUES (?, ?, ?)",
        [
            (seqs[doc_id], spans.astype("<i4").tobytes(), to_storage(vectors, storage).tobytes())
            for doc_id, (vectors, spans) in zip(ids, sets, strict=True)
        ],
    )


def read_sets(
    conn: sqlite3.Connection, after: int, dimension: int, storage: Storage
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """(labels, stored vector sets, spans) of the documents with label > `after`, in label order."""
    dtype = np.int8 if storage == "int8" else np.dtype("<f2")
    labels, sets, spans = [], [], []
    for seq, span_blob, blob in conn.execute(
        "SELECT seq, spans, vectors FROM vector_sets WHERE seq > ? ORDER BY seq", (after,)
    ):
        labels.append(seq)
        sets.append(np.frombuffer(blob, dtype=dtype).reshape(-1, dimension))
        spans.append(np.frombuffer(span_blob, dtype="<i4").reshape(-1, 2))
    return np.asarray(labels, dtype=np.int64), sets, spans


def query_sets(spec: MultivectorSpec, encoder: Encoder, texts: list[str]) -> list[np.ndarray]:
    """Query vector sets: token vectors (kind="tokens"), or the one query vector (kind="chunks": MaxP)."""
    if spec.kind == "tokens":
        return encoder.encode_query_tokens(texts)
    return list(encoder.encode_queries(texts, normalize=True, show_progress=False)[:, None, :])


def check_query_set(query: object, dimension: int, name: str) -> np.ndarray:
    """A query vector set as (n, dimension) float32; errors name the query and both dimensions."""
    array = np.asarray(query, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dimension or not len(array):
        raise InputError(f"{name} must be a vector set of shape (n, {dimension}), got shape {np.shape(query)}")
    if not np.isfinite(array).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return array
