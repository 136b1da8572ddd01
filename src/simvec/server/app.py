"""The FastAPI application: routes, auth, limits, errors and metrics around the public simvec API."""

from __future__ import annotations

import base64
import hmac
import logging
import time
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from simvec.encoders import Encoder
from simvec.errors import SimvecError
from simvec.server import schemas
from simvec.server.batching import DynamicBatcher
from simvec.server.collections import CollectionExists, CollectionNotFound, CollectionRegistry, InvalidName
from simvec.server.config import ServerConfig
from simvec.server.metrics import CONTENT_TYPE_LATEST, Metrics
from simvec.vectors.reduce import truncate
from simvec.vectors.similarity import pairwise

log = logging.getLogger("simvec.server")
ERRORS = {code: {"model": schemas.ErrorResponse} for code in (400, 401, 404, 409, 413, 422, 500)}
OPEN_PATHS = ("/healthz",)


class LimitExceeded(Exception):
    """A request limit was exceeded; the message names the limit."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)


class BodySizeLimit:
    """ASGI middleware: refuse bodies over `max_bytes` (declared or streamed) with 413."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"request body exceeds the limit of {self.max_bytes} bytes (max_body_bytes)"
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await error(413, message, "request_too_large")(scope, receive, send)
        seen = 0
        app_started = refused = False

        async def counting_receive():
            nonlocal seen, refused
            event = await receive()
            seen += len(event.get("body", b""))
            if seen > self.max_bytes and not refused and not app_started:
                # Answer 413 now and tell the app the client left: FastAPI would turn an exception
                # raised here into a generic 400.
                refused = True
                await error(413, message, "request_too_large")(scope, receive, send)
                return {"type": "http.disconnect"}
            return event

        async def guarded_send(event):
            nonlocal app_started
            if refused:
                return  # the 413 has been sent; drop whatever the app answers
            app_started = app_started or event["type"] == "http.response.start"
            await send(event)

        await self.app(scope, counting_receive, guarded_send)


