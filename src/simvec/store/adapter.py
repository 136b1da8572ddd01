"""A collection's query adapter: trained from judged queries, stored with the collection, applied to its searches.

The weights live in `adapter-v<N>.npz` in the collection directory (written atomically, checked by sha256); the
setting `adapter` in the store names the current version and what it was trained for: the model identity, the
compression and the dimension. A search applies the current adapter to query vectors only (`adapter=None` switches
it off); an adapter whose model or compression is not the collection's is refused with both named, so a changed
compression is never searched with an adapter fitted to the old one. Nothing is re-embedded: documents keep their
stored vectors.

Training (`train`) embeds the judged queries with the collection's model, mines hard negatives with the collection's
own index (the base model's top hits that are not judged relevant), and hands the vectors of those documents and of
the positives to `simvec.tasks.adapt.train_query_adapter`. Its early-stopping nDCG ranks held-apart training
queries among those documents only (a proxy); `simvec.eval.adapt` measures the real thing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simvec.atomic import atomic_write
from simvec.errors import CollectionError, InputError
from simvec.tasks.adapt import AdapterConfig, AdapterFit, QueryAdapter, train_query_adapter

if TYPE_CHECKING:
    from simvec.store.collection import Collection

SETTING = "adapter"
STORED = "stored"  # the default of search(adapter=...): the collection's current adapter, if it has one


@dataclass
class TrainedAdapter:
    """The result of `Collection.train_adapter`: the fit, what was skipped, and the stored version (None: not kept)."""

    fit: AdapterFit
    version: int | None
    skipped: list[str] = field(default_factory=list)

    @property
    def adapter(self) -> QueryAdapter:
        return self.fit.adapter

    def as_dict(self) -> dict:
        return {
            **self.fit.as_dict(),
            "version": self.version,
            "skipped": self.skipped[:20],
            "n_skipped": len(self.skipped),
        }


def identity(collection: Collection) -> dict[str, object]:
    """What an adapter must have been trained for to be used on this collection."""
    spec = collection.compression
    return {
        "model": collection.settings["encoder"],
        "compression": spec.name if spec else "none",
        "dimension": collection.dimension,
    }


def check_fits(adapter: QueryAdapter, collection: Collection) -> None:
    """Refuse an adapter trained for another model, compression or dimension, naming both sides."""
    trained = adapter.info.get("trained_for") or {}
    wanted = identity(collection)
    diff = [key for key in wanted if trained.get(key) != wanted[key]]
    if adapter.dimension != collection.dimension and "dimension" not in diff:
        diff.append("dimension")
    if diff:
        both = "; ".join(
            f"{key}: adapter has {_short(trained.get(key))}, collection has {_short(wanted[key])}" for key in diff
        )
        raise CollectionError(
            f"query adapter does not fit collection {collection.path} ({both}); "
            "train a new one with train_adapter, or search with adapter=None"
        )


def _short(value: object) -> str:
    return repr(value.get("model")) if isinstance(value, dict) and "model" in value else repr(value)


def current(collection: Collection) -> QueryAdapter | None:
    """The collection's stored adapter (None when it has none), loaded and checked against the collection."""
    meta = collection.settings.get(SETTING)
    if not meta:
        return None
    adapter = _read(str(collection.path / meta["file"]), meta["sha256"], meta["kind"], int(meta["dimension"]))
    adapter.info = dict(meta)
    check_fits(adapter, collection)
    return adapter


@lru_cache(maxsize=16)
def _read(path: str, sha256: str, kind: str, dimension: int) -> QueryAdapter:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CollectionError(f"the collection's query adapter cannot be read ({exc}); retrain or remove it") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise CollectionError(f"{path} is damaged (sha256 mismatch); retrain the adapter or remove it")
    try:
        return QueryAdapter.from_bytes(kind, dimension, data)
    except (InputError, ValueError, OSError) as exc:
        raise CollectionError(f"{path} is not a valid adapter ({exc}); retrain or remove it") from None


