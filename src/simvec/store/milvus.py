"""`MilvusStore`: a collection's documents, vectors and metadata in Milvus (Lite embedded, or a server by URI).

Milvus keeps one entity per document: `id` (primary key), `text` (with Milvus' BM25 function writing `sparse`),
`meta` (JSON, filtered by `simvec.store.milvus_filters`), `meta_json` (the canonical JSON the content-hash check
compares), `hash`, `seq` (insertion order) and `vector`. Milvus answers dense and keyword queries itself.

The settings (encoder, metric, index, where the Milvus collection is) stay in the collection directory's
`collection.db`, as for a native collection, and `write()` holds its write lock and bumps its generation, so
writers are serialised the same way. Milvus has no multi-row transactions: a batch is one upsert call.
Labels are document ids (strings): Milvus keys entities by id, and nothing derived is kept beside it.

Servers older than Milvus 2.5 lack full-text search, nullable fields, filter templates and `is null`
(`Features`): there a collection is created without `sparse`, a missing text is stored as "" with
`has_text` false, filters are written as literals with `exists` for null checks, and keyword search is refused.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np

from simvec.errors import CollectionError, MissingDependencyError
from simvec.store.milvus_filters import Expression, compile_milvus
from simvec.store.protocol import StoredRow
from simvec.store.sqlite import SQLiteStore

MAX_TEXT_BYTES = 65_535  # Milvus' VARCHAR limit
MAX_ID_BYTES = 4_096  # MAX_ID_CHARS (1,024) characters of up to 4 UTF-8 bytes
CONNECT_TIMEOUT = 10.0  # seconds to reach a server before the URI is reported unreachable
METRICS = {"cosine": "COSINE", "dot": "IP", "euclidean": "L2"}
INDEX_TYPES = {"auto": "FLAT", "flat": "FLAT", "hnsw": "HNSW", "ivf": "IVF_FLAT"}
# What Milvus Lite 3.2 builds (measured): the rest is accepted by create_index and fails at load.
LITE_INDEX_TYPES = {"FLAT", "HNSW", "HNSW_SQ", "IVF_FLAT", "IVF_SQ8"}
FIELDS = ["id", "text", "meta_json", "hash", "seq"]
FULL_TEXT_VERSION = (2, 5)  # the first Milvus with BM25 functions, nullable fields, filter templates and `is null`
PAGE = 1_000
NLIST = 128  # IVF lists; searches probe max(8, NLIST // 8) unless nprobe says otherwise, as native IVF does


def is_lite(uri: str) -> bool:
    """A local file URI (Milvus Lite) rather than a server address."""
    return not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


@dataclass(frozen=True)
class IndexPlan:
    """The Milvus index of a collection: its type and build parameters."""

    index_type: str
    params: dict

    @property
    def exact(self) -> bool:
        return self.index_type == "FLAT"


def index_plan(index: str, spec: dict | None, lite: bool, hnsw_m: int, ef_construction: int) -> IndexPlan:
    """The Milvus index for a simvec index choice and compression, or a CollectionError saying what has none."""
    kind = INDEX_TYPES[index]
    if spec:
        codec = spec.get("codec")
        plain = not spec.get("truncate_dim") and not spec.get("pca_dim") and spec.get("rotation", "none") == "none"
        if codec == "int8" and plain and spec.get("rescore", "none") in ("none", "float32"):
            # int8 scalar quantisation: HNSW_SQ (graph over SQ8 codes; rescore float32 = Milvus' refine step)
            # or IVF_SQ8 (inverted lists of SQ8 codes) for flat/ivf choices.
            if index == "hnsw" or spec.get("rescore") == "float32":
                extra = {"refine": True, "refine_type": "FP32"} if spec.get("rescore") == "float32" else {}
                kind, built = "HNSW_SQ", {"M": hnsw_m, "efConstruction": ef_construction, "sq_type": "SQ8", **extra}
                return IndexPlan(kind, built)
            return IndexPlan("IVF_SQ8", {"nlist": NLIST})
        if codec == "pq" and plain and spec.get("rescore", "none") == "none":
            if lite:
                raise CollectionError(
                    "compression 'pq' maps to Milvus' IVF_PQ, which Milvus Lite does not build; use a Milvus server "
                    "(uri='http://host:19530') or compression='int8'"
                )
            return IndexPlan("IVF_PQ", {"nlist": NLIST, "m": spec["pq_m"], "nbits": 8})
        raise CollectionError(
            f"compression {spec!r} has no Milvus index type: the milvus backend maps 'int8' (HNSW_SQ / IVF_SQ8, "
            "rescore 'float32' as HNSW_SQ refine) and 'pq<m>' (IVF_PQ, servers only); binary codes need a binary "
            "vector field, and truncation, PCA and int8 rescoring have no Milvus equivalent"
        )
    if kind == "HNSW":
        return IndexPlan(kind, {"M": hnsw_m, "efConstruction": ef_construction})
    if kind == "IVF_FLAT":
        return IndexPlan(kind, {"nlist": NLIST})
    return IndexPlan(kind, {})


@dataclass(frozen=True)
class Features:
    """What the Milvus at a URI supports beyond Milvus 2.3."""

    version: str
    full_text: bool  # BM25 functions over an analysed text field, and nullable fields
    templates: bool  # filter templates with filter_params
    legacy_filters: bool  # no `is null`, and JSON booleans never equal numbers (see milvus_filters)


def features(client: object, uri: str) -> Features:
    """What the Milvus at `uri` supports: Lite 3.x all but templates; a server by its version."""
    if is_lite(uri):
        return Features("lite", full_text=True, templates=False, legacy_filters=False)
    version = str(client.get_server_version())  # "v2.3.5-lite", "v2.5.4", ...
    found = re.match(r"v?(\d+)\.(\d+)", version)
    modern = found is None or (int(found[1]), int(found[2])) >= FULL_TEXT_VERSION
    return Features(version, full_text=modern, templates=modern, legacy_filters=not modern)


_CLIENTS: dict[str, list] = {}  # uri -> [client, users, features]: one client per Lite file per process


def connect(uri: str) -> tuple[object, Features]:
    """A MilvusClient for `uri` (shared within the process) and what that Milvus supports, or a CollectionError
    naming the URI."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise MissingDependencyError(
            "the milvus backend needs pymilvus and milvus-lite: pip install 'simvec[scale]'"
        ) from None
    entry = _CLIENTS.get(uri)
    if entry is None:
        try:
            client = MilvusClient(uri=uri, timeout=CONNECT_TIMEOUT)
            client.list_collections()
            found = features(client, uri)
        except Exception as exc:  # pymilvus raises MilvusException, grpc errors or OSError by transport
            raise CollectionError(f"cannot reach Milvus at {uri!r}: {str(exc).strip()[:300]}") from None
        entry = _CLIENTS[uri] = [client, 0, found]
    entry[1] += 1
    return entry[0], entry[2]


