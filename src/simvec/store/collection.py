"""`Collection`: documents, metadata and vectors in a store (SQLite, the source of truth), searched through FAISS.

A collection is a directory: `collection.db` (SQLite, WAL) and the index files derived from it
(`simvec.store.derived`). Writers take SQLite's write lock for one batch at a time; readers in other processes
keep searching a consistent snapshot meanwhile. The index is brought up to date from the store before each search.
Input checks live in `simvec.store.validate`, row access in `simvec.store.sqlite`.

Limits: k <= MAX_K; <= MAX_QUERIES queries per search_batch; <= MAX_BATCH_SIZE documents per write
transaction (add splits larger inputs); ids <= MAX_ID_CHARS characters; vectors have the
collection's dimension (the model's, 384 for the default model).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Unpack

import numpy as np

from simvec.encoders import Encoder, ModelCard, resolve_model, shared_encoder
from simvec.encoders import provenance as provenances
from simvec.errors import CollectionError
from simvec.store import adapter as adapters
from simvec.store import calibration as _calibration
from simvec.store import dedup, schema, validate
from simvec.store import multivector as vector_set_rows
from simvec.store.collection_tasks import CollectionTasks
from simvec.store.derived import DerivedIndexes, IndexParams, footprint
from simvec.store.filters import compile_filter, indexed_field_names
from simvec.store.multivector import MultivectorSpec
from simvec.store.multivector_index import MultivectorFiles
from simvec.store.protocol import StoredRow
from simvec.store.results import AddResult, Document, Hit, SearchOptions
from simvec.store.search import explain_plan, rank_queries
from simvec.store.sqlite import SQLiteStore
from simvec.store.validate import MAX_ID_CHARS, check_positive_int
from simvec.tasks.adapt import QueryAdapter
from simvec.types import COLLECTION_METRICS, MODES, CollectionMetric, Mode
from simvec.vectors.compression_spec import CompressionSpec

DB_NAME = "collection.db"
INDEX_CHOICES = ("auto", "flat", "hnsw", "ivf")
BACKENDS = ("native", "milvus")
MAX_K = 10_000
MAX_QUERIES = 100_000
MAX_BATCH_SIZE = 10_000
DEFAULT_BATCH_SIZE = 1_000

__all__ = ["MAX_ID_CHARS", "AddResult", "Collection", "Document", "Hit", "IndexParams", "PendingAdd"]


@dataclass
class PendingAdd:
    """One checked batch of an add, planned against the store: the positions whose content is new (`fresh`) and
    the vectors (and vector sets) embedded for them so far (`ready`, position -> (vector, set or None))."""

    texts: list[str | None]
    ids: list[str]
    meta_json: list[str]
    vectors: np.ndarray | None
    hashes: list[str]
    fresh: list[int]
    unchanged: bool
    ready: dict[int, tuple[np.ndarray, object]] = field(default_factory=dict)


def _model_card(model: str | Path | Encoder | None) -> ModelCard:
    return model.card if isinstance(model, Encoder) else resolve_model(model)


def _provenance_setting(model: str | Path | Encoder | None) -> dict[str, object]:
    """The `provenance` setting of a new collection: known at create only when an Encoder is given."""
    return {"provenance": model.provenance} if isinstance(model, Encoder) else {}


def _create_milvus(
    path: Path,
    card: ModelCard,
    model: str | Path | Encoder | None,
    index: str,
    metric: str,
    index_params: IndexParams | dict | None,
    indexed_fields: Sequence[str] | None,
    multivector: str | dict | None,
    chunking: dict | None,
    **options: object,
) -> Collection:
    from simvec.store.milvus_collection import create_milvus  # pymilvus is an optional dependency

    settings = {
        "encoder": validate.model_identity(card),
        "dimension": card.dimension,
        "metric": metric,
        "index": index,
        "index_params": IndexParams.parse(index_params).as_dict(),
        "indexed_fields": indexed_field_names(indexed_fields),
        "multivector": multivector or chunking,
        **_provenance_setting(model),
    }
    return create_milvus(path, card, model, settings, **options)


class Collection(CollectionTasks):
    """A persistent, searchable set of documents (dense, keyword and hybrid search with metadata filters).

    Not thread-safe: use one Collection object per thread or process.
    """

    def __init__(self, path: Path, store: SQLiteStore, model: str | Path | Encoder | None, index: str | None) -> None:
        self.path = path
        self.store = store
        self.settings = store.settings
        self._encoder = model if isinstance(model, Encoder) else None
        self._index_choice = index or str(self.settings["index"])
        params = IndexParams.parse(self.settings.get("index_params"))
        self.derived = DerivedIndexes(path, store, self.dimension, self.metric, params)
        stored = self.settings.get("multivector")
        self.multivector = MultivectorSpec(**stored) if stored else None
        self.vector_sets = MultivectorFiles(path, store, self.dimension, self.multivector) if stored else None

    # ---- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        model: str | Path | Encoder | None = None,
        index: str = "auto",
        metric: CollectionMetric = "cosine",
        compression: str | dict | CompressionSpec | None = None,
        rescore: str | None = None,
        rescore_multiplier: int | None = None,
        index_params: IndexParams | dict | None = None,
        indexed_fields: Sequence[str] | None = None,
        multivector: str | dict | None = None,
        chunking: dict | None = None,
        backend: str = "native",
        uri: str | None = None,
    ) -> Collection:
        """Create an empty collection directory at `path` for `model` (default: the bundled model).

        `index`: "auto" (flat up to `index_params.auto_hnsw_above` documents, HNSW above), "flat", "hnsw" or "ivf".
        `metric`: "cosine" (vectors stored unit-length), "dot" or "euclidean".
        `compression`: keep compact codes in RAM instead of float32 vectors ("int8", "binary", "binary-itq", "pq48",
        {"truncate_dim": 256, "codec": "binary"}, ... see simvec.vectors.compression_spec); `rescore` ("int8", "float32",
        "none") re-ranks `rescore_multiplier` x k candidates with vectors memory-mapped from disk.
        `index_params`: see `IndexParams` (HNSW M/efConstruction, the auto-HNSW size, the exact-filter size).
        `indexed_fields`: the metadata fields filters look up in an index (None: every field seen in data, at
        ~35 bytes per field per document); a filter on any other field still works, by scanning every document.
        `multivector`: "tokens" (each document as its token vectors) or "chunks" (as its chunk vectors; `chunking`
        alone implies it: {"max_tokens": 256, "overlap": 32, "by": "tokens"|"sentences"}), or a dict with `kind`,
        `chunking`, `fde` (FDEConfig fields), `candidates`, `storage` ("float16"/"int8"). Dense search then finds
        `candidates` documents by their MUVERA FDEs and reranks them by exact MaxSim (see simvec.store.multivector).
        `backend`: "native" (SQLite + FAISS in `path`) or "milvus" (documents in Milvus at `uri`: a Milvus Lite file,
        default `path`/milvus.db, or a server "http://host:19530"; see simvec.store.milvus_collection).
        """
        if backend not in BACKENDS:
            raise CollectionError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
        if uri is not None and backend == "native":
            raise CollectionError("uri is for backend='milvus'; a native collection lives in its directory")
        if index not in INDEX_CHOICES:
            raise CollectionError(f"unknown index {index!r}; valid: {', '.join(INDEX_CHOICES)}")
        if metric not in COLLECTION_METRICS:
            raise CollectionError(f"unknown metric {metric!r}; valid: {', '.join(COLLECTION_METRICS)}")
        path = Path(path)
        if (path / DB_NAME).exists():
            raise CollectionError(f"a collection already exists at {path}; open it with Collection.open")
        if path.exists() and not path.is_dir():
            raise CollectionError(f"{path} exists and is not a directory")
        card = _model_card(model)
        if backend == "milvus":
            return _create_milvus(
                path,
                card,
                model,
                index,
                metric,
                index_params,
                indexed_fields,
                multivector,
                chunking,
                uri=uri,
                compression=compression,
                rescore=rescore,
                rescore_multiplier=rescore_multiplier,
            )
        spec = validate.compression_spec(compression, card.dimension, index, rescore, rescore_multiplier)
        params = IndexParams.parse(index_params)
        fields = indexed_field_names(indexed_fields)
        sets = MultivectorSpec.parse(multivector, chunking, card.dimension, card.max_seq_length)
        if sets is not None and metric != "cosine":
            raise CollectionError(
                f"a multivector collection scores unit vectors by MaxSim: metric must be cosine, got {metric!r}"
            )
        path.mkdir(parents=True, exist_ok=True)
        settings = {
            "encoder": validate.model_identity(card),
            "dimension": card.dimension,
            "metric": metric,
            "index": index,
            "compression": spec.as_dict() if spec else None,
            "index_params": params.as_dict(),
            "indexed_fields": fields,
            **_provenance_setting(model),
        }
        if sets is not None:
            settings["multivector"] = sets.as_dict()
        store = SQLiteStore.create(path / DB_NAME, settings)
        if sets is not None:
            with store.write():
                vector_set_rows.install(store.conn)
        return cls(path, store, model, None)

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
        store = SQLiteStore(path / DB_NAME)
        version = store.migrate()  # older formats are migrated in place, in one transaction
        if version > schema.FORMAT_VERSION:
            store.close()
            raise CollectionError(
                f"{path}: collection format {version} is newer than this simvec supports ({schema.FORMAT_VERSION});"
                " upgrade simvec to open it"
            )
        if "backend" in store.settings:  # kept in Milvus: collection.db holds only the settings
            from simvec.store.milvus_collection import open_milvus  # pymilvus is an optional dependency

            collection = open_milvus(path, store, model, index)
        else:
            collection = cls(path, store, model, index)
        if model is not None:
            collection._check_model(_model_card(model))
        if isinstance(model, Encoder):  # allowed, but its vectors may not match the stored ones: say so
            provenances.check_encoder(model, collection.provenance, collection._owner, collection._warn_key)
        return collection

    def close(self) -> None:
        """Save the index if it changed in memory, and close the database."""
        if self.store.conn is None:
            return
        self.derived.save()
        self.store.close()

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
    def index_params(self) -> IndexParams:
        """How vectors are indexed (see `IndexParams`); assign a new one to change it for this session."""
        return self.derived.params

    @index_params.setter
    def index_params(self, params: IndexParams | dict) -> None:
        self.derived.params = IndexParams.parse(params)

    @property
    def model_id(self) -> str:
        return str(self.settings["encoder"]["model"])

    def _check_model(self, card: ModelCard) -> None:
        validate.check_model(self.settings["encoder"], card, f"collection {self.path.name!r}")

    @property
    def provenance(self) -> dict[str, str | None] | None:
        """The backend (fingerprint, artefact digest) that embedded the documents, or None before any was embedded."""
        return provenances.parse_provenance(self.settings.get("provenance"))

    @property
    def _owner(self) -> str:
        return f"collection {self.path.name!r}"

    @property
    def _warn_key(self) -> str:
        return str(self.path.resolve())

    @property
    def encoder(self) -> Encoder:
        """The collection's encoder, loaded on first use (shared in the process) and checked against the settings.

        It runs the backend recorded in `provenance` when that can be built here, else `auto`'s choice (with a
        warning naming both), so documents and queries are embedded in the space of the stored vectors.
        """
        if self._encoder is None:
            encoder = self.recorded_encoder()
            self._check_model(encoder.card)
            self._encoder = encoder
        return self._encoder

    def recorded_encoder(self, load: provenances.Loader = shared_encoder) -> Encoder:
        """An encoder (from `load(model, backend)`) on the recorded backend, else auto's (warning once, naming both)."""
        return provenances.encoder_for(self.model_id, self.provenance, self._owner, key=self._warn_key, load=load)

    def _kind(self, count: int) -> str:
        return self.derived.wanted_kind(count, self._index_choice, self.compression)

    def info(self) -> dict[str, object]:
        """Count, dimension, model, metric, index kind, compression, RAM and bytes on disk, as a JSON-ready dict.

        `ram_bytes` is what the index keeps in RAM (vectors or codes, plus 8 bytes of label per vector);
        `rescore_bytes_on_disk` the memory-mapped rescoring file (read per candidate, not held in RAM).
        `bytes_per_document` is every file of the collection over the count; `files` splits it by file.
        """
        count = self.count()
        return {
            **self._identity_info(count),
            **footprint(self.path, count, self.dimension),
            "indexed_fields": self.settings.get("indexed_fields"),  # None: every metadata field
            **self.derived.describe(count, self.compression),
            "multivector": self._describe_sets(),
            "calibration": calibration.summary() if (calibration := self.calibration) else None,
        }

    def _identity_info(self, count: int) -> dict[str, object]:
        """The part of `info` every backend shares: where, how many, which model, metric and index."""
        return {
            "path": str(self.path),
            "count": count,
            "dimension": self.dimension,
            "model": self.model_id,
            "encoder": self.settings["encoder"],
            # what embedded the stored documents, and what this process embeds with (None: no encoder loaded yet)
            "provenance": self.provenance,
            "backend_in_use": self._encoder.backend.name if self._encoder is not None else None,
            "metric": self.metric,
            "index": self._index_choice,
            "index_kind": self._kind(count),
            "generation": self.store.generation(),
        }

    def _describe_sets(self) -> dict[str, object] | None:
        if self.vector_sets is None:
            return None
        with self.store.read():
            self.vector_sets.current()
        return self.vector_sets.describe()

    def set_compression(
        self,
        compression: str | dict | CompressionSpec | None,
        *,
        rescore: str | None = None,
        rescore_multiplier: int | None = None,
    ) -> None:
        """Change the compression (None: plain float32) and rebuild the derived files now, from the stored vectors."""
        spec = validate.compression_spec(compression, self.dimension, self._index_choice, rescore, rescore_multiplier)
        # Fit first: a spec the data cannot support (too few vectors) leaves the collection as it was.
        codes, read_generation = self.derived.fit_codes(spec) if spec is not None else (None, 0)
        with self.store.write():
            self.store.set_setting("compression", spec.as_dict() if spec else None)
            _calibration.invalidate(self.store.conn)  # scores change with the codes: the calibration no longer holds
            generation = self.store.generation()
        self.derived.reset()
        if codes is not None and generation == read_generation + 1:  # no other write in between: the codes are current
            self.derived.install(codes, generation)
        self.refresh()

    # ---- writing ---------------------------------------------------------------------------------

    def add(
        self,
        texts: str | Sequence[str] | None = None,
        *,
        ids: str | Sequence[str] | None = None,
        metadata: dict | Sequence[dict | None] | None = None,
        vectors: np.ndarray | Sequence[Sequence[float]] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        show_progress: bool | None = None,
        on_duplicate: str = "allow",
        duplicate_threshold: float = dedup.DEFAULT_THRESHOLD,
    ) -> AddResult:
        """Add or replace documents (upsert by id); one transaction per `batch_size` documents.

        Give `texts` (embedded with the collection's model), `vectors`, or both. Ids are strings,
        generated when omitted. A document whose text (and given vector) is unchanged is not re-embedded;
        only its metadata is updated. `on_duplicate="skip"` or `"flag"` checks each new document against
        the collection first (see simvec.store.dedup); "allow" (default) does not.
        """
        if on_duplicate != "allow":
            return dedup.add_checked(
                self,
                texts,
                ids=ids,
                metadata=metadata,
                vectors=vectors,
                on_duplicate=on_duplicate,
                threshold=duplicate_threshold,
                batch_size=batch_size,
                show_progress=show_progress,
            )
        if isinstance(texts, str):
            texts, ids = [texts], None if ids is None else [ids]
            metadata = None if metadata is None else [metadata]
            vectors = None if vectors is None else [vectors]
        batch_size = check_positive_int(batch_size, "batch_size", MAX_BATCH_SIZE)
        n, text_list, id_list, meta_json, matrix = self._checked_input(texts, ids, metadata, vectors)
        result = AddResult(ids=id_list)
        for start in range(0, n, batch_size):
            batch = slice(start, min(start + batch_size, n))
            pending = self._plan_batch(
                text_list[batch], id_list[batch], meta_json[batch], None if matrix is None else matrix[batch]
            )
            self.embed_pending(pending, show_progress)  # before the write lock: writers and readers never wait
            self.commit_add(pending, result, show_progress)
        return result

    def plan_add(
        self,
        texts: Sequence[str | None] | None,
        *,
        ids: Sequence[str] | None = None,
        metadata: Sequence[dict | None] | None = None,
        vectors: np.ndarray | None = None,
    ) -> PendingAdd:
        """Check one batch (<= MAX_BATCH_SIZE documents) and plan its upsert against the store.

        `add` is `plan_add` + `embed_pending` + `commit_add`; the server runs the embedding step on its model
        thread, so the collection's own thread (and its readers) never waits for the model.
        """
        n, text_list, id_list, meta_json, matrix = self._checked_input(texts, ids, metadata, vectors)
        check_positive_int(n, "number of documents", MAX_BATCH_SIZE)
        return self._plan_batch(text_list, id_list, meta_json, matrix)

    def _checked_input(
        self,
        texts: Sequence[str | None] | None,
        ids: Sequence[str] | None,
        metadata: Sequence[dict | None] | None,
        vectors: np.ndarray | Sequence | None,
    ) -> tuple[int, list[str | None], list[str], list[str], np.ndarray | None]:
        """(n, texts, ids, metadata as JSON, vectors) of an add, each checked; errors name the bad item."""
        n = validate.input_length(texts, ids, vectors)
        text_list = validate.check_texts(texts, n)
        id_list = validate.check_ids(ids, n)
        meta_json = validate.encode_metadata(metadata, id_list)
        matrix = None if vectors is None else self.check_vectors(vectors, "vectors")
        if self.multivector is not None and (vectors is not None or any(t is None for t in text_list)):
            raise CollectionError(
                f"collection {self.path.name!r} keeps each document as {self.multivector.kind} vectors: "
                "add texts, not vectors"
            )
        return n, text_list, id_list, meta_json, matrix

    def _plan_batch(
        self, texts: list[str | None], ids: list[str], meta_json: list[str], vectors: np.ndarray | None
    ) -> PendingAdd:
        hashes = validate.content_hashes(texts, vectors)
        existing = self.store.stored(ids)
        fresh, _ = validate.plan_upsert(ids, hashes, meta_json, existing)
        unchanged = existing == dict(zip(ids, zip(hashes, meta_json, strict=True), strict=True))
        return PendingAdd(texts, ids, meta_json, vectors, hashes, fresh, unchanged)

    def embed_pending(self, pending: PendingAdd, show_progress: bool | None = False) -> None:
        """Embed the documents a plan needs (the model only: no database access, any thread)."""
        self._embed_into(pending, [i for i in pending.fresh if i not in pending.ready], show_progress)

    def _embed_into(self, pending: PendingAdd, wanted: list[int], show_progress: bool | None) -> None:
        if not wanted:
            return
        texts = [pending.texts[i] for i in wanted]
        sets: list = [None] * len(wanted)
        if self.multivector is not None:
            embedded, sets = self._embed_sets(texts, [pending.ids[i] for i in wanted])
        elif pending.vectors is None:
            embedded = self._embed_documents(texts, show_progress)
        else:
            embedded = pending.vectors[wanted]
        pending.ready.update((i, (embedded[j], sets[j])) for j, i in enumerate(wanted))

    def commit_add(self, pending: PendingAdd, result: AddResult, show_progress: bool | None = False) -> None:
        """Write a planned, embedded batch in one transaction (re-planned inside it against other writers)."""
        ids, texts, meta_json, hashes = pending.ids, pending.texts, pending.meta_json, pending.hashes
        if pending.unchanged:
            result.unchanged += len(ids)  # nothing to write: no transaction, the generation stays
            return
        with self.store.write():
            existing = self.store.stored(ids)
            fresh, meta_only = validate.plan_upsert(ids, hashes, meta_json, existing)
            # Another writer changed some of these documents since the plan (rare): embed those now, in the lock.
            self._embed_into(pending, [i for i in fresh if i not in pending.ready], show_progress)
            rows = [StoredRow(ids[i], texts[i], meta_json[i], hashes[i], pending.ready[i][0]) for i in fresh]
            self.store.upsert(rows, replaced=[ids[i] for i in fresh if ids[i] in existing])
            if self.multivector is not None and fresh:
                sets = [pending.ready[i][1] for i in fresh]
                vector_set_rows.write_sets(self.store.conn, [ids[i] for i in fresh], sets, self.multivector.storage)
            self.store.set_metadata([(ids[i], meta_json[i]) for i in meta_only])
            if fresh and pending.vectors is None:
                self._record_provenance()
        replaced = sum(1 for i in fresh if ids[i] in existing)
        result.added += len(fresh) - replaced
        result.updated += replaced + len(meta_only)
        result.unchanged += len(ids) - len(fresh) - len(meta_only)

    def _record_provenance(self) -> None:
        """Record which backend embedded the documents, the first time any are (call inside `store.write()`)."""
        if self.provenance is None and self._encoder is not None:
            kept = self.store.set_setting_once("provenance", self._encoder.provenance)
            # another process recorded its backend first: ours embedded this batch, so say if they differ
            provenances.check_encoder(self._encoder, kept, self._owner, self._warn_key)

    def check_vectors(self, vectors: np.ndarray | Sequence, name: str = "vectors") -> np.ndarray:
        """Vectors as a float32 (n, dimension) matrix (unit-length for cosine); errors name the bad row."""
        owner = f"collection {self.path.name!r} (model {self.model_id})"
        return validate.check_vectors(vectors, self.dimension, self.metric, owner, name)

    def _embed_documents(self, texts: list[str], show_progress: bool | None) -> np.ndarray:
        vectors = self.encoder.encode_documents(texts, normalize=self.metric == "cosine", show_progress=show_progress)
        return self.check_vectors(vectors, "embeddings")

    def _embed_sets(self, texts: list[str], ids: list[str]) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """Each document's single vector (chunks: its first chunk's) and its vector set with chunk spans."""
        for doc_id, text in zip(ids, texts, strict=True):
            if not text.strip():
                raise CollectionError(f"document {doc_id!r} has no tokens (empty text): it has no vectors to keep")
        single, sets = vector_set_rows.encode_sets(self.multivector, self.encoder, texts)
        return self.check_vectors(single, "embeddings"), sets

    def delete(self, ids: str | Sequence[str]) -> int:
        """Delete documents by id (unknown ids are ignored); returns how many were deleted."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        with self.store.write():
            return self.store.delete(ids)

    # ---- reading ---------------------------------------------------------------------------------

    def count(self) -> int:
        """Number of documents."""
        return self.store.count()

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self.store.contains(doc_id)

    def get(
        self, ids: str | Sequence[str], *, include_vectors: bool = False
    ) -> Document | None | list[Document | None]:
        """The document(s) with these ids, None where an id is unknown; a str id gives one result."""
        single = isinstance(ids, str)
        wanted = [ids] if single else list(ids)
        found = self.store.get(wanted, include_vectors)
        documents = [Document(doc_id, *found[doc_id]) if doc_id in found else None for doc_id in wanted]
        return documents[0] if single else documents

    def matrix(self) -> tuple[list[str], np.ndarray]:
        """Every document's id and stored float32 vector, in insertion order (for tuning, tasks and benchmarks)."""
        with self.store.read():
            return self.store.ids(), self.store.vectors()[1].copy()

    def __iter__(self) -> Iterator[tuple[str, str | None, dict]]:
        """(id, text, metadata) of every document, in insertion order, read in pages."""
        return self.store.iterate()

    def refresh(self) -> None:
        """Bring the index up to date with the database and write it to disk (e.g. after a large add)."""
        with self.store.read():
            count = self.count()
            if count:
                self.derived.current(count, self._kind(count), self.compression)
                self.derived.current_rescore(self.compression, rewrite=True)
        self.derived.save()

    # ---- searching -------------------------------------------------------------------------------

    def search(
        self, query: str | np.ndarray | Sequence[float], k: int = 10, **options: Unpack[SearchOptions]
    ) -> list[Hit] | tuple[list[Hit], dict]:
        """The k best documents for one query (a text, or a vector for dense mode), best first.

        Options are those of `search_batch`: filter, mode ("dense", "keyword", "hybrid"), weights,
        exact, ef_search, nprobe, min_relevance, explain.
        """
        if isinstance(query, str) or (self.multivector is not None and np.ndim(query) == 2):  # a text or a vector set
            found = self.search_batch([query], k, **options)
        elif np.ndim(query) == 1:
            found = self.search_batch(np.asarray([query]), k, **options)
        else:
            raise CollectionError(
                f"query must be a text or one vector of shape ({self.dimension},), got shape {np.shape(query)}"
            )
        return (found[0][0], found[1]) if options.get("explain") else found[0]

    def search_batch(
        self,
        queries: Sequence[str] | np.ndarray,
        k: int = 10,
        *,
        filter: dict | None = None,
        mode: Mode = "dense",
        weights: Sequence[float] | None = None,
        exact: bool = False,
        ef_search: int | None = None,
        nprobe: int | None = None,
        min_relevance: float | None = None,
        adapter: QueryAdapter | str | None = adapters.STORED,
        explain: bool = False,
        candidates: int | None = None,
    ) -> list[list[Hit]] | tuple[list[list[Hit]], dict]:
        """The k best documents for each query (texts, or an (n, dimension) matrix): one hit list per query.

        `filter` (see simvec.store.filters) restricts the documents before ranking, in every mode; dense
        search returns k hits whenever k documents match. `mode`: "dense", "keyword" (FTS5 BM25; only
        documents containing a query word) or "hybrid" (reciprocal rank fusion, k=60, of both, with
        optional (dense, keyword) `weights`). `exact=True` skips approximate indexes. `ef_search` (HNSW)
        and `nprobe` (IVF) trade speed for recall. Scores are similarities, or distances for euclidean.
        `min_relevance` (0..1, dense mode, calibrated collections: see `calibrate`) keeps only the hits whose
        calibrated relevance reaches it, possibly fewer than k or none, and sets each hit's `relevance`.

        `adapter`: "stored" (the collection's query adapter, if it has one), None (off) or a `QueryAdapter`; it maps
        query vectors (texts or vectors) for dense and hybrid search.

        `explain=True` returns (hits, plan): how the search ran (see simvec.store.plan) and what it cost.

        Multi-vector collections: dense search scores documents by MaxSim over their stored sets; queries are texts,
        or vector sets ((n, dimension) arrays; for chunks a single vector is the usual query). `candidates` (default:
        the collection's) FDE candidates are reranked per query; `exact=True` reranks every document.
        """
        k = check_positive_int(k, "k", MAX_K)
        if mode not in MODES:
            raise CollectionError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
        if min_relevance is not None:
            min_relevance, calibration = _calibration.check_search(self, min_relevance, mode)
        validate.check_weights(weights, mode)
        compile_filter(filter)  # a bad filter fails before anything is embedded
        self.derived.last_plan = None
        if not isinstance(queries, str) and len(queries) == 0:
            return ([], explain_plan(mode, None)) if explain else []
        if self.multivector is not None and mode == "dense":
            if min_relevance is not None:
                raise CollectionError("min_relevance is not available on multivector collections")
            if candidates is not None:
                candidates = check_positive_int(candidates, "candidates", MAX_QUERIES)
            sets = self._query_sets(queries)
            hits = self.vector_sets.rank(sets, k, filter, candidates, exact)
            plan = {
                "mode": "dense",
                "multivector": "exact MaxSim over every matching document"
                if exact
                else "MUVERA FDE candidates, reranked by exact MaxSim",
            }
            return (hits, plan) if explain else hits
        texts, qvecs = self._queries(queries, mode)
        if qvecs is not None:
            qvecs = adapters.apply(self, qvecs, adapter)
        hits = rank_queries(
            self.store,
            self.derived,
            texts,
            qvecs,
            k,
            mode=mode,
            filter=filter,
            weights=weights,
            kind_of=self._kind,
            spec=self.compression,
            exact=exact,
            ef_search=ef_search,
            nprobe=nprobe,
        )
        self.derived.save_if_rebuilt()
        if min_relevance is not None:
            hits = _calibration.filter_hits(calibration, hits, qvecs, texts, min_relevance, self.count())
        return (hits, explain_plan(mode, self.derived.last_plan)) if explain else hits

    def _query_sets(self, queries: Sequence[str] | Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        if isinstance(queries, str):
            raise CollectionError("search_batch takes a list of queries; use search() for one query")
        check_positive_int(len(queries), "number of queries", MAX_QUERIES)
        if all(isinstance(q, str) for q in queries):
            texts = validate.check_texts(queries, len(queries))
            return vector_set_rows.query_sets(self.multivector, self.encoder, texts)
        owner = f"collection {self.path.name!r} (model {self.model_id}, dimension {self.dimension})"
        return [
            vector_set_rows.check_query_set(q, self.dimension, f"query {i} for {owner}") for i, q in enumerate(queries)
        ]

    def _queries(self, queries: Sequence[str] | np.ndarray, mode: str) -> tuple[list[str] | None, np.ndarray | None]:
        if isinstance(queries, str):
            raise CollectionError("search_batch takes a list of queries; use search() for one query")
        if isinstance(queries, np.ndarray) or (len(queries) and not isinstance(queries[0], str)):
            if mode != "dense":
                raise CollectionError(f"mode={mode!r} needs text queries (keyword search cannot use a vector)")
            check_positive_int(len(queries), "number of queries", MAX_QUERIES)
            return None, self.check_vectors(queries, "query vectors")
        texts = validate.check_texts(queries, len(queries))
        check_positive_int(len(texts), "number of queries", MAX_QUERIES)
        if mode == "keyword":
            return texts, None
        vectors = self.encoder.encode_queries(texts, normalize=self.metric == "cosine", show_progress=False)
        return texts, self.check_vectors(vectors, "query embeddings")