def resolve(collection: Collection, adapter: QueryAdapter | str | None) -> QueryAdapter | None:
    """The adapter a search uses: the stored one ("stored"), none (None), or the one given (checked)."""
    if adapter is None:
        return None
    if isinstance(adapter, str):
        if adapter != STORED:
            raise CollectionError(f"adapter must be 'stored', None or a QueryAdapter, got {adapter!r}")
        return current(collection)
    if not isinstance(adapter, QueryAdapter):
        raise CollectionError(f"adapter must be 'stored', None or a QueryAdapter, got {type(adapter).__name__}")
    check_fits(adapter, collection)
    return adapter


def apply(collection: Collection, vectors: np.ndarray, adapter: QueryAdapter | str | None) -> np.ndarray:
    """Query vectors mapped by the adapter the search uses (unchanged when there is none)."""
    chosen = resolve(collection, adapter)
    return vectors if chosen is None else chosen.apply(vectors)


def store(collection: Collection, adapter: QueryAdapter) -> int:
    """Keep `adapter` as the collection's current one (a new version); returns the version number."""
    check_fits(adapter, collection)
    previous = collection.settings.get(SETTING) or {}
    version = int(previous.get("version", 0)) + 1
    data = adapter.to_bytes()
    name = f"adapter-v{version}.npz"
    atomic_write(collection.path / name, lambda handle: handle.write(data))  # the file first, then the pointer
    meta = {
        **{key: value for key, value in adapter.info.items() if key not in ("file", "sha256", "version")},
        "version": version,
        "file": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "kind": adapter.kind,
        "dimension": adapter.dimension,
    }
    with collection.store.write():
        collection.store.set_setting(SETTING, meta)
    _remove_files(collection.path, keep=name)
    return version


def remove(collection: Collection) -> bool:
    """Drop the collection's adapter (searches go back to the base model); False when there was none."""
    if not collection.settings.get(SETTING):
        return False
    with collection.store.write():
        collection.store.set_setting(SETTING, None)
    _remove_files(collection.path, keep=None)
    return True


def _remove_files(directory: Path, keep: str | None) -> None:
    for old in directory.glob("adapter-v*.npz"):
        if old.name != keep:
            old.unlink(missing_ok=True)


def positives(
    queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]], known: set[str]
) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """(query ids with a usable pair, (query id, document id) pairs with grade > 0, skipped items described)."""
    skipped, pairs, used = [], [], []
    for qid, judged in qrels.items():
        if qid not in queries:
            skipped.append(f"query {qid!r} is judged but has no text")
            continue
        found = False
        for doc_id, grade in judged.items():
            if grade <= 0:
                continue
            if doc_id not in known:
                skipped.append(f"document {doc_id!r} (judged for query {qid!r}) is not in the collection")
                continue
            pairs.append((qid, doc_id))
            found = True
        if found:
            used.append(qid)
    return used, pairs, skipped


