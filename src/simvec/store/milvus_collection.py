"""`MilvusCollection`: a `Collection` whose documents live in Milvus (`Collection.create(path, backend="milvus")`).

The collection directory keeps `collection.db` with the settings only (encoder, metric, index, where the Milvus
collection is), so `Collection.open`, the CLI and the server find it like any collection; everything else is in
Milvus, which answers dense and keyword queries itself (`simvec.store.milvus`). Hybrid search fuses Milvus' two
rankings client-side with the same reciprocal rank fusion as native collections, so weights mean the same.
The deliberate differences from native collections are listed in docs/ARCHITECTURE.md ("Milvus backend").
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simvec.encoders import Encoder, ModelCard
from simvec.errors import CollectionError
from simvec.store.collection import DB_NAME, Collection
from simvec.store.derived import IndexParams
from simvec.store.milvus import (
    LITE_INDEX_TYPES,
    METRICS,
    NLIST,
    IndexPlan,
    MilvusStore,
    connect,
    disconnect,
    index_plan,
    is_lite,
)
from simvec.store.plan import Plan
from simvec.store.sqlite import SQLiteStore
from simvec.vectors.compression_spec import parse_compression
from simvec.vectors.similarity import top_k

MILVUS_QUERY_WINDOW = 16_384  # Milvus returns at most this many rows from one query (offset + limit)
ENCODER_PROPERTY = "simvec.encoder"  # the encoder identity, kept in Milvus too: another simvec directory may attach
DEFAULT_LITE_FILE = "milvus.db"


def collection_name(path: Path) -> str:
    """A Milvus collection name for a directory: letters, digits and '_' (Milvus' rule), unique per absolute path."""
    import hashlib

    stem = re.sub(r"[^A-Za-z0-9_]", "_", path.name)[:40]
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    return f"simvec_{stem}_{digest}"


def _uri(path: Path, uri: str | None) -> str:
    if uri is None:
        return str((path / DEFAULT_LITE_FILE).resolve())
    if not isinstance(uri, str) or not uri:
        raise CollectionError(f"uri must be a Milvus Lite file ('./milvus.db') or a server address, got {uri!r}")
    return uri if not is_lite(uri) else str(Path(uri).expanduser().resolve())


def _schema(client: object, dimension: int, full_text: bool) -> object:
    """The entity schema; without full-text search (Milvus < 2.5) no BM25 `sparse` field, and `has_text` instead of
    a nullable text."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=4_096)
    if full_text:
        schema.add_field("text", DataType.VARCHAR, max_length=65_535, enable_analyzer=True, nullable=True)
    else:
        schema.add_field("text", DataType.VARCHAR, max_length=65_535)
        schema.add_field("has_text", DataType.BOOL)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("meta_json", DataType.VARCHAR, max_length=65_535)
    schema.add_field("hash", DataType.VARCHAR, max_length=128)
    schema.add_field("seq", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    if full_text:
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
            )
        )
    return schema


def create_milvus(
    path: Path,
    card: ModelCard,
    model: str | Path | Encoder | None,
    settings: dict,
    *,
    uri: str | None,
    compression: str | dict | None,
    rescore: str | None,
    rescore_multiplier: int | None,
) -> MilvusCollection:
    """Create the Milvus collection, then `collection.db` with the settings (see `Collection.create`)."""
    if settings.get("multivector") is not None:
        raise CollectionError(
            "multivector collections are native only: the milvus backend keeps one vector per document"
        )
    if settings.get("indexed_fields") is not None:
        raise CollectionError("indexed_fields is native only: Milvus filters on the JSON metadata field directly")
    spec = None
    if compression is not None or rescore is not None or rescore_multiplier is not None:
        try:
            parsed = parse_compression(
                compression, dimension=card.dimension, rescore=rescore, rescore_multiplier=rescore_multiplier
            )
        except Exception as exc:  # CodecError: the same message as native collections
            raise CollectionError(str(exc)) from None
        spec = None if parsed.is_identity else parsed.as_dict()
    uri = _uri(path, uri)
    lite = is_lite(uri)
    params = IndexParams.parse(settings["index_params"])
    plan = index_plan(str(settings["index"]), spec, lite, params.hnsw_m, params.hnsw_ef_construction)
    if lite and plan.index_type not in LITE_INDEX_TYPES:
        raise RuntimeError(f"bug: {plan.index_type} reached a Milvus Lite collection")
    if lite:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    client, found = connect(uri)
    full_text = found.full_text
    name = collection_name(path)
    created = False
    try:
        if client.has_collection(name):
            other = client.describe_collection(name).get("properties", {}).get(ENCODER_PROPERTY)
            model_of = json.loads(other)["model"] if other else "unknown"
            raise CollectionError(
                f"Milvus at {uri!r} already has collection {name!r} (model {model_of!r}); open {path} instead"
            )
        indexes = client.prepare_index_params()
        indexes.add_index(
            "vector",
            index_type=plan.index_type,
            metric_type=METRICS[settings["metric"]],
            params={"params": plan.params},
        )  # Milvus drops build parameters given any other way
        if full_text:
            indexes.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        created = True  # from here on a failure may leave a collection without its index: dropped below
        client.create_collection(
            name,
            schema=_schema(client, card.dimension, full_text),
            index_params=indexes,
            consistency_level="Strong",
            properties={ENCODER_PROPERTY: json.dumps(settings["encoder"], sort_keys=True)},
        )
    except CollectionError:
        disconnect(uri)
        raise
    except Exception as exc:
        if created and type(exc).__name__ == "MilvusException" and client.has_collection(name):
            client.drop_collection(name)
        disconnect(uri)
        if type(exc).__name__ != "MilvusException":
            raise
        raise CollectionError(f"Milvus at {uri!r} refused to create collection {name!r}: {exc}") from None
    settings = {
        **{key: value for key, value in settings.items() if key != "multivector"},
        "compression": spec,
        "indexed_fields": None,
        "backend": {
            "name": "milvus",
            "uri": uri,
            "collection": name,
            "index_type": plan.index_type,
            "index_params": plan.params,
            "full_text": full_text,
        },
    }
    path.mkdir(parents=True, exist_ok=True)
    local = SQLiteStore.create(path / DB_NAME, settings)
    return MilvusCollection(path, MilvusStore(local, client, found, uri, name), model, None)


def open_milvus(path: Path, local: SQLiteStore, model: str | Path | Encoder | None, index: str | None) -> Collection:
    """Open a Milvus-backed collection whose settings `local` holds; checks the Milvus collection is there and its."""
    backend = local.settings["backend"]
    uri, name = str(backend["uri"]), str(backend["collection"])
    if index is not None and index != local.settings["index"]:
        local.close()
        raise CollectionError(
            f"collection {path} is kept in Milvus with a {backend['index_type']} index, built at create time; "
            f"it cannot be searched with index={index!r} for one session"
        )
    try:
        client, found = connect(uri)
    except CollectionError:
        local.close()
        raise
    store = MilvusStore(local, client, found, uri, name)
    try:
        if not client.has_collection(name):
            raise CollectionError(f"collection {path}: Milvus at {uri!r} has no collection {name!r} (dropped?)")
        kept = client.describe_collection(name).get("properties", {}).get(ENCODER_PROPERTY)
        if kept is not None and json.loads(kept) != local.settings["encoder"]:
            raise CollectionError(
                f"collection {path}: Milvus collection {name!r} at {uri!r} was created by model "
                f"{json.loads(kept).get('model')!r}, but {DB_NAME} says {local.settings['encoder'].get('model')!r}"
            )
        store._call("load the collection", client.load_collection, name)  # Lite releases it when a process ends
    except Exception:
        store.close()
        raise
    return MilvusCollection(path, store, model, index)


class MilvusSearch:
    """Dense search on Milvus, in the place of `DerivedIndexes`: Milvus answers dense queries itself."""

    def __init__(self, store: MilvusStore, metric: str, plan: IndexPlan, params: IndexParams) -> None:
        self.store, self.metric, self.plan, self.params = store, metric, plan, params
        self.last_plan: Plan | None = None

    def search(
        self,
        vectors: np.ndarray,
        k: int,
        *,
        filter: dict | None,
        count: int,
        kind: str,
        spec: object,
        exact: bool,
        ef_search: int | None,
        nprobe: int | None,
    ) -> list[list[tuple[str, float]]]:
        """The k best (id, score) per query vector among the documents matching `filter`."""
        if exact and not self.plan.exact:
            raise CollectionError(
                f"exact=True: this Milvus collection has a {self.plan.index_type} index; create it with index='flat' "
                "for exact search"
            )
        index = self.plan.index_type
        if filter is not None and not self.plan.exact:
            # Milvus' graph and IVF searches lose most of a selective filter's matches (Lite's HNSW: recall@10
            # 0.22 at 0.1% of documents, BENCHMARKS.md), so few matches are scored exactly, as native plans do.
            started = time.perf_counter()
            subset = self.store.matching_vectors(filter, min(self.params.exact_filter_max, MILVUS_QUERY_WINDOW))
            if subset is not None:
                ids, matrix = subset
                hits: list[list[tuple[str, float]]] = [[] for _ in range(len(vectors))]
                if ids:
                    scores, rows = top_k(np.asarray(vectors, dtype=np.float32), matrix, k, self.metric)
                    hits = [
                        [(ids[j], float(v)) for v, j in zip(s, r, strict=True)]
                        for s, r in zip(scores, rows, strict=True)
                    ]
                self.last_plan = Plan(
                    strategy="subset",
                    index_kind=index,
                    count=count,
                    matching=len(ids),
                    exact=True,
                    scored=len(ids),
                    search_ms=(time.perf_counter() - started) * 1000,
                )
                return hits
        search_params: dict[str, int] = {}
        if index.startswith("HNSW"):
            search_params["ef"] = max(ef_search or 128, k)  # native HNSW's default efSearch, widened to k
        elif index.startswith("IVF"):
            search_params["nprobe"] = min(NLIST, nprobe or max(8, NLIST // 8))
        started = time.perf_counter()
        hits = self.store.dense(vectors, k, filter, search_params, self.metric)
        self.last_plan = Plan(
            strategy="milvus",
            index_kind=index,
            count=count,
            exact=self.plan.exact,
            scored=k,
            search_ms=(time.perf_counter() - started) * 1000,
        )
        return hits

    def save(self) -> None:
        """Nothing derived is kept beside Milvus."""

    def save_if_rebuilt(self) -> None:
        """Nothing derived is kept beside Milvus."""


class MilvusCollection(Collection):
    """A collection kept in Milvus: the same API as a native collection (see docs/ARCHITECTURE.md for differences)."""

    def __init__(self, path: Path, store: MilvusStore, model: str | Path | Encoder | None, index: str | None) -> None:
        self.path = path
        self.store = store
        self.settings = store.settings
        self._encoder = model if isinstance(model, Encoder) else None
        self._index_choice = str(self.settings["index"])
        backend = self.settings["backend"]
        self.index_plan = IndexPlan(str(backend["index_type"]), dict(backend["index_params"]))
        params = IndexParams.parse(self.settings.get("index_params"))
        self.derived = MilvusSearch(store, self.metric, self.index_plan, params)
        self.multivector = None
        self.vector_sets = None

    @property
    def backend(self) -> dict:
        """Where the documents are: {"name": "milvus", "uri", "collection", "index_type", "index_params", "full_text"}."""
        return dict(self.settings["backend"])

    def close(self) -> None:
        """Release the Milvus client and close the settings database."""
        self.store.close()

    def __repr__(self) -> str:
        return f"MilvusCollection({str(self.path)!r}, uri={self.store.uri!r}, model={self.model_id!r})"

    def _kind(self, count: int) -> str:
        return self.index_plan.index_type

    def refresh(self) -> None:
        """Flush Milvus' buffers and load the collection, then check its index really exists as built."""
        client, name = self.store.client, self.store.name
        self.store._call("flush", client.flush, name)
        self.store._call("load the collection", client.load_collection, name)
        described = self.store._call("describe the index", client.describe_index, name, "vector")
        # Milvus Lite accepts index types it cannot build and searches by brute force: never trust, check.
        if not described or described.get("index_type") != self.index_plan.index_type:
            raise CollectionError(
                f"Milvus at {self.store.uri!r} has no {self.index_plan.index_type} index on collection {name!r} "
                f"(found {described!r})"
            )
        if described.get("state") not in (None, "Finished") or described.get("pending_index_rows", 0):
            raise CollectionError(f"Milvus index of {name!r} is not built after a flush: {described!r}")

    def info(self) -> dict[str, object]:
        """Count, model, metric, the Milvus index and where the collection lives, as a JSON-ready dict."""
        count = self.count()
        described = self.store._call("describe the index", self.store.client.describe_index, self.store.name, "vector")
        return {
            **self._identity_info(count),
            "backend": self.backend,
            "milvus_index": {key: described.get(key) for key in ("index_type", "params", "indexed_rows", "state")},
            "compression": self.settings.get("compression"),
            "indexed_fields": None,
            "multivector": None,
            "calibration": None,
        }

    def _refused(self, what: str) -> CollectionError:
        return CollectionError(
            f"{what} is not available on the milvus backend (collection {self.path}); use a native collection"
        )

    def set_compression(
        self, compression: object, *, rescore: str | None = None, rescore_multiplier: int | None = None
    ) -> None:
        """Refused: a Milvus index is chosen at create time (create a new collection with the compression)."""
        raise self._refused("changing the compression of an existing collection")

    def calibrate(self, *args: object, **kwargs: object) -> None:
        """Refused: calibration is stored beside native collections only."""
        raise self._refused("relevance calibration")

    @property
    def calibration(self) -> None:
        """Milvus collections are never calibrated."""
        return None

    def set_calibration(self, calibration: object) -> None:
        """Refused: calibration is stored beside native collections only."""
        raise self._refused("relevance calibration")

    def train_adapter(self, *args: object, **kwargs: object) -> None:
        """Refused: query adapters are stored beside native collections only."""
        raise self._refused("query adapters")

    def set_adapter(self, adapter: object) -> None:
        """Refused: query adapters are stored beside native collections only."""
        raise self._refused("query adapters")

    def matching(self, filter: dict | None) -> Sequence[str]:
        """Ids of the documents matching `filter` (Milvus' own evaluation of the compiled expression)."""
        expression = self.store.compile(filter)
        if expression.empty:
            return []
        rows = self.store._call(
            "query", self.store.client.query, self.store.name, output_fields=["id"], **self.store._filter(expression)
        )
        return sorted(row["id"] for row in rows)