def disconnect(uri: str) -> None:
    """Release one user of the shared client; the last one closes it."""
    entry = _CLIENTS.get(uri)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _CLIENTS[uri]
        entry[0].close()


class MilvusStore:
    """The `Store` of a collection kept in Milvus; settings and the writers' lock stay in `collection.db`."""

    def __init__(self, settings_store: SQLiteStore, client: object, features: Features, uri: str, name: str) -> None:
        self.local = settings_store
        self.conn = settings_store.conn  # calibration and adapters look here for their (absent) tables
        self.settings = settings_store.settings
        self.client, self.uri, self.name = client, uri, name
        self.features = features
        # The schema a collection was created with: a server upgraded to 2.5 keeps its collections' old schema.
        self.full_text = bool(self.settings["backend"].get("full_text", True))
        self.fields = FIELDS if self.full_text else [*FIELDS, "has_text"]
        self.dimension = int(self.settings["dimension"])
        self._seq = 0

    # ---- lifecycle, transactions, settings -------------------------------------------------------

    def close(self) -> None:
        """Close the settings database and release the Milvus client (idempotent)."""
        if self.local.conn is not None:
            self.local.close()
            self.conn = None
            disconnect(self.uri)

    def migrate(self) -> int:
        return self.local.migrate()

    def read(self) -> AbstractContextManager[None]:
        """Milvus reads are Strong-consistency queries; there is no snapshot spanning several of them."""
        return nullcontext()

    @contextmanager
    def write(self) -> Iterator[None]:
        """Holds collection.db's write lock (one writer at a time) and bumps the generation."""
        with self.local.write():
            yield

    def set_setting(self, key: str, value: object) -> None:
        self.local.set_setting(key, value)

    def set_setting_once(self, key: str, value: object) -> object:
        return self.local.set_setting_once(key, value)

    def generation(self) -> int:
        return self.local.generation()

    def count(self) -> int:
        rows = self._call("count", self.client.query, self.name, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def _call(self, what: str, fn: object, *args: object, **kwargs: object) -> object:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # pymilvus wraps server errors as MilvusException; transport errors vary
            if type(exc).__name__ not in ("MilvusException", "MilvusUnavailableException", "_InactiveRpcError"):
                raise
            raise CollectionError(
                f"Milvus at {self.uri!r} (collection {self.name!r}) failed to {what}: {str(exc).strip()[:300]}"
            ) from None

    def compile(self, filter: dict | None) -> Expression:
        """A simvec filter as an expression in this Milvus' dialect."""
        return compile_milvus(filter, legacy=self.features.legacy_filters)

    def _filter(self, expression: Expression, extra: str = "") -> dict:
        """The filter keyword arguments: a template with params where Milvus has templates, else literals."""
        if not expression.template:
            return {"filter": extra}
        if not self.features.templates:
            text = expression.render()
            return {"filter": f"({extra}) and ({text})" if extra else text}
        text = f"({extra}) and ({expression.template})" if extra else expression.template
        return {"filter": text, "filter_params": expression.params}

    # ---- documents -------------------------------------------------------------------------------

    def _get(self, ids: Sequence[str], fields: list[str]) -> list[dict]:
        found: list[dict] = []
        for start in range(0, len(ids), PAGE):
            found += self._call(
                "get documents", self.client.get, self.name, ids=list(ids[start : start + PAGE]), output_fields=fields
            )
        return found

    def contains(self, doc_id: str) -> bool:
        return bool(self._get([doc_id], ["id"]))

    def stored(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """id -> (content hash, metadata JSON) of the stored documents among `ids`."""
        return {row["id"]: (row["hash"], row["meta_json"]) for row in self._get(ids, ["id", "hash", "meta_json"])}

    def _entity(self, doc_id: str, text: str | None, meta_json: str, digest: str, seq: int, vector: np.ndarray) -> dict:
        if len(doc_id.encode()) > MAX_ID_BYTES:
            raise CollectionError(f"id {doc_id[:40]!r}... is longer than Milvus' {MAX_ID_BYTES} bytes")
        if text is not None and len(text.encode()) > MAX_TEXT_BYTES:
            raise CollectionError(f"document {doc_id!r}: text is longer than Milvus' {MAX_TEXT_BYTES:,} bytes")
        # Without nullable fields (Milvus < 2.5) a missing text is "" with has_text false.
        stored_text = {"text": text} if self.full_text else {"text": text or "", "has_text": text is not None}
        return {
            "id": doc_id,
            **stored_text,
            "meta": self._filterable(json.loads(meta_json)),
            "meta_json": meta_json,
            "hash": digest,
            "seq": seq,
            "vector": np.asarray(vector, dtype=np.float32).tolist(),
        }

    def _filterable(self, meta: dict) -> dict:
        """The metadata filters see: without `is null` (Milvus < 2.5) a JSON null would `exist`, so it is left out
        and `not exists` matches it as natively a null matches None (`meta_json` keeps the document's own)."""
        return {key: v for key, v in meta.items() if v is not None} if self.features.legacy_filters else meta

    def _next_seq(self, n: int) -> int:
        # Insertion order across processes without a counter round trip: nanoseconds, strictly increasing here.
        start = max(time.time_ns(), self._seq + 1)
        self._seq = start + n
        return start

    def upsert(self, rows: Sequence[StoredRow], replaced: Sequence[str]) -> None:
        """Write `rows` (a replaced id gets a new position at the end, as in the native store)."""
        if not rows:
            return
        seq = self._next_seq(len(rows))
        entities = [self._entity(r.id, r.text, r.metadata, r.hash, seq + i, r.vector) for i, r in enumerate(rows)]
        self._call("upsert", self.client.upsert, self.name, entities)

    def set_metadata(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Replace the metadata JSON of (id, metadata) pairs, keeping text, vector and position."""
        if not pairs:
            return
        current = {row["id"]: row for row in self._get([doc_id for doc_id, _ in pairs], [*self.fields, "vector"])}
        entities = [
            self._entity(doc_id, self._text(row), meta, row["hash"], row["seq"], row["vector"])
            for doc_id, meta in pairs
            if (row := current.get(doc_id)) is not None
        ]
        self._call("upsert", self.client.upsert, self.name, entities)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents by id; returns how many existed."""
        existing = [row["id"] for row in self._get(ids, ["id"])]
        if existing:
            self._call("delete", self.client.delete, self.name, ids=existing)
        return len(existing)

    def _text(self, row: dict) -> str | None:
        return row["text"] if self.full_text or row["has_text"] else None

    def get(self, ids: Sequence[str], include_vectors: bool) -> dict[str, tuple[str | None, dict, np.ndarray | None]]:
        fields = [*self.fields, "vector"] if include_vectors else self.fields
        return {
            row["id"]: (
                self._text(row),
                json.loads(row["meta_json"]),
                np.asarray(row["vector"], dtype=np.float32) if include_vectors else None,
            )
            for row in self._get(ids, fields)
        }

    def _order(self) -> list[str]:
        """Every id in insertion order. Milvus returns entities in no order, so (id, seq) pairs are sorted here."""
        pairs: list[tuple[int, str]] = []
        iterator = self._call(
            "iterate", self.client.query_iterator, self.name, batch_size=10 * PAGE, output_fields=["id", "seq"]
        )
        while batch := iterator.next():
            pairs += [(row["seq"], row["id"]) for row in batch]
        iterator.close()
        return [doc_id for _, doc_id in sorted(pairs)]

    def ids(self) -> list[str]:
        return self._order()

    def iterate(self, page: int = PAGE) -> Iterator[tuple[str, str | None, dict]]:
        """(id, text, metadata) of every document, in insertion order, read in pages."""
        order = self._order()
        for start in range(0, len(order), page):
            chunk = order[start : start + page]
            found = self.get(chunk, include_vectors=False)
            for doc_id in chunk:
                if doc_id in found:  # deleted meanwhile
                    text, meta, _ = found[doc_id]
                    yield doc_id, text, meta

    def fetch(self, labels: set) -> dict[str, tuple[str, str | None, str]]:
        """label (= id) -> (id, text, metadata JSON) for the documents still stored."""
        rows = self._get(sorted(labels), self.fields)
        return {row["id"]: (row["id"], self._text(row), row["meta_json"]) for row in rows}

    def vectors(self, filter: dict | None = None, after: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(positions, float32 matrix) of every document in insertion order (filter and after: native only)."""
        if filter or after:
            raise RuntimeError("bug: filtered or incremental vectors() is only used by the native derived indexes")
        order = self._order()
        matrix = np.zeros((len(order), self.dimension), dtype=np.float32)
        at = {doc_id: i for i, doc_id in enumerate(order)}
        for start in range(0, len(order), PAGE):
            for row in self._get(order[start : start + PAGE], ["id", "vector"]):
                matrix[at[row["id"]]] = row["vector"]
        return np.arange(len(order), dtype=np.int64), matrix

    # ---- search ----------------------------------------------------------------------------------

    def dense(
        self, vectors: np.ndarray, k: int, filter: dict | None, search_params: dict, metric: str
    ) -> list[list[tuple[str, float]]]:
        """The k nearest documents per query vector among those matching `filter`: (id, score) best first."""
        expression = self.compile(filter)
        if expression.empty:
            return [[] for _ in range(len(vectors))]
        found = self._call(
            "search",
            self.client.search,
            self.name,
            data=np.asarray(vectors, dtype=np.float32).tolist(),
            anns_field="vector",
            limit=k,
            output_fields=["id"],
            search_params={"metric_type": METRICS[metric], "params": search_params},
            **self._filter(expression),
        )
        # Milvus' L2 is the squared distance; simvec reports the distance itself.
        score = (lambda d: math.sqrt(max(d, 0.0))) if metric == "euclidean" else float
        return [[(hit["id"], score(hit["distance"])) for hit in hits] for hits in found]

    def matching_vectors(self, filter: dict, limit: int) -> tuple[list[str], np.ndarray] | None:
        """(ids, vectors) of the documents matching `filter` when at most `limit` do, else None."""
        expression = self.compile(filter)
        if expression.empty:
            return [], np.empty((0, 0), dtype=np.float32)
        where = self._filter(expression)
        rows = self._call("count matching documents", self.client.query, self.name, output_fields=["count(*)"], **where)
        if int(rows[0]["count(*)"]) > limit:
            return None
        found = self._call(
            "read matching vectors", self.client.query, self.name, output_fields=["id", "vector"], limit=limit, **where
        )
        if not found:
            return [], np.empty((0, 0), dtype=np.float32)
        return [row["id"] for row in found], np.asarray([row["vector"] for row in found], dtype=np.float32)

    def keyword(self, text: str, k: int, filter: dict | None = None) -> list[tuple[str, float]]:
        """(id, BM25 score) of the k best keyword matches among the filtered documents (Milvus full-text search)."""
        if not self.full_text:
            raise CollectionError(
                f"keyword and hybrid search need Milvus' full-text search (BM25, Milvus 2.5 or later): collection "
                f"{self.name!r} was created on a Milvus without it (the server at {self.uri!r} runs "
                f"{self.features.version}); use dense search, or a Milvus 2.5+ server or Milvus Lite"
            )
        expression = self.compile(filter)
        if expression.empty or not any(ch.isalnum() for ch in text):
            return []
        found = self._call(
            "run a keyword search",
            self.client.search,
            self.name,
            data=[text],
            anns_field="sparse",
            limit=k,
            output_fields=["id"],
            search_params={"metric_type": "BM25"},
            **self._filter(expression),
        )
        # Milvus Lite reports -BM25 as a distance, a server BM25 itself; both rank best first.
        return [(hit["id"], abs(float(hit["distance"]))) for hit in found[0]]
