"""Dynamic batching: concurrent embedding requests are merged into model batches.

Requests wait at most `max_wait_ms` for company; a batch holds at most `max_batch` texts (a single
larger request runs alone). The model runs on one worker thread, off the event loop, so the server
keeps accepting requests while a batch is being embedded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future
    kind: str = "document"


class DynamicBatcher:
    """Queue of embedding jobs drained by one loop that runs `embed_fn` on merged batches."""

    def __init__(
        self,
        embed_fn: Callable[[list[str], str], tuple[np.ndarray, list[int]]],
        max_batch: int = 256,
        max_wait_ms: float = 5.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.embed_fn = embed_fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simvec-model")
        self._task: asyncio.Task | None = None
        self._pending_texts = 0
        self._carry: _Job | None = None

    @property
    def queue_depth(self) -> int:
        """Texts waiting for the model (queued, not yet in a running batch)."""
        return self._pending_texts

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def embed(self, texts: list[str], kind: str = "document") -> tuple[np.ndarray, list[int]]:
        """Vectors and token counts for `texts`, embedded together with whatever else of the same
        `kind` ("document" or "query": the model may prompt them differently) is queued."""
        future = asyncio.get_running_loop().create_future()
        self._pending_texts += len(texts)
        await self._queue.put(_Job(texts, future, kind))
        return await future

    async def run_in_model_thread(self, fn: Callable[..., T], *args: object) -> T:
        """Run other model work (e.g. similarity) on the same thread, in order with the batches."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _collect(self) -> list[_Job]:
        first = self._carry or await self._queue.get()
        self._carry = None
        jobs, size = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                job = await asyncio.wait_for(self._queue.get(), remaining)
            except TimeoutError:
                break
            if size + len(job.texts) > self.max_batch or job.kind != first.kind:
                self._carry = job  # starts the next batch, so no request is split or reordered
                break
            jobs.append(job)
            size += len(job.texts)
        return jobs

    async def _run(self, jobs: list[_Job]) -> None:
        texts = [t for job in jobs for t in job.texts]
        self._pending_texts -= len(texts)
        if self.on_batch is not None:
            self.on_batch(len(texts))
        try:
            vectors, tokens = await self.run_in_model_thread(self.embed_fn, texts, jobs[0].kind)
        except Exception as exc:  # hand the failure to every waiting request
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        start = 0
        for job in jobs:
            stop = start + len(job.texts)
            if not job.future.done():  # the client may have gone away
                job.future.set_result((vectors[start:stop], tokens[start:stop]))
            start = stop

    async def _loop(self) -> None:
        while True:
            jobs = await self._collect()
            await self._run(jobs)
