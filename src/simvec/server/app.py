"""The FastAPI application: routes, auth, limits, errors and metrics around the public simvec API."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from simvec.encoders import Encoder
from simvec.errors import STORAGE_ERRNOS, SimvecError, Unavailable
from simvec.server import schemas
from simvec.server.batching import BatchResult, DynamicBatcher
from simvec.server.collections import CollectionRegistry
from simvec.server.config import ServerConfig
from simvec.server.metrics import Metrics
from simvec.server.middleware import BodySizeLimit
from simvec.server.routes import classify, cluster, collections, console, dedup, explore, models
from simvec.server.state import ServerState, error

log = logging.getLogger("simvec.server")
ERRORS = {code: {"model": schemas.ErrorResponse} for code in (400, 401, 404, 409, 413, 422, 429, 500, 503, 507)}
OPEN_PATHS = ("/healthz",)
MODEL_BATCH = 32  # texts per model batch inside a server batch (32 beat 64 on CPU per text: BENCHMARKS.md)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})  # metric labels; others: "other"
ERROR_KINDS = {
    404: "not_found",
    409: "conflict",
    413: "request_too_large",
    429: "rate_limit_exceeded",
    501: "not_implemented",
    503: "service_unavailable",
    507: "insufficient_storage",
}


def is_open(path: str) -> bool:
    """Paths served without an API key: the health check and the web console's pages (which hold no data)."""
    return path in OPEN_PATHS or console.is_open(path)


def create_app(config: ServerConfig | None = None, encoder: Encoder | None = None) -> FastAPI:
    """Build the app; `encoder` lets a process share an already loaded model."""
    config = config or ServerConfig()
    limits = config.limits
    encoder = encoder or Encoder(config.model)
    keys = [k.encode() for k in config.api_keys]

    def embed_batch(texts: list[str], kind: str) -> BatchResult:
        # encode sorts the batch by length and runs it in model batches of MODEL_BATCH: one padded model batch of the
        # whole server batch (up to 256 texts of mixed lengths) spent ~1.7x the CPU per text on padding
        vectors = (encoder.encode_queries if kind == "query" else encoder.encode)(texts, batch_size=MODEL_BATCH)
        stats = encoder.last_stats
        # the tokenizer ran once, inside encode: its counts are reused (a cached encoder re-counts)
        tokens = stats.token_counts if stats.token_counts is not None else encoder.count_tokens(texts)
        return BatchResult(vectors, tokens, stats.tokenize_seconds, stats.seconds - stats.tokenize_seconds)

    metrics = Metrics(queue_depth=lambda: batcher.queue_depth)
    batcher = DynamicBatcher(
        embed_batch,
        limits.max_batch,
        limits.max_wait_ms,
        on_batch=metrics.batch_size.observe,
        max_batch_tokens=limits.max_batch_tokens,
        max_queue=limits.max_queue,
        max_tokens_per_text=encoder.max_seq_length,
        on_done=metrics.observe_batch,
    )
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
    app.state.simvec = ServerState(config, encoder, batcher, registry, metrics)

    # ---- errors: always {"error": {"message", "type"}}, never a stack trace --------------------------

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        kind = {401: "authentication_error", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "invalid_request_error"
        )
        return error(exc.status_code, str(exc.detail), kind)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        return error(422, "; ".join(parts), "invalid_request_error")

    @app.exception_handler(SimvecError)
    async def expected_error(_: Request, exc: SimvecError):
        return error(exc.http_status, str(exc), ERROR_KINDS.get(exc.http_status, "invalid_request_error"))

    @app.exception_handler(Unavailable)
    async def unavailable(_: Request, exc: Unavailable):
        response = error(exc.http_status, str(exc), ERROR_KINDS[exc.http_status])
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(OSError)
    async def storage(request: Request, exc: OSError):
        if exc.errno in STORAGE_ERRNOS:  # the machine's fault (disk full, read-only): say so, without the path
            status = STORAGE_ERRNOS[exc.errno]
            return error(status, f"storage error: {exc.strerror}", ERROR_KINDS[status])
        return await internal(request, exc)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception):
        log.error("unhandled error in %s %s", _.method, _.url.path, exc_info=exc)
        response = error(500, "internal server error", "server_error")
        # Starlette re-raises after this response and uvicorn then drops the connection: say so, so a keep-alive
        # client opens a new one instead of meeting ECONNRESET on its next request.
        response.headers["Connection"] = "close"
        return response

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
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        open_path = is_open(request.url.path) or (config.open_metrics and request.url.path == "/metrics")
        if keys and not open_path and not authorised(request):
            response = error(
                401, "missing or invalid API key: send 'Authorization: Bearer <key>'", "authentication_error"
            )
            response.headers["WWW-Authenticate"] = "Bearer"
        else:
            response = await call_next(request)
        # Labels come from fixed sets only (route templates, known methods), so no client can create new series.
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        method = request.method if request.method in METHODS else "other"
        metrics.requests.labels(method, template, str(response.status_code)).inc()
        metrics.latency.labels(template).observe(time.perf_counter() - started)
        return response

    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)

    for routes in (models, collections, explore, classify, cluster, dedup, console):
        app.include_router(routes.router)
    return app