def create_app(config: ServerConfig | None = None, encoder: Encoder | None = None) -> FastAPI:
    """Build the app; `encoder` lets a process share an already loaded model."""
    config = config or ServerConfig()
    limits = config.limits
    encoder = encoder or Encoder(config.model)
    model_names = {encoder.model_id, encoder.model_id.rsplit("/", 1)[-1]}
    keys = [k.encode() for k in config.api_keys]

    def embed_batch(texts: list[str], kind: str) -> tuple[np.ndarray, list[int]]:
        vectors = encoder.encode_queries(texts) if kind == "query" else encoder.encode(texts)
        return vectors, encoder.count_tokens(texts)

    metrics = Metrics(queue_depth=lambda: batcher.queue_depth)
    batcher = DynamicBatcher(embed_batch, limits.max_batch, limits.max_wait_ms, on_batch=metrics.batch_size.observe)
    registry = CollectionRegistry(config.collections_dir, encoder)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        batcher.start()
        yield
        await batcher.stop()
        await registry.close()

    app = FastAPI(
        title="simvec",
        version="0.1.0",
        summary="Local embeddings: OpenAI-compatible /v1/embeddings, similarity and collections.",
        lifespan=lifespan,
        responses=ERRORS,
    )

    # ---- errors: always {"error": {"message", "type"}}, never a stack trace --------------------------

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        kind = {401: "authentication_error", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request_error")
        return error(exc.status_code, str(exc.detail), kind)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        return error(422, "; ".join(parts), "invalid_request_error")

    @app.exception_handler(LimitExceeded)
    async def limit_error(_: Request, exc: LimitExceeded):
        return error(exc.status, str(exc), "request_too_large" if exc.status == 413 else "invalid_request_error")

    @app.exception_handler(CollectionNotFound)
    async def not_found(_: Request, exc: CollectionNotFound):
        return error(404, str(exc), "not_found")

    @app.exception_handler(CollectionExists)
    async def conflict(_: Request, exc: CollectionExists):
        return error(409, str(exc), "conflict")

    @app.exception_handler(InvalidName)
    async def bad_name(_: Request, exc: InvalidName):
        return error(422, str(exc), "invalid_request_error")

    for bad_input in (SimvecError, ValueError, TypeError):
        @app.exception_handler(bad_input)
        async def invalid(_: Request, exc: Exception):
            return error(400, str(exc), "invalid_request_error")

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception):
        log.exception("unhandled error")
        return error(500, "internal server error", "server_error")

    # ---- auth and metrics --------------------------------------------------------------------------

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        given = token.strip().encode()
        # Compare against every key (constant time each, no early exit) so timing reveals nothing.
        matches = [hmac.compare_digest(given, key) for key in keys]
        return any(matches)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        started = time.perf_counter()
        if keys and request.url.path not in OPEN_PATHS and not authorised(request):
            response = error(401, "missing or invalid API key: send 'Authorization: Bearer <key>'", "authentication_error")
            response.headers["WWW-Authenticate"] = "Bearer"
        else:
            response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, template, str(response.status_code)).inc()
        metrics.latency.labels(template).observe(time.perf_counter() - started)
        return response

    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)

    # ---- helpers -----------------------------------------------------------------------------------

    def check_texts(texts: list[str], what: str) -> None:
        if not texts:
            raise LimitExceeded(f"{what} must not be empty")
        if len(texts) > limits.max_texts:
            raise LimitExceeded(f"{what} has {len(texts)} items; the limit is {limits.max_texts} (max_texts)", 413)
        for i, text in enumerate(texts):
            if text is not None and len(text) > limits.max_chars:
                raise LimitExceeded(f"{what}[{i}] has {len(text)} characters; the limit is {limits.max_chars} (max_chars)")

    def check_k(k: int) -> None:
        if k > limits.max_k:
            raise LimitExceeded(f"k={k} exceeds the limit of {limits.max_k} (max_k)")

    # ---- routes ------------------------------------------------------------------------------------

    @app.get("/healthz")
    async def healthz() -> dict:
        """Liveness: always open, no API key needed."""
        return {"status": "ok", "model": encoder.model_id}

    @app.get("/metrics", response_class=Response)
    async def prometheus() -> Response:
        """Prometheus text format: requests, latencies, batch sizes, queue depth."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def list_models() -> dict:
        """The served model, in OpenAI's list format."""
        return {"object": "list", "data": [{"id": encoder.model_id, "object": "model", "owned_by": "simvec"}]}

    @app.post("/v1/embeddings", response_model=schemas.EmbeddingResponse)
    async def embeddings(body: schemas.EmbeddingRequest):
        """OpenAI-compatible embeddings (float or base64 float32), with Matryoshka `dimensions`."""
        texts = [body.input] if isinstance(body.input, str) else body.input
        check_texts(texts, "input")
        if body.model is not None and body.model not in model_names:
            return error(404, f"model {body.model!r} is not served; this server serves {encoder.model_id!r}", "model_not_found")
        if body.dimensions is not None and not 1 <= body.dimensions <= encoder.dimension:
            raise LimitExceeded(f"dimensions must be in 1..{encoder.dimension}, got {body.dimensions}")
        vectors, tokens = await batcher.embed(texts)
        if body.dimensions is not None:
            vectors = truncate(vectors, body.dimensions, renormalize=True)
        if body.encoding_format == "base64":
            items = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
        else:
            items = vectors.tolist()
        total = int(sum(tokens))
        return JSONResponse({
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": item} for i, item in enumerate(items)],
            "model": encoder.model_id,
            "usage": {"prompt_tokens": total, "total_tokens": total},
        })

    @app.post("/v1/similarity", response_model=schemas.SimilarityResponse, response_model_exclude_none=True)
    async def similarity(body: schemas.SimilarityRequest):
        """Scores for `pairs`, or the matrix of `texts` against `others` (default: against themselves)."""
        if (body.pairs is None) == (body.texts is None):
            raise LimitExceeded("give exactly one of 'pairs' or 'texts'")
        if body.pairs is not None:
            check_texts([t for pair in body.pairs for t in pair], "pairs")
            vectors, _ = await batcher.embed([t for pair in body.pairs for t in pair])
            scores = [float(pairwise(vectors[i], vectors[i + 1], body.metric)[0, 0]) for i in range(0, len(vectors), 2)]
            return {"metric": body.metric, "scores": scores, "model": encoder.model_id}
        others = body.others if body.others is not None else []
        check_texts(body.texts + others, "texts")
        vectors, _ = await batcher.embed(body.texts + others)
        left, right = vectors[: len(body.texts)], (vectors[len(body.texts) :] if body.others is not None else vectors)
        return {"metric": body.metric, "matrix": pairwise(left, right, body.metric).tolist(), "model": encoder.model_id}

    def collection_info(name: str, info: dict) -> dict:
        return {"name": name, **{k: v for k, v in info.items() if k != "path"}}

    @app.get("/v1/collections")
    async def list_collections() -> dict:
        """Names and sizes of the served collections."""
        names = registry.names()
        return {"collections": [collection_info(n, await registry.run(n, lambda c: c.info())) for n in names]}

    @app.post("/v1/collections", status_code=201, response_model=schemas.CollectionInfo)
    async def create_collection(body: schemas.CollectionCreate):
        """Create an empty collection embedded with the served model."""
        info = await registry.create(body.name, index=body.index, metric=body.metric)
        return collection_info(body.name, info)

    @app.get("/v1/collections/{name}", response_model=schemas.CollectionInfo)
    async def get_collection(name: str):
        """Count, dimension, model, metric, index kind, bytes on disk."""
        return collection_info(name, await registry.run(name, lambda c: c.info()))

    @app.delete("/v1/collections/{name}")
    async def delete_collection(name: str) -> dict:
        """Delete a collection and its files."""
        await registry.delete(name)
        return {"deleted": name}

    @app.post("/v1/collections/{name}/documents", response_model=schemas.UpsertResponse)
    async def upsert(name: str, body: schemas.UpsertRequest):
        """Add or replace documents by id (texts are embedded; unchanged texts are not re-embedded)."""
        docs = body.documents
        check_texts([d.text for d in docs], "documents")
        with_vectors = [d.vector is not None for d in docs]
        if any(with_vectors) and not all(with_vectors):
            raise LimitExceeded(f"documents[{with_vectors.index(False)}] has no vector: give a vector for every document or for none")
        for i, d in enumerate(docs):
            if d.text is None and d.vector is None:
                raise LimitExceeded(f"documents[{i}] needs a text or a vector")
        given = [d.id is not None for d in docs]
        if any(given) and not all(given):
            raise LimitExceeded(f"documents[{given.index(False)}] has no id: give an id for every document or for none")
        ids = [d.id for d in docs] if all(given) else None
        texts = [d.text for d in docs]
        result = await registry.run(name, lambda c: c.add(
            texts if any(t is not None for t in texts) else None,
            ids=ids,
            metadata=[d.metadata for d in docs],
            vectors=np.asarray([d.vector for d in docs], dtype=np.float32) if all(with_vectors) else None,
        ))
        return {"ids": result.ids, "added": result.added, "updated": result.updated, "unchanged": result.unchanged}

    @app.delete("/v1/collections/{name}/documents", response_model=schemas.DeleteResponse)
    async def delete_documents(name: str, body: schemas.DeleteRequest):
        """Delete documents by id (unknown ids are ignored)."""
        check_texts(body.ids, "ids")
        return {"deleted": await registry.run(name, lambda c: c.delete(body.ids))}

    @app.get("/v1/collections/{name}/documents/{doc_id}", response_model=schemas.DocumentOut)
    async def get_document(name: str, doc_id: str):
        """One document by id."""
        doc = await registry.run(name, lambda c: c.get(doc_id))
        if doc is None:
            return error(404, f"document {doc_id!r} not found in collection {name!r}", "not_found")
        return {"id": doc.id, "text": doc.text, "metadata": doc.metadata}

    @app.post("/v1/collections/{name}/search", response_model=schemas.SearchResponse)
    async def search(name: str, body: schemas.SearchRequest):
        """Dense, keyword or hybrid search with an optional metadata pre-filter."""
        check_k(body.k)
        query = body.query
        if isinstance(query, str):
            check_texts([query], "query")
            if body.mode == "dense":  # embed through the batcher, merged with concurrent requests
                query = (await batcher.embed([query], kind="query"))[0][0]
        else:
            query = np.asarray(query, dtype=np.float32)
        hits = await registry.run(name, lambda c: c.search(query, body.k, filter=body.filter, mode=body.mode, weights=body.weights))
        return {"hits": [{"id": h.id, "score": h.score, "text": h.text, "metadata": h.metadata} for h in hits]}

    return app
