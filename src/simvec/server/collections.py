"""The served collections: names checked, one directory each, one worker thread each.

`Collection` objects are not thread-safe and hold a SQLite connection tied to the thread that opened
it, so every operation on a collection runs on that collection's own single worker thread.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from simvec.encoders import Encoder
from simvec.errors import CollectionExists, CollectionNotFound, InputError, SimvecError
from simvec.store.collection import DB_NAME, Collection

T = TypeVar("T")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
TRASH_PREFIX = ".deleted-"  # a deleted collection's directory is renamed to this (never a valid name) before removal


class InvalidName(InputError):
    """A collection name that could be a path or is otherwise not allowed."""

    http_status = 422


def check_name(name: str) -> str:
    """Collection names are 1-64 letters, digits, '-' or '_' (so never a path)."""
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidName(
            f"invalid collection name {name!r}: use 1-64 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def describe_failure(exc: BaseException) -> str:
    """A one-line reason a collection cannot be used, without the server's paths."""
    if isinstance(exc, SimvecError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or 'operating system error'}"
    return f"{type(exc).__name__}: {exc}"  # sqlite3 errors name no path ("file is not a database")


class _Served:
    def __init__(self, collection: Collection, executor: ThreadPoolExecutor) -> None:
        self.collection = collection
        self.executor = executor


class CollectionRegistry:
    """Opens collections under one directory on demand and runs work on their threads.

    Each name is open (served, in `_served`), deleting (in `_deleting`: new requests get 404, a create gets 409)
    or gone (neither). A delete marks the name deleting, lets the work already queued on the collection's thread
    finish (FIFO: everything acknowledged before the delete is written before the files go), closes it, renames the
    directory out of the way and only then answers, so the name is reusable at once and nothing a client was told
    succeeded is written to a collection that is then deleted or re-opened behind the registry's back.
    """

    def __init__(self, root: Path, encoder: Encoder) -> None:
        self.root = Path(root)
        self.encoder = encoder
        self._served: dict[str, _Served] = {}
        self._deleting: set[str] = set()
        self._lock = asyncio.Lock()
        if self.root.is_dir():  # a server killed mid-delete left its renamed directory behind
            for leftover in self.root.glob(f"{TRASH_PREFIX}*"):
                shutil.rmtree(leftover, ignore_errors=True)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if NAME_PATTERN.fullmatch(p.name) and p.name not in self._deleting and (p / DB_NAME).is_file()
        )

    async def _open(self, name: str, create: dict | None = None) -> _Served:
        check_name(name)
        async with self._lock:
            if name in self._deleting:
                if create is not None:
                    raise CollectionExists(f"collection {name!r} is being deleted; create it again once that is done")
                raise CollectionNotFound(f"collection {name!r} not found (it is being deleted)")
            served = self._served.get(name)
            if served is not None:
                if create is not None:
                    raise CollectionExists(f"collection {name!r} already exists")
                return served
            path = self.root / name
            exists = (path / DB_NAME).is_file()
            if create is not None and exists:
                raise CollectionExists(f"collection {name!r} already exists")
            if create is None and not exists:
                raise CollectionNotFound(f"collection {name!r} not found")
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"simvec-{name}")
            loop = asyncio.get_running_loop()
            if create is not None:
                self.root.mkdir(parents=True, exist_ok=True)
                opener = lambda: Collection.create(path, model=self.encoder, **create)  # noqa: E731
            else:
                opener = lambda: Collection.open(path, model=self.encoder)  # noqa: E731
            try:
                collection = await loop.run_in_executor(executor, opener)
            except BaseException:
                executor.shutdown(wait=False)
                raise
            served = self._served[name] = _Served(collection, executor)
            return served

    async def create(self, name: str, **options) -> dict:
        served = await self._open(name, create=options)
        return await self._call(served, lambda c: c.info())

    async def run(self, name: str, fn: Callable[[Collection], T]) -> T:
        """Run `fn(collection)` on the collection's thread."""
        # No await between getting the collection and queueing `fn` on its thread: a delete marked after this
        # point queues its close behind `fn`.
        return await self._call(await self._open(name), fn)

    async def _call(self, served: _Served, fn: Callable[[Collection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(served.executor, fn, served.collection)

    async def delete(self, name: str) -> None:
        """Delete a collection once the work queued before the delete is done; the name is free when it returns."""
        served = await self._open(name)
        async with self._lock:
            if name in self._deleting or self._served.get(name) is not served:
                raise CollectionNotFound(f"collection {name!r} not found (it is being deleted)")
            self._deleting.add(name)
        try:
            await self._call(served, lambda c: c.close())  # after every operation queued before it
            served.executor.shutdown(wait=False)
            trash = self.root / f"{TRASH_PREFIX}{name}-{uuid.uuid4().hex}"
            await asyncio.to_thread(os.replace, self.root / name, trash)
        finally:
            async with self._lock:
                self._served.pop(name, None)
                self._deleting.discard(name)
        await asyncio.to_thread(shutil.rmtree, trash, True)

    async def close(self) -> None:
        for name in list(self._served):
            served = self._served.pop(name)
            await self._call(served, lambda c: c.close())
            served.executor.shutdown(wait=True)
