"""A persistent embedding cache (SQLite), so re-embedding the same text with the same model is free.

Entries hold the backend's pooled float32 output, before normalisation, Matryoshka truncation and precision
conversion, so those options are applied afterwards and need no place in the key. The key is
(namespace, sha256(text as the model reads it)): the namespace names the model's content hash and the backend
(with its recipe version), because backends differ in their last digits (and `static` entirely); the text is
hashed *after* the prompt is prefixed, so a prompt is part of the key; truncation at the model's max length is
a property of the model, covered by its hash. Whether a text was truncated is stored, so warnings and
`Encoder.last_stats` stay truthful on cache hits.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simvec.encoders.artifacts import cache_dir
from simvec.errors import InputTypeError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS namespaces (
    namespace TEXT PRIMARY KEY, model TEXT NOT NULL, backend TEXT NOT NULL, dimension INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    namespace TEXT NOT NULL, text_hash BLOB NOT NULL, vector BLOB NOT NULL, truncated INTEGER NOT NULL,
    PRIMARY KEY (namespace, text_hash)
) WITHOUT ROWID;
"""
_QUERY_CHUNK = 500  # SQLite's bound-parameter limit is 999 on old builds; stay well under it


def default_cache_path() -> Path:
    """<cache dir>/embeddings.sqlite (the cache dir is $SIMVEC_CACHE_DIR or ~/.cache/simvec)."""
    return cache_dir() / "embeddings.sqlite"


def text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """Float32 embeddings by (namespace, text hash) in one SQLite file; safe to share between threads."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")  # readers in other processes never block a writer
            self._db.executescript(_SCHEMA)
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r})"

    def register(self, namespace: str, model: str, backend: str, dimension: int) -> None:
        """Describe a namespace (shown by `simvec cache info`)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO namespaces VALUES (?, ?, ?, ?)", (namespace, model, backend, dimension)
            )

    def get(self, namespace: str, texts: Sequence[str], dimension: int) -> dict[int, tuple[np.ndarray, bool]]:
        """{position: (vector, truncated)} for the texts already cached; counts hits and misses."""
        wanted: dict[bytes, list[int]] = {}
        for i, text in enumerate(texts):
            wanted.setdefault(text_hash(text), []).append(i)
        keys = list(wanted)
        found: dict[int, tuple[np.ndarray, bool]] = {}
        with self._lock:
            for start in range(0, len(keys), _QUERY_CHUNK):
                chunk = keys[start : start + _QUERY_CHUNK]
                rows = self._db.execute(
                    f"SELECT text_hash, vector, truncated FROM embeddings WHERE namespace = ? "
                    f"AND text_hash IN ({','.join('?' * len(chunk))})",
                    (namespace, *chunk),
                ).fetchall()
                for key, blob, truncated in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape != (dimension,):  # written by a different build: treat as a miss
                        continue
                    for i in wanted[key]:
                        found[i] = (vector, bool(truncated))
        self.hits += len(found)
        self.misses += len(texts) - len(found)
        return found

    def put(self, namespace: str, texts: Sequence[str], vectors: np.ndarray, truncated: Sequence[bool]) -> None:
        """Store float32 vectors for texts (one transaction)."""
        rows = [
            (namespace, text_hash(t), np.ascontiguousarray(v, dtype=np.float32).tobytes(), int(f))
            for t, v, f in zip(texts, vectors, truncated, strict=False)
        ]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)

    def info(self) -> dict[str, object]:
        """Path, size on disk, and entries per namespace (model, backend, dimension)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT n.namespace, n.model, n.backend, n.dimension, COUNT(e.text_hash) FROM namespaces n "
                "LEFT JOIN embeddings e USING (namespace) GROUP BY n.namespace ORDER BY n.model, n.backend"
            ).fetchall()
            total = self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return {
            "path": str(self.path),
            "bytes": size,
            "entries": total,
            "namespaces": [
                {"namespace": ns, "model": model, "backend": backend, "dimension": dim, "entries": count}
                for ns, model, backend, dim, count in rows
            ],
        }

    def clear(self, model: str | None = None) -> int:
        """Delete every entry (or those of one model id); returns how many were deleted."""
        with self._lock, self._db:
            if model is None:
                deleted = self._db.execute("DELETE FROM embeddings").rowcount
                self._db.execute("DELETE FROM namespaces")
            else:
                spaces = [r[0] for r in self._db.execute("SELECT namespace FROM namespaces WHERE model = ?", (model,))]
                deleted = sum(
                    self._db.execute("DELETE FROM embeddings WHERE namespace = ?", (ns,)).rowcount for ns in spaces
                )
                self._db.execute("DELETE FROM namespaces WHERE model = ?", (model,))
        with self._lock:
            self._db.execute("VACUUM")  # give the space back: a cleared cache should not keep its file size
        return deleted

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_cache(cache: bool | str | Path | EmbeddingCache | None) -> EmbeddingCache | None:
    """`Encoder(cache=...)`: None/False = off, True = the default file, a path, or an EmbeddingCache."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return EmbeddingCache()
    if isinstance(cache, EmbeddingCache):
        return cache
    if isinstance(cache, (str, Path)):
        return EmbeddingCache(cache)
    raise InputTypeError(f"cache must be None, a bool, a path or an EmbeddingCache, got {type(cache).__name__}")
