"""Collection routes: create, list, delete, upsert, get and search documents."""

from __future__ import annotations

import sqlite3

import numpy as np
from fastapi import APIRouter, Depends
from starlette.convertors import Convertor, register_url_convertor

from simvec.errors import CollectionNotFound, LimitExceeded, SimvecError
from simvec.server import schemas
from simvec.server.collections import describe_failure
from simvec.server.state import ServerState, error, get_state
from simvec.store import Collection
from simvec.store.results import AddResult

router = APIRouter()


class DocumentId(Convertor):
    """A document id in a URL: any characters, '/' and newlines included (Starlette's `path` stops at a newline)."""

    regex = "(?s:.+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("document_id", DocumentId())


def collection_info(name: str, info: dict) -> dict:
    return {"name": name, **{k: v for k, v in info.items() if k != "path"}}


@router.get("/v1/collections")
async def list_collections(state: ServerState = Depends(get_state)) -> dict:
    """Names and sizes of the served collections; those that cannot be read are listed under `unreadable`."""
    listed, unreadable = [], []
    for name in state.registry.names():
        try:
            listed.append(collection_info(name, await state.registry.run(name, lambda c: c.info())))
        except CollectionNotFound:
            continue  # deleted while we listed
        except (SimvecError, OSError, sqlite3.Error) as exc:  # one damaged directory must not hide the others
            unreadable.append({"name": name, "error": describe_failure(exc)})
    return {"collections": listed, "unreadable": unreadable}


@router.post("/v1/collections", status_code=201, response_model=schemas.CollectionInfo)
async def create_collection(body: schemas.CollectionCreate, state: ServerState = Depends(get_state)):
    """Create an empty collection embedded with the served model."""
    info = await state.registry.create(body.name, index=body.index, metric=body.metric)
    return collection_info(body.name, info)


@router.get("/v1/collections/{name}", response_model=schemas.CollectionInfo)
async def get_collection(name: str, state: ServerState = Depends(get_state)):
    """Count, dimension, model, metric, index kind, bytes on disk."""
    return collection_info(name, await state.registry.run(name, lambda c: c.info()))


@router.delete("/v1/collections/{name}")
async def delete_collection(name: str, state: ServerState = Depends(get_state)) -> dict:
    """Delete a collection and its files."""
    await state.registry.delete(name)
    return {"deleted": name}


@router.post("/v1/collections/{name}/documents", response_model=schemas.UpsertResponse)
async def upsert(name: str, body: schemas.UpsertRequest, state: ServerState = Depends(get_state)):
    """Add or replace documents by id (texts are embedded; unchanged texts are not re-embedded)."""
    docs = body.documents
    state.check_texts([d.text for d in docs], "documents")
    with_vectors = [d.vector is not None for d in docs]
    if any(with_vectors) and not all(with_vectors):
        raise LimitExceeded(
            f"documents[{with_vectors.index(False)}] has no vector: give a vector for every document or for none"
        )
    for i, d in enumerate(docs):
        if d.text is None and d.vector is None:
            raise LimitExceeded(f"documents[{i}] needs a text or a vector")
    given = [d.id is not None for d in docs]
    if any(given) and not all(given):
        raise LimitExceeded(f"documents[{given.index(False)}] has no id: give an id for every document or for none")
    ids = [d.id for d in docs] if all(given) else None
    texts = [d.text for d in docs]
    vectors = [d.vector for d in docs] if all(with_vectors) else None  # checked (ragged included) by plan_add
    metadata = [d.metadata for d in docs]
    # Three steps so the collection's thread (and every search queued on it) never waits for the model: plan
    # against the store on the collection's thread, embed on the model thread, write on the collection's thread.
    collection, pending = await state.registry.run(
        name,
        lambda c: (c, c.plan_add(texts if any(t is not None for t in texts) else None, ids=ids, metadata=metadata,
                                 vectors=vectors)),
    )  # fmt: skip
    await state.batcher.run_in_model_thread(collection.embed_pending, pending)
    result = AddResult(ids=pending.ids)
    await state.registry.run(name, lambda c: c.commit_add(pending, result))
    return {"ids": result.ids, "added": result.added, "updated": result.updated, "unchanged": result.unchanged}


@router.delete("/v1/collections/{name}/documents", response_model=schemas.DeleteResponse)
async def delete_documents(name: str, body: schemas.DeleteRequest, state: ServerState = Depends(get_state)):
    """Delete documents by id (unknown ids are ignored)."""
    state.check_texts(body.ids, "ids")
    return {"deleted": await state.registry.run(name, lambda c: c.delete(body.ids))}


@router.get("/v1/collections/{name}/documents/{doc_id:document_id}", response_model=schemas.DocumentOut)
async def get_document(name: str, doc_id: str, state: ServerState = Depends(get_state)):
    """One document by id."""
    doc = await state.registry.run(name, lambda c: c.get(doc_id))
    if doc is None:
        return error(404, f"document {doc_id!r} not found in collection {name!r}", "not_found")
    return {"id": doc.id, "text": doc.text, "metadata": doc.metadata}


def _multivector(collection: Collection) -> bool:
    return collection.multivector is not None


@router.post("/v1/collections/{name}/search", response_model=schemas.SearchResponse)
async def search(name: str, body: schemas.SearchRequest, state: ServerState = Depends(get_state)):
    """Dense, keyword or hybrid search with an optional metadata pre-filter."""
    state.check_k(body.k)
    query = body.query
    if isinstance(query, str):
        state.check_texts([query], "query")
        # Embed through the batcher, merged with concurrent requests; a calibrated search keeps the text, whose
        # length picks the noise calibration's band.
        # A multi-vector collection embeds the text itself (token vectors), so it gets the text.
        if body.mode == "dense" and body.min_relevance is None and not await state.registry.run(name, _multivector):
            query = (await state.batcher.embed([query], kind="query"))[0][0]
    else:
        query = np.asarray(query, dtype=np.float32)
    hits = await state.registry.run(
        name,
        lambda c: c.search(
            query,
            body.k,
            filter=body.filter,
            mode=body.mode,
            weights=body.weights,
            adapter="stored" if body.adapter else None,
            min_relevance=body.min_relevance,
        ),
    )
    return {
        "hits": [
            {
                "id": h.id,
                "score": h.score,
                "relevance": h.relevance,
                "highlight": h.highlight,
                "text": h.text,
                "metadata": h.metadata,
            }
            for h in hits
        ]
    }


@router.post("/v1/collections/{name}/calibrate")
async def calibrate(name: str, body: schemas.CalibrateRequest, state: ServerState = Depends(get_state)) -> dict:
    """Fit and store the collection's relevance calibration (enables `min_relevance` in search)."""
    if body.queries is not None:
        state.check_texts(list(body.queries.values()), "queries")
    calibration = await state.registry.run(
        name, lambda c: c.calibrate(body.queries, body.qrels, method=body.method, features=body.features)
    )
    return calibration.summary()
