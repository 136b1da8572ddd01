"""`Collection`: documents, metadata and vectors in SQLite (the source of truth), searched through FAISS.

A collection is a directory: `collection.db` (SQLite, WAL) and `index-<kind>.faiss` files derived from it.
Writers take SQLite's write lock for one batch at a time; readers in other processes keep searching
a consistent snapshot meanwhile. The index is brought up to date from SQLite before each search
(new rows added, removed rows excluded, rebuilt when missing, stale beyond repair or too dead).

Limits: k <= MAX_K; <= MAX_QUERIES queries per search_batch; <= MAX_BATCH_SIZE documents per write
transaction (add splits larger inputs); ids <= MAX_ID_CHARS characters; vectors have the
collection's dimension (the model's, 384 for the default model).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np

from simvec.encoders import Encoder, ModelCard, resolve_model
from simvec.encoders.encoder import as_text_list
from simvec.errors import CollectionError
from simvec.index import VectorIndex, exact_search
from simvec.index.compressed import CodeIndex, RescoreStore, rescore
from simvec.store import schema
from simvec.store.filters import compile_filter
from simvec.store.fusion import RRF_K, reciprocal_rank_fusion
from simvec.vectors.codecs import (
    CodecError,
    CompressionSpec,
    disk_bytes_per_vector,
    parse_compression,
    ram_bytes_per_vector,
)

DB_NAME = "collection.db"
METRICS = ("cosine", "dot", "euclidean")
INDEX_CHOICES = ("auto", "flat", "hnsw", "ivf")
MODES = ("dense", "keyword", "hybrid")
AUTO_HNSW_ABOVE = 100_000  # index="auto": exact (flat) search up to this many documents, HNSW above
MAX_K = 10_000
MAX_QUERIES = 100_000
MAX_BATCH_SIZE = 10_000
DEFAULT_BATCH_SIZE = 1_000
MAX_ID_CHARS = 1_024
FUSION_DEPTH = 100  # hybrid: each ranking contributes its top max(k, FUSION_DEPTH) to the fusion
EXACT_FILTER_MAX = 10_000  # HNSW/IVF: a filter matching at most this many docs is searched exactly
REBUILD_DEAD_FRACTION = 0.2  # rebuild the index when this share of its vectors is deleted or replaced
REWRITE_RESCORE_FRACTION = 0.2  # rewrite the rescoring file when this share of documents is newer than it
RETRAIN_GROWTH = 4  # refit a trained index (IVF, codecs) once the collection is this many times its training set
_SQL_CHUNK = 10_000  # ids per `IN (...)` (SQLite allows 32,766 parameters)
# Encoder settings that define the vector space; the backend (torch, onnx) deliberately is not one.
IDENTITY_KEYS = ("model", "dimension", "max_seq_length", "pooling", "normalize", "prompts")


class SearchOptions(TypedDict, total=False):
    """Keyword options shared by `Collection.search` and `Collection.search_batch`."""

    filter: dict | None
    mode: str
    weights: Sequence[float] | None
    exact: bool
    ef_search: int | None
    nprobe: int | None


@dataclass
class Hit:
    """One search result: the document's id, score (similarity, or distance for euclidean), text, metadata."""

    id: str
    score: float
    text: str | None
    metadata: dict = field(default_factory=dict)


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


def _card_settings(card: ModelCard) -> dict[str, object]:
    described = card.describe()
    return {key: described[key] for key in IDENTITY_KEYS}


def _model_card(model: str | Path | Encoder | None) -> ModelCard:
    return model.card if isinstance(model, Encoder) else resolve_model(model)


@lru_cache(maxsize=4)
def _load_encoder(model_id: str) -> Encoder:
    # One model load per process, however many collections (or CLI commands in one process) use it.
    return Encoder(model_id)


