"""Dynamic batching: concurrent embedding requests are merged into model batches, with back-pressure.

Requests wait at most `max_wait_ms` for company; a batch holds at most `max_batch` texts and at most
`max_batch_tokens` tokens (counted as an upper bound before tokenising: a token covers at least one
character, plus the two special tokens, capped at the model's maximum length), and a single larger request
runs alone. The queue holds at most `max_queue` texts: beyond that `embed` raises `Unavailable` (429, with
Retry-After) at once rather than letting latency grow without bound. The model runs on one
worker thread, off the event loop; a batch that fails is retried request by request so that one bad request
fails alone. If the worker loop itself dies, `alive` turns False (/healthz answers 503) and new requests
fail fast with `Unavailable` (503) instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from simvec.errors import Unavailable, check_unicode

T = TypeVar("T")


@dataclass
class BatchResult:
    """What the model thread returns for one batch: vectors, per-text tokens, and where its time went."""

    vectors: np.ndarray
    tokens: list[int]
    tokenize_seconds: float = 0.0
    inference_seconds: float = 0.0


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future
    kind: str = "document"
    tokens: int = 0  # upper bound of the tokens of `texts`
    queued_at: float = field(default_factory=time.perf_counter)


class DynamicBatcher:
    """Queue of embedding jobs drained by one loop that runs `embed_fn` on merged batches."""

    def __init__(
        self,
        embed_fn: Callable[[list[str], str], BatchResult],
        max_batch: int = 256,
        max_wait_ms: float = 5.0,
        on_batch: Callable[[int], None] | None = None,
        *,
        max_batch_tokens: int = 32_768,
        max_queue: int = 8192,
        max_tokens_per_text: int = 512,
        on_done: Callable[[list[float], BatchResult], None] | None = None,
    ) -> None:
        self.embed_fn = embed_fn
        self.max_batch = max_batch
        self.max_batch_tokens = max_batch_tokens
        self.max_queue = max_queue
        self.max_tokens_per_text = max_tokens_per_text
        self.max_wait = max_wait_ms / 1000
        self.on_batch = on_batch
        self.on_done = on_done  # (queue seconds of each job, the batch's result): for metrics
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simvec-model")
        self._task: asyncio.Task | None = None
        self._pending_texts = 0
        self._carry: _Job | None = None
        self._seconds_per_text = 0.005  # running estimate of model time per text, for Retry-After

    @property
    def queue_depth(self) -> int:
        """Texts waiting for the model (queued, not yet in a running batch)."""
        return self._pending_texts

    @property
    def alive(self) -> bool:
        """True while the worker loop runs (started and neither crashed nor stopped)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    def token_bound(self, texts: list[str]) -> int:
        """An upper bound of the tokens `texts` use, without tokenising them (see the module docstring)."""
        return sum(min(len(t) + 2, self.max_tokens_per_text) for t in texts)

    async def embed(self, texts: list[str], kind: str = "document") -> tuple[np.ndarray, list[int]]:
        """Vectors and token counts for `texts`, embedded together with whatever else of the same
        `kind` ("document" or "query": the model may prompt them differently) is queued."""
        if not self.alive:
            raise Unavailable("the model worker is not running; restart the server", 503)
        if self._pending_texts and self._pending_texts + len(texts) > self.max_queue:
            wait = math.ceil((self._pending_texts + len(texts)) * self._seconds_per_text)
            raise Unavailable(
                f"the embedding queue is full ({self._pending_texts} texts queued, limit {self.max_queue} "
                "(max_queue)); retry later",
                429,
                retry_after=max(1, wait),
            )
        for i, text in enumerate(texts):  # routes check first (naming their field); this guards the shared batch
            check_unicode(text, f"text {i}")
        future = asyncio.get_running_loop().create_future()
        self._pending_texts += len(texts)
        self._queue.put_nowait(_Job(texts, future, kind, self.token_bound(texts)))
        return await future

    async def run_in_model_thread(self, fn: Callable[..., T], *args: object) -> T:
        """Run other model work (e.g. similarity) on the same thread, in order with the batches."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _collect(self) -> list[_Job]:
        first = self._carry or await self._queue.get()
        self._carry = None
        jobs, size, tokens = [first], len(first.texts), first.tokens
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch and tokens < self.max_batch_tokens:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                job = self._queue.get_nowait()  # take what is already queued without a timer per job
            except asyncio.QueueEmpty:
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            full = size + len(job.texts) > self.max_batch or tokens + job.tokens > self.max_batch_tokens
            if full or job.kind != first.kind:
                self._carry = job  # starts the next batch, so no request is split or reordered
                break
            jobs.append(job)
            size += len(job.texts)
            tokens += job.tokens
        return jobs

    async def _embed_jobs(self, jobs: list[_Job]) -> BatchResult:
        texts = [t for job in jobs for t in job.texts]
        started = time.perf_counter()
        result = await self.run_in_model_thread(self.embed_fn, texts, jobs[0].kind)
        took = (time.perf_counter() - started) / max(len(texts), 1)
        self._seconds_per_text = 0.8 * self._seconds_per_text + 0.2 * took
        return result

    async def _run(self, jobs: list[_Job]) -> None:
        texts = sum(len(job.texts) for job in jobs)
        self._pending_texts -= texts
        if self.on_batch is not None:
            self.on_batch(texts)
        started = time.perf_counter()
        try:
            result = await self._embed_jobs(jobs)
        except Exception as exc:
            if len(jobs) == 1:
                self._fail(jobs[0], exc)
                return
            for job in jobs:  # one bad request must not fail the others merged with it: retry each alone
                await self._run_alone(job)
            return
        if self.on_done is not None:
            self.on_done([started - job.queued_at for job in jobs], result)
        start = 0
        for job in jobs:
            stop = start + len(job.texts)
            if not job.future.done():  # the client may have gone away
                job.future.set_result((result.vectors[start:stop], result.tokens[start:stop]))
            start = stop

    async def _run_alone(self, job: _Job) -> None:
        try:
            result = await self._embed_jobs([job])
        except Exception as exc:
            self._fail(job, exc)
            return
        if not job.future.done():
            job.future.set_result((result.vectors, result.tokens))

    @staticmethod
    def _fail(job: _Job, exc: Exception) -> None:
        if not job.future.done():
            job.future.set_exception(exc)

    async def _loop(self) -> None:
        try:
            while True:
                jobs = await self._collect()
                await self._run(jobs)
        finally:  # stopped or crashed: nobody may wait forever on a job that will never run
            dead = Unavailable("the model worker stopped", 503)
            for job in [self._carry] + [self._queue.get_nowait() for _ in range(self._queue.qsize())]:
                if job is not None:
                    self._fail(job, dead)