def train(
    collection: Collection,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    config: AdapterConfig | None = None,
    keep: bool = True,
    strict: bool = False,
) -> TrainedAdapter:
    """Train a query adapter on judged queries against the collection's stored vectors (nothing is re-embedded).

    `queries`: id -> text; `qrels`: query id -> {document id: grade} (grade > 0 is relevant). Judgements naming a
    query without text or a document not in the collection are skipped and listed (`strict=True`: refused).
    `keep=True` stores the adapter as the collection's current one, used by every search from then on.
    """
    if collection.metric != "cosine":
        raise CollectionError(f"query adapters need a cosine collection; {collection.path} uses {collection.metric}")
    config = (config or AdapterConfig()).check()
    if not isinstance(queries, Mapping) or not isinstance(qrels, Mapping):
        raise InputError("queries must be a dict of id -> text and qrels a dict of query id -> {document id: grade}")
    wanted = {d for judged in qrels.values() for d in judged}
    known = {doc_id for doc_id in wanted if doc_id in collection}
    used, pairs, skipped = positives(queries, qrels, known)
    if skipped and strict:
        raise InputError(f"{len(skipped)} judgement(s) cannot be used, e.g. {skipped[0]}")
    if not pairs:
        raise InputError("no usable (query, relevant document) pair: every judgement was skipped or had grade <= 0")
    texts = [queries[qid] for qid in used]
    query_vectors = collection.encoder.encode_queries(texts, normalize=True, show_progress=False)
    depth = config.hard_negatives + max(len(qrels[qid]) for qid in used)
    hits = collection.search_batch(query_vectors, min(depth, collection.count()), adapter=None)
    pool = list(dict.fromkeys([d for _, d in pairs] + [h.id for found in hits for h in found]))
    row = {doc_id: i for i, doc_id in enumerate(pool)}
    documents = collection.get(pool, include_vectors=True)
    doc_vectors = np.stack([doc.vector for doc in documents]).astype(np.float32)
    query_row = {qid: i for i, qid in enumerate(used)}
    pair_rows = [(query_row[qid], row[doc_id]) for qid, doc_id in pairs]
    relevant = {(query_row[qid], row[doc_id]) for qid, doc_id in pairs}
    negatives = np.full((len(used), config.hard_negatives), -1, dtype=np.int64)
    for q, found in enumerate(hits):
        mined = [row[h.id] for h in found if (q, row[h.id]) not in relevant][: config.hard_negatives]
        negatives[q, : len(mined)] = mined
    fit = train_query_adapter(query_vectors, doc_vectors, pair_rows, config=config, hard_negatives=negatives)
    fit.adapter.info["trained_for"] = identity(collection)
    fit.adapter.info["trained_at"] = int(time.time())
    fit.adapter.info["fit"] = json.loads(json.dumps(fit.as_dict()))
    version = store(collection, fit.adapter) if keep else None
    return TrainedAdapter(fit, version, skipped)


def reembed(
    path: str | Path,
    model: str | Path,
    *,
    batch_size: int = 1000,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Re-embed a collection's stored texts with `model` (e.g. a fine-tuned one), then swap it in by renames.

    The new collection is built beside the old one (`.<name>.reembed`), one transaction per batch, with the same
    index, metric, compression and index parameters; a killed run resumes where it stopped (finished batches are
    skipped by their content hash). The old directory is replaced only once every document is in the new one. Its
    query adapter is not carried over: it belonged to the old model.
    """
    from simvec.encoders import Encoder
    from simvec.store.collection import Collection

    path = Path(path)
    work = path.with_name(f".{path.name}.reembed")
    encoder = model if isinstance(model, Encoder) else Encoder(model, cache=True)
    with Collection.open(path) as source:
        settings = dict(source.settings)
        total = source.count()
        if work.exists():
            try:
                Collection.open(work, model=encoder).close()
            except CollectionError:  # a leftover for another model: start again
                shutil.rmtree(work)
        target = (
            Collection.open(work, model=encoder)
            if work.exists()
            else Collection.create(
                work,
                model=encoder,
                index=str(settings["index"]),
                metric=str(settings["metric"]),
                compression=settings.get("compression"),
                index_params=settings.get("index_params"),
            )
        )
        done = 0
        with target:
            batch: list[tuple[str, str | None, dict]] = []
            for item in source:
                if item[1] is None:
                    raise CollectionError(
                        f"document {item[0]!r} has no stored text: a collection of vectors cannot be re-embedded"
                    )
                batch.append(item)
                if len(batch) >= batch_size:
                    done += _add(target, batch, batch_size)
                    if on_progress:
                        on_progress(done, total)
            if batch:
                done += _add(target, batch, batch_size)
                if on_progress:
                    on_progress(done, total)
            target.refresh()
            count = target.count()
    if count != total:
        raise CollectionError(f"re-embedding {path}: {count} documents written of {total}; run it again to resume")
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(path, old)
    os.replace(work, path)
    shutil.rmtree(old, ignore_errors=True)
    return {
        "path": str(path),
        "documents": count,
        "model": encoder.model_id,
        "previous_model": settings["encoder"]["model"],
    }


def _add(target: Collection, batch: list[tuple[str, str | None, dict]], batch_size: int) -> int:
    target.add(
        [t for _, t, _ in batch],
        ids=[i for i, _, _ in batch],
        metadata=[m for _, _, m in batch],
        batch_size=batch_size,
        show_progress=False,
    )
    n = len(batch)
    batch.clear()
    return n