def _check_positive_int(value: object, name: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= limit:
        raise CollectionError(f"{name} must be an integer in 1..{limit:,}, got {value!r}")
    return int(value)


def _fts_query(text: str) -> str:
    # User text is not FTS5 syntax ("what's", "C++", AND/NEAR): match any of its words, each quoted.
    return " OR ".join(f'"{word}"' for word in re.findall(r"\w+", text))


def _chunks(items: Sequence, size: int = _SQL_CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Collection:
    """A persistent, searchable set of documents (dense, keyword and hybrid search with metadata filters).

    Not thread-safe: use one Collection object per thread or process.
    """

    def __init__(self, path: Path, conn, settings: dict, model: str | Path | Encoder | None, index: str | None) -> None:
        self.path = path
        self._conn = conn
        self.settings = settings
        self._encoder = model if isinstance(model, Encoder) else None
        self._index_choice = index or str(settings["index"])
        self._index: VectorIndex | None = None
        self._dead = np.empty(0, dtype=np.int64)  # labels in the index whose documents are gone
        self._index_dirty = False
        self._rescore: RescoreStore | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        model: str | Path | Encoder | None = None,
        index: str = "auto",
        metric: str = "cosine",
        compression: str | dict | CompressionSpec | None = None,
        rescore: str | None = None,
        rescore_multiplier: int | None = None,
    ) -> Collection:
        """Create an empty collection directory at `path` for `model` (default: the bundled model).

        `index`: "auto" (flat up to AUTO_HNSW_ABOVE documents, HNSW above), "flat", "hnsw" or "ivf".
        `metric`: "cosine" (vectors stored unit-length), "dot" or "euclidean".
        `compression`: keep compact codes in RAM instead of float32 vectors ("int8", "binary", "binary-itq", "pq48",
        {"truncate_dim": 256, "codec": "binary"}, ... see simvec.vectors.codecs); `rescore` ("int8", "float32",
        "none") re-ranks `rescore_multiplier` x k candidates with vectors memory-mapped from disk.
        """
        if index not in INDEX_CHOICES:
            raise CollectionError(f"unknown index {index!r}; valid: {', '.join(INDEX_CHOICES)}")
        if metric not in METRICS:
            raise CollectionError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
        path = Path(path)
        if (path / DB_NAME).exists():
            raise CollectionError(f"a collection already exists at {path}; open it with Collection.open")
        if path.exists() and not path.is_dir():
            raise CollectionError(f"{path} exists and is not a directory")
        card = _model_card(model)
        spec = _compression_spec(compression, card.dimension, index, rescore, rescore_multiplier)
        path.mkdir(parents=True, exist_ok=True)
        conn = schema.connect(path / DB_NAME)
        schema.initialise(
            conn,
            {
                "encoder": _card_settings(card),
                "dimension": card.dimension,
                "metric": metric,
                "index": index,
                "compression": spec.as_dict() if spec else None,
            },
        )
        return cls(path, conn, schema.read_settings(conn), model, None)

    @classmethod
    def open(
        cls, path: str | Path, *, model: str | Path | Encoder | None = None, index: str | None = None
    ) -> Collection:
        """Open an existing collection. `model`, when given, must be the collection's model (any backend).

        `index` overrides the stored index kind for this session (e.g. "flat" for exact search).
        """
        path = Path(path)
        if not (path / DB_NAME).is_file():
            raise CollectionError(f"no collection at {path} (missing {DB_NAME}); create one with Collection.create")
        if index is not None and index not in INDEX_CHOICES:
            raise CollectionError(f"unknown index {index!r}; valid: {', '.join(INDEX_CHOICES)}")
        conn = schema.connect(path / DB_NAME)
        settings = schema.read_settings(conn)
        if settings.get("format_version") != schema.FORMAT_VERSION:
            raise CollectionError(
                f"{path}: collection format {settings.get('format_version')} is not supported (expected {schema.FORMAT_VERSION})"
            )
        collection = cls(path, conn, settings, model, index)
        if model is not None:
            collection._check_model(_model_card(model))
        return collection

    def close(self) -> None:
        """Save the index if it changed in memory, and close the database."""
        if self._conn is None:
            return
        if self._index_dirty and self._index is not None:
            self._save_index()
        self._conn.close()
        self._conn = None

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Collection({str(self.path)!r}, model={self.model_id!r}, count={self.count()})"

    # ---- settings --------------------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        return int(self.settings["dimension"])

    @property
    def metric(self) -> str:
        return str(self.settings["metric"])

    @property
    def compression(self) -> CompressionSpec | None:
        """The compression in use, or None for plain float32 vectors in RAM."""
        stored = self.settings.get("compression")
        return CompressionSpec(**stored) if stored else None

    @property
    def model_id(self) -> str:
        return str(self.settings["encoder"]["model"])

    def _check_model(self, card: ModelCard) -> None:
        stored, given = self.settings["encoder"], _card_settings(card)
        diff = [key for key in IDENTITY_KEYS if stored.get(key) != given.get(key)]
        if diff:
            both = "; ".join(f"{key}: collection has {stored.get(key)!r}, model has {given.get(key)!r}" for key in diff)
            raise CollectionError(f"model {card.model_id!r} does not match collection {self.path} ({both})")

    @property
    def encoder(self) -> Encoder:
        """The collection's encoder, loaded on first use and checked against the stored settings."""
        if self._encoder is None:
            encoder = _load_encoder(self.model_id)
            self._check_model(encoder.card)
            self._encoder = encoder
        return self._encoder

    def info(self) -> dict[str, object]:
        """Count, dimension, model, metric, index kind, compression, RAM and bytes on disk, as a JSON-ready dict.

        `ram_bytes` is what the index keeps in RAM (vectors or codes, plus 8 bytes of label per vector);
        `rescore_bytes_on_disk` the memory-mapped rescoring file (read per candidate, not held in RAM).
        """
        count = self.count()
        spec = self.compression
        code_bytes = ram_bytes_per_vector(spec, self.dimension)
        rescore_path = self._rescore_path(spec)
        return {
            "path": str(self.path),
            "count": count,
            "dimension": self.dimension,
            "model": self.model_id,
            "encoder": self.settings["encoder"],
            "metric": self.metric,
            "index": self._index_choice,
            "index_kind": self._wanted_kind(count),
            "generation": schema.counter(self._conn, "generation"),
            "bytes_on_disk": sum(p.stat().st_size for p in self.path.iterdir() if p.is_file()),
            "compression": spec.name if spec else "none",
            "ram_bytes_per_vector": code_bytes,
            "ram_bytes": count * (code_bytes + 8),
            "rescore_bytes_per_vector": disk_bytes_per_vector(spec, self.dimension),
            "rescore_bytes_on_disk": rescore_path.stat().st_size if rescore_path and rescore_path.exists() else 0,
        }

    def set_compression(
        self,
        compression: str | dict | CompressionSpec | None,
        *,
        rescore: str | None = None,
        rescore_multiplier: int | None = None,
    ) -> None:
        """Change the compression (None: plain float32) and rebuild the derived files now, from the stored vectors."""
        spec = _compression_spec(compression, self.dimension, self._index_choice, rescore, rescore_multiplier)
        codes = None
        if (
            spec is not None
        ):  # fit first: a spec the data cannot support (too few vectors) leaves the collection as it was
            with self._read():
                labels, matrix = self._vectors()
                read_generation = schema.counter(self._conn, "generation")
            if len(labels):
                try:
                    codes = CodeIndex.build(spec, self._index_metric(), self.dimension, labels, matrix)
                except CodecError as exc:
                    raise CollectionError(f"collection {self.path}: cannot use {spec.name}: {exc}") from None
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO settings(key, value) VALUES ('compression', ?)",
                (json.dumps(spec.as_dict() if spec else None),),
            )
            generation = schema.counter(conn, "generation")
        self.settings["compression"] = spec.as_dict() if spec else None
        for stale in [*self.path.glob("index-codes.faiss"), *self.path.glob("rescore-*.vec")]:
            stale.unlink(missing_ok=True)
        self._index, self._rescore, self._index_dirty, self._dead = None, None, False, np.empty(0, dtype=np.int64)
        if codes is not None and generation == read_generation + 1:  # no other write in between: the codes are current
            codes.stamp.generation = codes.stamp.built_generation = generation
            self._index, self._index_dirty = codes, True
        self.refresh()

    # ---- writing ---------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """One write transaction that bumps the generation; rolled back on any error (or a kill)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE settings SET value = value + 1 WHERE key = 'generation'")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def add(
        self,
        texts: str | Sequence[str] | None = None,
        *,
        ids: str | Sequence[str] | None = None,
        metadata: dict | Sequence[dict | None] | None = None,
        vectors: np.ndarray | Sequence[Sequence[float]] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        show_progress: bool | None = None,
    ) -> AddResult:
        """Add or replace documents (upsert by id); one transaction per `batch_size` documents.

        Give `texts` (embedded with the collection's model), `vectors`, or both. Ids are strings,
        generated when omitted. A document whose text (and given vector) is unchanged is not re-embedded;
        only its metadata is updated.
        """
        single = isinstance(texts, str)
        if single:
            texts, ids = [texts], None if ids is None else [ids]
            metadata = None if metadata is None else [metadata]
            vectors = None if vectors is None else [vectors]
        batch_size = _check_positive_int(batch_size, "batch_size", MAX_BATCH_SIZE)
        n = self._input_length(texts, ids, vectors)
        text_list = self._check_texts(texts, n)
        id_list = self._check_ids(ids, n)
        meta_json = self._check_metadata(metadata, id_list)
        matrix = None if vectors is None else self.check_vectors(vectors, "vectors")
        result = AddResult(ids=id_list)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            self._add_batch(
                text_list[start:stop],
                id_list[start:stop],
                meta_json[start:stop],
                None if matrix is None else matrix[start:stop],
                result,
                show_progress,
            )
        return result

    @staticmethod
    def _input_length(texts, ids, vectors) -> int:
        if texts is None and vectors is None:
            raise CollectionError("add needs texts, vectors, or both")
        lengths = {
            name: len(value)
            for name, value in (("texts", texts), ("ids", ids), ("vectors", vectors))
            if value is not None
        }
        if len(set(lengths.values())) > 1:
            raise CollectionError(
                "lengths differ: " + ", ".join(f"{name} has {size}" for name, size in lengths.items())
            )
        return next(iter(lengths.values()))

    @staticmethod
    def _check_texts(texts, n: int) -> list[str | None]:
        if texts is None:
            return [None] * n
        try:
            return as_text_list(texts)[0]  # the encoder's own checks, so both name the bad item alike
        except (TypeError, ValueError) as exc:
            raise CollectionError(str(exc)) from None

    @staticmethod
    def _check_ids(ids, n: int) -> list[str]:
        if ids is None:
            return [uuid.uuid4().hex for _ in range(n)]
        seen: set[str] = set()
        for i, doc_id in enumerate(ids):
            if not isinstance(doc_id, str) or not doc_id:
                raise CollectionError(f"ids[{i}] must be a non-empty str, got {doc_id!r}")
            if len(doc_id) > MAX_ID_CHARS:
                raise CollectionError(f"ids[{i}] has {len(doc_id):,} characters; the limit is {MAX_ID_CHARS:,}")
            if doc_id in seen:
                raise CollectionError(f"duplicate id {doc_id!r} in one add (ids[{i}]); ids must be unique")
            seen.add(doc_id)
        return list(ids)

    @staticmethod
    def _check_metadata(metadata, ids: list[str]) -> list[str]:
        if metadata is None:
            return ["{}"] * len(ids)
        if isinstance(metadata, dict) or len(metadata) != len(ids):
            raise CollectionError(f"metadata must be a list of {len(ids)} dicts (one per document)")
        encoded = []
        for doc_id, item in zip(ids, metadata, strict=False):
            if item is None:
                item = {}
            if not isinstance(item, dict) or not all(isinstance(key, str) for key in item):
                raise CollectionError(f"metadata of id {doc_id!r} must be a dict with str keys, got {item!r:.100}")
            try:
                encoded.append(json.dumps(item, ensure_ascii=False, allow_nan=False, sort_keys=True))
            except (TypeError, ValueError) as exc:
                raise CollectionError(f"metadata of id {doc_id!r} is not JSON-serialisable: {exc}") from None
        return encoded

    def check_vectors(self, vectors: np.ndarray | Sequence, name: str = "vectors") -> np.ndarray:
        """Vectors as a float32 (n, dimension) matrix (unit-length for cosine); errors name the bad row."""
        rows = vectors if isinstance(vectors, np.ndarray) else list(vectors)
        for i, row in enumerate(rows if not isinstance(rows, np.ndarray) or rows.ndim != 2 else ()):
            if np.ndim(row) != 1 or len(row) != self.dimension:
                raise CollectionError(
                    f"{name}[{i}] has shape {np.shape(row)}; collection {self.path} expects ({self.dimension},) "
                    f"vectors of model {self.model_id}"
                )
        try:
            matrix = np.array(rows, dtype=np.float32).reshape(len(rows), -1)
        except (TypeError, ValueError) as exc:
            raise CollectionError(f"{name} are not numeric: {exc}") from None
        if matrix.shape[1] != self.dimension:
            raise CollectionError(
                f"{name} have dimension {matrix.shape[1]}; collection {self.path} expects {self.dimension} (model {self.model_id})"
            )
        bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
        if len(bad):
            raise CollectionError(f"{name}[{bad[0]}] contains NaN or inf ({len(bad)} bad row(s) in all)")
        if self.metric == "cosine":
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            zero = np.flatnonzero(norms[:, 0] == 0)
            if len(zero):
                raise CollectionError(f"{name}[{zero[0]}] is all zeros; cosine similarity needs a non-zero vector")
            matrix /= norms
        return matrix

    def _embed_documents(self, texts: list[str], show_progress: bool | None) -> np.ndarray:
        vectors = self.encoder.encode_documents(texts, normalize=self.metric == "cosine", show_progress=show_progress)
        return self.check_vectors(vectors, "embeddings")

    def _add_batch(self, texts, ids, meta_json, vectors, result: AddResult, show_progress) -> None:
        hashes = []
        for i, text in enumerate(texts):
            digest = hashlib.sha256((text or "").encode())
            if vectors is not None:  # an explicit vector is part of the content
                digest.update(b"\0" + vectors[i].tobytes())
            hashes.append(digest.hexdigest())
        if self._stored(ids) == dict(zip(ids, zip(hashes, meta_json, strict=False), strict=False)):
            result.unchanged += len(ids)  # nothing to write: no transaction, the generation stays
            return
        with self._write() as conn:
            existing = self._stored(ids)
            fresh = [i for i, doc_id in enumerate(ids) if existing.get(doc_id, (None,))[0] != hashes[i]]
            meta_only = [
                i
                for i, doc_id in enumerate(ids)
                if doc_id in existing and existing[doc_id][0] == hashes[i] and existing[doc_id][1] != meta_json[i]
            ]
            if vectors is None and fresh:
                embedded = self._embed_documents([texts[i] for i in fresh], show_progress)
            else:
                embedded = vectors[fresh] if fresh else None
            conn.executemany("DELETE FROM docs WHERE id = ?", [(ids[i],) for i in fresh if ids[i] in existing])
            conn.executemany(
                "INSERT INTO docs(id, text, metadata, hash, vector) VALUES (?, ?, ?, ?, ?)",
                [
                    (ids[i], texts[i], meta_json[i], hashes[i], embedded[j].astype("<f4").tobytes())
                    for j, i in enumerate(fresh)
                ],
            )
            conn.executemany("UPDATE docs SET metadata = ? WHERE id = ?", [(meta_json[i], ids[i]) for i in meta_only])
        replaced = sum(1 for i in fresh if ids[i] in existing)
        result.added += len(fresh) - replaced
        result.updated += replaced + len(meta_only)
        result.unchanged += len(ids) - len(fresh) - len(meta_only)

    def _stored(self, ids: list[str]) -> dict[str, tuple[str, str]]:
        """id -> (content hash, metadata JSON) of the stored documents among `ids`."""
        stored = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            stored.update(
                (row[0], row[1:])
                for row in self._conn.execute(f"SELECT id, hash, metadata FROM docs WHERE id IN ({marks})", chunk)
            )
        return stored

    def delete(self, ids: str | Sequence[str]) -> int:
        """Delete documents by id (unknown ids are ignored); returns how many were deleted."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        deleted = 0
        with self._write() as conn:
            for chunk in _chunks(ids):
                deleted += conn.execute(f"DELETE FROM docs WHERE id IN ({','.join('?' * len(chunk))})", chunk).rowcount
        return deleted

    # ---- reading ---------------------------------------------------------------------------------

    def count(self) -> int:
        """Number of documents."""
        return schema.counter(self._conn, "count")

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, doc_id: object) -> bool:
        return self._conn.execute("SELECT 1 FROM docs WHERE id = ?", (doc_id,)).fetchone() is not None

    def get(
        self, ids: str | Sequence[str], *, include_vectors: bool = False
    ) -> Document | None | list[Document | None]:
        """The document(s) with these ids, None where an id is unknown; a str id gives one result."""
        single = isinstance(ids, str)
        wanted = [ids] if single else list(ids)
        found: dict[str, Document] = {}
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            for doc_id, text, meta, blob in self._conn.execute(
                f"SELECT id, text, metadata, vector FROM docs WHERE id IN ({marks})", chunk
            ):
                vector = np.frombuffer(blob, dtype="<f4").copy() if include_vectors else None
                found[doc_id] = Document(doc_id, text, json.loads(meta), vector)
        documents = [found.get(doc_id) for doc_id in wanted]
        return documents[0] if single else documents

    def matrix(self) -> tuple[list[str], np.ndarray]:
        """Every document's id and stored float32 vector, in insertion order (for tuning and benchmarks)."""
        with self._read():
            ids = [row[0] for row in self._conn.execute("SELECT id FROM docs ORDER BY seq")]
            return ids, self._vectors()[1].copy()

    def __iter__(self) -> Iterator[tuple[str, str | None, dict]]:
        """(id, text, metadata) of every document, in insertion order, read in pages."""
        last = 0
        while True:
            rows = self._conn.execute(
                "SELECT seq, id, text, metadata FROM docs WHERE seq > ? ORDER BY seq LIMIT 1000", (last,)
            ).fetchall()
            if not rows:
                return
            for _, doc_id, text, meta in rows:
                yield doc_id, text, json.loads(meta)
            last = rows[-1][0]

    # ---- the index -------------------------------------------------------------------------------

    def _index_path(self, kind: str) -> Path:
        return self.path / ("index-codes.faiss" if kind.startswith("codes:") else f"index-{kind}.faiss")

    def _rescore_path(self, spec: CompressionSpec | None) -> Path | None:
        return self.path / f"rescore-{spec.rescore}.vec" if spec and spec.rescore != "none" else None

    def _wanted_kind(self, count: int) -> str:
        spec = self.compression
        if spec is not None:
            return "codes:" + spec.name
        if self._index_choice != "auto":
            return self._index_choice
        return "hnsw" if count > AUTO_HNSW_ABOVE else "flat"

    def _index_metric(self) -> str:
        return "l2" if self.metric == "euclidean" else "ip"

    def _vectors(self, where: str = "1", params: Sequence = (), after: int = 0) -> tuple[np.ndarray, np.ndarray]:
        labels, blobs = [], []
        for seq, blob in self._conn.execute(
            f"SELECT seq, vector FROM docs WHERE seq > ? AND ({where}) ORDER BY seq", (after, *params)
        ):
            labels.append(seq)
            blobs.append(blob)
        matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), self.dimension)
        return np.asarray(labels, dtype=np.int64), matrix

    def _current_index(self, count: int) -> VectorIndex:
        """The index brought up to this snapshot's generation (call inside a read transaction)."""
        generation, kind = schema.counter(self._conn, "generation"), self._wanted_kind(count)
        index = self._index
        compressed = kind.startswith("codes:")
        if index is None or index.kind != kind:
            index = (CodeIndex if compressed else VectorIndex).load(self._index_path(kind))
            wanted = (kind, self._index_metric(), self.dimension)
            if index is not None and (index.stamp.kind, index.stamp.metric, index.stamp.dimension) != wanted:
                index = None
        if index is not None and index.stamp.generation == generation:
            if index is not self._index:  # just loaded from disk
                self._index, self._dead = index, self._dead_labels(index)
            return index
        if index is not None and index.stamp.generation < generation:
            dead = self._dead_labels(index)
            if len(dead) <= REBUILD_DEAD_FRACTION * max(index.ntotal, 1) and not (
                index.stamp.trained_size and count > RETRAIN_GROWTH * index.stamp.trained_size
            ):
                index.add(*self._vectors(after=index.stamp.max_label))
                index.stamp.generation = generation
                self._index, self._dead, self._index_dirty = index, dead, True
                return index
        # Missing, unreadable, from another generation line, or too stale: rebuild from SQLite.
        labels, matrix = self._vectors()
        if compressed:
            try:
                index = CodeIndex.build(
                    self.compression, self._index_metric(), self.dimension, labels, matrix, generation=generation
                )
            except CodecError as exc:
                raise CollectionError(
                    f"collection {self.path}: cannot build {self.compression.name} codes: {exc}"
                ) from None
        else:
            index = VectorIndex.build(kind, self._index_metric(), self.dimension, labels, matrix, generation=generation)
        index.stamp.max_label = int(self._conn.execute("SELECT coalesce(max(seq), 0) FROM docs").fetchone()[0])
        self._index, self._dead, self._index_dirty = index, np.empty(0, dtype=np.int64), True
        return index

    def _dead_labels(self, index: VectorIndex) -> np.ndarray:
        rows = self._conn.execute(
            "SELECT seq FROM tombstones WHERE generation > ? AND seq <= ?",
            (index.stamp.built_generation, index.stamp.max_label),
        )
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def _save_index(self) -> None:
        self._index.save(self._index_path(self._index.kind))
        self._index_dirty = False

    def refresh(self) -> None:
        """Bring the index up to date with the database and write it to disk (e.g. after a large add)."""
        with self._read():
            count = self.count()
            if count:
                self._current_index(count)
                self._current_rescore(rewrite=True)
        if self._index is not None and self._index_dirty:
            self._save_index()

    # ---- searching -------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[None]:
        """A read transaction: every query inside sees the same snapshot, whatever writers do meanwhile."""
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    def search(
        self, query: str | np.ndarray | Sequence[float], k: int = 10, **options: Unpack[SearchOptions]
    ) -> list[Hit]:
        """The k best documents for one query (a text, or a vector for dense mode), best first.

        Options are those of `search_batch`: filter, mode ("dense", "keyword", "hybrid"), weights,
        exact, ef_search, nprobe.
        """
        if isinstance(query, str):
            return self.search_batch([query], k, **options)[0]
        if np.ndim(query) != 1:
            raise CollectionError(
                f"query must be a text or one vector of shape ({self.dimension},), got shape {np.shape(query)}"
            )
        return self.search_batch(np.asarray([query]), k, **options)[0]

    def search_batch(
        self,
        queries: Sequence[str] | np.ndarray,
        k: int = 10,
        *,
        filter: dict | None = None,
        mode: str = "dense",
        weights: Sequence[float] | None = None,
        exact: bool = False,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> list[list[Hit]]:
        """The k best documents for each query (texts, or an (n, dimension) matrix): one hit list per query.

        `filter` (see simvec.store.filters) restricts the documents before ranking, in every mode; dense
        search returns k hits whenever k documents match. `mode`: "dense", "keyword" (FTS5 BM25; only
        documents containing a query word) or "hybrid" (reciprocal rank fusion, k=60, of both, with
        optional (dense, keyword) `weights`). `exact=True` skips approximate indexes. `ef_search` (HNSW)
        and `nprobe` (IVF) trade speed for recall. Scores are similarities, or distances for euclidean.
        """
        k = _check_positive_int(k, "k", MAX_K)
        if mode not in MODES:
            raise CollectionError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
        if weights is not None and (
            mode != "hybrid"
            or len(weights) != 2
            or not all(isinstance(w, (int, float)) and math.isfinite(w) and w >= 0 for w in weights)
        ):
            raise CollectionError(
                f"weights must be two finite non-negative numbers (dense, keyword), for mode='hybrid'; got {weights!r}"
            )
        where, params = compile_filter(filter)
        if not isinstance(queries, str) and len(queries) == 0:
            return []
        texts, qvecs = self._queries(queries, mode)
        with self._read():
            count = self.count()
            if count == 0:
                return [[] for _ in range(len(texts or qvecs))]
            depth = max(k, FUSION_DEPTH) if mode == "hybrid" else k
            dense = (
                self._dense(qvecs, depth, where, params, count, exact, ef_search, nprobe) if mode != "keyword" else None
            )
            keyword = [self._keyword(text, depth, where, params) for text in texts] if mode != "dense" else None
            if mode == "dense":
                ranked = dense
            elif mode == "keyword":
                ranked = keyword
            else:
                ranked = [
                    reciprocal_rank_fusion([[s for s, _ in d], [s for s, _ in kw]], weights=weights, k=RRF_K)[:k]
                    for d, kw in zip(dense, keyword, strict=False)
                ]
            docs = self._fetch({seq for hits in ranked for seq, _ in hits})
        if (
            self._index_dirty
            and self._index is not None
            and self._index.stamp.generation == self._index.stamp.built_generation
        ):
            self._save_index()  # a fresh build is worth keeping; incremental catch-ups are saved on close
        return [
            [
                Hit(docs[seq][0], float(score), docs[seq][1], json.loads(docs[seq][2]))
                for seq, score in hits
                if seq in docs
            ]
            for hits in ranked
        ]

    def _queries(self, queries, mode: str) -> tuple[list[str] | None, np.ndarray | None]:
        if isinstance(queries, str):
            raise CollectionError("search_batch takes a list of queries; use search() for one query")
        if isinstance(queries, np.ndarray) or (len(queries) and not isinstance(queries[0], str)):
            if mode != "dense":
                raise CollectionError(f"mode={mode!r} needs text queries (keyword search cannot use a vector)")
            _check_positive_int(len(queries), "number of queries", MAX_QUERIES)
            return None, self.check_vectors(queries, "query vectors")
        texts = self._check_texts(queries, len(queries))
        _check_positive_int(len(texts), "number of queries", MAX_QUERIES)
        if mode == "keyword":
            return texts, None
        vectors = self.encoder.encode_queries(texts, normalize=self.metric == "cosine", show_progress=False)
        return texts, self.check_vectors(vectors, "query embeddings")

    def _dense(self, qvecs, k, where, params, count, exact, ef_search, nprobe) -> list[list[tuple[int, float]]]:
        allow = None
        if where != "1":
            allow = np.fromiter(
                (row[0] for row in self._conn.execute(f"SELECT seq FROM docs WHERE {where}", params)), dtype=np.int64
            )
            if not len(allow):
                return [[] for _ in qvecs]
        index = None if exact and self._wanted_kind(count) != "flat" else self._current_index(count)
        if index is None or (index.kind in ("hnsw", "ivf") and allow is not None and len(allow) <= EXACT_FILTER_MAX):
            scores, labels = self._exact(qvecs, k, where, params)
        else:
            spec = self.compression
            depth = k * spec.rescore_multiplier if spec and spec.rescore != "none" else k
            scores, labels = index.search(
                qvecs,
                min(depth, MAX_K * 10),
                allow=allow,
                exclude=None if allow is not None else self._dead,
                ef_search=ef_search,
                nprobe=nprobe,
            )
            if depth != k:  # two-stage: rescore the code candidates with vectors read from the memory-mapped file
                store = self._current_rescore()
                scores, labels = rescore(
                    qvecs, labels, k, self._index_metric(), lambda wanted: store.vectors(wanted, self._vectors_of)
                )
            # An approximate index can run out of candidates under a selective filter: redo those rows exactly.
            expected = min(k, count if allow is None else len(allow))
            short = np.flatnonzero((labels >= 0).sum(axis=1) < expected)
            if len(short):
                scores[short], labels[short] = self._exact(qvecs[short], k, where, params)
        return [
            [(int(label), float(score)) for label, score in zip(row_labels, row_scores, strict=False) if label >= 0]
            for row_labels, row_scores in zip(labels, scores, strict=False)
        ]

    def _vectors_of(self, labels: np.ndarray) -> np.ndarray:
        """Stored float32 vectors of `labels` (all must exist in this snapshot), in the order given."""
        found: dict[int, bytes] = {}
        for chunk in _chunks([int(label) for label in labels]):
            found.update(
                self._conn.execute(
                    f"SELECT seq, vector FROM docs WHERE seq IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            )
        return np.frombuffer(b"".join(found[int(label)] for label in labels), dtype="<f4").reshape(
            len(labels), self.dimension
        )

    def _current_rescore(self, rewrite: bool = False) -> RescoreStore | None:
        """The rescoring file for this snapshot: loaded, or rewritten when missing, invalid or too far behind.

        A file behind the database is still correct for the rows it holds (a label's vector never changes; replaced
        documents get new labels), and rows newer than it are read from SQLite, so it is never a wrong answer.
        """
        path = self._rescore_path(self.compression)
        if path is None:
            return None
        generation = schema.counter(self._conn, "generation")
        store = self._rescore
        if store is None or store.path != path:
            store = RescoreStore.load(path)
        if (
            store is not None
            and (store.stamp.precision, store.stamp.dimension) == (self.compression.rescore, self.dimension)
            and store.stamp.generation <= generation
        ):
            newer = self._conn.execute("SELECT count(*) FROM docs WHERE seq > ?", (store.stamp.max_label,)).fetchone()[
                0
            ]
            if not newer or (not rewrite and newer <= REWRITE_RESCORE_FRACTION * max(store.stamp.count, 1)):
                self._rescore = store
                return store
        labels, matrix = self._vectors()
        self._rescore = RescoreStore.write(path, self.compression.rescore, labels, matrix, generation=generation)
        return self._rescore

    def _exact(self, qvecs: np.ndarray, k: int, where: str, params: list) -> tuple[np.ndarray, np.ndarray]:
        """Brute force over the matching documents' stored vectors (reads them from SQLite)."""
        labels, matrix = self._vectors(where, params)
        return exact_search(qvecs, matrix, labels, k, self._index_metric())

    def _keyword(self, text: str, k: int, where: str, params: list) -> list[tuple[int, float]]:
        match = _fts_query(text)
        if not match:
            return []
        rows = self._conn.execute(
            "SELECT docs.seq, bm25(docs_fts) FROM docs_fts JOIN docs ON docs.seq = docs_fts.rowid "
            f"WHERE docs_fts MATCH ? AND ({where}) ORDER BY bm25(docs_fts) LIMIT ?",
            (match, *params, k),
        )
        return [(seq, -score) for seq, score in rows]  # FTS5's bm25() is lower-is-better

    def _fetch(self, seqs: set[int]) -> dict[int, tuple[str, str | None, str]]:
        found = {}
        for chunk in _chunks(sorted(seqs)):
            marks = ",".join("?" * len(chunk))
            for seq, doc_id, text, meta in self._conn.execute(
                f"SELECT seq, id, text, metadata FROM docs WHERE seq IN ({marks})", chunk
            ):
                found[seq] = (doc_id, text, meta)
        return found


def _compression_spec(
    compression, dimension: int, index: str, rescore: str | None, multiplier: int | None
) -> CompressionSpec | None:
    """The validated spec (None for plain float32 search), as a CollectionError listing the valid choices."""
    if compression is None and rescore is None and multiplier is None:
        return None
    try:
        spec = parse_compression(compression, dimension=dimension, rescore=rescore, rescore_multiplier=multiplier)
    except CodecError as exc:
        raise CollectionError(str(exc)) from None
    if spec.is_identity:
        return None
    if index not in ("auto", "flat"):
        raise CollectionError(
            f"compressed collections scan their codes exhaustively; index must be 'auto' or 'flat', got {index!r}"
        )
    return spec
