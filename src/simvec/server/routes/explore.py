"""Read-only views of a collection for the web console: a page of documents, a 2-D map, the last tune report."""

from __future__ import annotations

import json
from itertools import islice
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from simvec.eval.compression import TUNE_FILE
from simvec.server.state import ServerState, get_state
from simvec.store import Collection

router = APIRouter()

MAX_PAGE = 1000
MAX_MAP_SAMPLE = 20_000
SNIPPET = 240  # characters of text sent per map point (hover text)


class DocumentPage(BaseModel):
    count: int = Field(description="Documents in the collection.")
    offset: int
    limit: int
    documents: list[dict[str, Any]] = Field(description="{id, text, metadata} in insertion order.")


class MapPoint(BaseModel):
    id: str
    x: float
    y: float
    text: str | None = Field(description=f"The first {SNIPPET} characters of the document.")
    value: Any = Field(None, description="The document's `color_by` metadata value (null when it has none).")


class CollectionMap(BaseModel):
    method: str = Field(description="'pca' or 'umap': the projection used.")
    count: int = Field(description="Documents in the collection.")
    sampled: int = Field(description="Documents projected (a seeded random sample when the collection is larger).")
    color_by: str | None
    explained_variance: list[float] | None = Field(description="PCA: share of variance along each axis.")
    fields: dict[str, int] = Field(description="Metadata fields seen in the sample and how many documents have each.")
    points: list[MapPoint]


class TuneReport(BaseModel):
    available: bool = Field(description="False until `simvec tune` has been run on this collection.")
    metric: str | None = None
    queries: int | None = None
    measured: list[dict[str, Any]] = Field(default_factory=list, description="One row per configuration measured.")
    chosen: str | None = None
    best: str | None = None
    reason: str | None = None
    applied: bool | None = None
    current: str = Field(description="The collection's compression now ('none' for float32).")


@router.get("/v1/collections/{name}/documents", response_model=DocumentPage)
async def list_documents(
    name: str,
    limit: int = Query(20, ge=1, le=MAX_PAGE, description="Documents per page."),
    offset: int = Query(0, ge=0, le=2**31, description="Documents to skip (insertion order)."),
    state: ServerState = Depends(get_state),
):
    """A page of documents in insertion order (the console's sample of a collection)."""

    def read(collection: Collection) -> dict:
        docs = islice(iter(collection), offset, offset + limit)
        documents = [{"id": i, "text": t, "metadata": m} for i, t, m in docs]
        return {"count": collection.count(), "offset": offset, "limit": limit, "documents": documents}

    return await state.registry.run(name, read)


def project_2d(vectors: np.ndarray, method: Literal["auto", "pca"] = "auto") -> tuple[np.ndarray, str, list | None]:
    """2-D coordinates of the rows of `vectors`: UMAP (cosine) with `auto` when umap-learn is installed, else PCA."""
    n = len(vectors)
    if method == "auto" and n > 15:
        try:
            import umap
        except ImportError:  # an optional extra: PCA needs nothing beyond scikit-learn
            umap = None
        if umap is not None:
            reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), metric="cosine", random_state=0)
            return np.asarray(reducer.fit_transform(vectors), dtype=np.float64), "umap", None
    if n < 2:
        return np.zeros((n, 2)), "pca", None
    from sklearn.decomposition import PCA

    pca = PCA(n_components=min(2, n, vectors.shape[1]), random_state=0)
    coords = pca.fit_transform(vectors.astype(np.float64))
    if coords.shape[1] < 2:
        coords = np.hstack([coords, np.zeros((n, 2 - coords.shape[1]))])
    return coords, "pca", [float(v) for v in pca.explained_variance_ratio_]


def _scalar(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else json.dumps(value)


@router.get("/v1/collections/{name}/map", response_model=CollectionMap)
async def collection_map(
    name: str,
    color_by: str | None = Query(None, description="Metadata field whose value is returned with each point."),
    sample: int = Query(2000, ge=1, le=MAX_MAP_SAMPLE, description="At most this many documents are projected."),
    method: Literal["auto", "pca"] = Query("auto", description="auto: UMAP when umap-learn is installed, else PCA."),
    state: ServerState = Depends(get_state),
):
    """A 2-D map of the collection's stored vectors (sampled for large collections), for plotting."""

    def read(collection: Collection) -> tuple[int, list]:
        ids = [doc_id for doc_id, _, _ in collection]
        if len(ids) > sample:  # seeded, so the same collection gives the same map
            keep = np.sort(np.random.default_rng(0).choice(len(ids), sample, replace=False))
            ids = [ids[i] for i in keep]
        return len(ids), collection.get(ids, include_vectors=True) if ids else []

    count = await state.registry.run(name, lambda c: c.count())
    _, docs = await state.registry.run(name, read)
    vectors = np.stack([d.vector for d in docs]) if docs else np.zeros((0, 1), dtype=np.float32)
    coords, used, explained = await state.batcher.run_in_model_thread(project_2d, vectors, method)
    fields: dict[str, int] = {}
    for d in docs:
        for key in d.metadata:
            fields[key] = fields.get(key, 0) + 1
    points = [
        {
            "id": d.id,
            "x": float(x),
            "y": float(y),
            "text": None if d.text is None else d.text[:SNIPPET],
            "value": _scalar(d.metadata.get(color_by)) if color_by else None,
        }
        for d, (x, y) in zip(docs, coords, strict=True)
    ]
    return {
        "method": used,
        "count": count,
        "sampled": len(docs),
        "color_by": color_by,
        "explained_variance": explained,
        "fields": dict(sorted(fields.items(), key=lambda item: (-item[1], item[0]))),
        "points": points,
    }


@router.get("/v1/collections/{name}/tune", response_model=TuneReport)
async def tune_report(name: str, state: ServerState = Depends(get_state)):
    """The last `simvec tune` report for this collection (retention vs RAM per configuration), if any."""
    path, current = await state.registry.run(name, lambda c: (c.path, c.info()["compression"]))
    report_path = path / TUNE_FILE
    if not report_path.is_file():
        return {"available": False, "current": current}
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"available": False, "current": current, "reason": f"{TUNE_FILE} is unreadable: {exc}"}
    keys = ("metric", "queries", "chosen", "best", "reason", "applied")
    measured = report.get("measured") or []
    return {"available": True, "current": current, "measured": measured, **{k: report.get(k) for k in keys}}
