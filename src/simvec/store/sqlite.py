"""`SQLiteStore`: the rows of one collection in SQLite (the source of truth), behind the `Store` interface.

Every read of a search runs inside one read transaction (`read()`), so it sees one snapshot whatever writers in
other processes do; every write runs inside `write()`, which bumps the generation that derived index files are
stamped with. Row vectors are little-endian float32 blobs; `seq` is a document's label in every index.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from simvec.errors import CollectionError, SimvecError, StorageError, Unavailable
from simvec.store import schema
from simvec.store.filters import Node, parse_filter, to_sql
from simvec.store.protocol import StoredRow

_SQL_CHUNK = 10_000  # ids per `IN (...)` (SQLite allows 32,766 parameters)


def _chunks(items: Sequence, size: int = _SQL_CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(chunk: Sequence) -> str:
    return ",".join("?" * len(chunk))


def fts_query(text: str) -> str:
    """User text as an FTS5 query matching any of its words, each quoted (user text is not FTS5 syntax)."""
    return " OR ".join(f'"{word}"' for word in re.findall(r"\w+", text))


def lock_holders(path: Path) -> list[str]:
    """ "pid N (command)" of the processes holding a lock on the database or its WAL files (Linux /proc/locks)."""
    inodes = set()
    for suffix in ("", "-shm", "-wal"):
        with contextlib.suppress(OSError):
            inodes.add(Path(f"{path}{suffix}").stat().st_ino)
    holders = []
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) > 5 and fields[5].count(":") == 2 and int(fields[5].rsplit(":", 1)[1]) in inodes:
            pid = int(fields[4])
            if pid in (os.getpid(), 0) or f"pid {pid}" in " ".join(holders):
                continue
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                command = "?"
            holders.append(f"pid {pid} ({' '.join(command.split())[:80]})")
    return holders


def storage_error(exc: sqlite3.OperationalError, path: Path) -> SimvecError | None:
    """The one-line error for a lock timeout, full disk, read-only directory or I/O error; None for anything else."""
    name = path.parent.name
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        holders = lock_holders(path)
        held = f" (held by {', '.join(holders)})" if holders else " (held by another process writing to it)"
        return Unavailable(
            f"collection {name!r} is locked by another writer{held} for more than {schema.BUSY_TIMEOUT_SECONDS} s;"
            " retry when it finishes",
            503,
            retry_after=5,
        )
    if "full" in text:
        return StorageError(f"collection {name!r}: the disk is full ({exc}); nothing of this write was kept", 507)
    if "readonly" in text or "read-only" in text:
        return StorageError(f"collection {name!r} is read-only here ({exc}): it can be searched, not changed", 503)
    if "disk i/o error" in text or "unable to open" in text:
        return StorageError(f"collection {name!r}: storage error ({exc})", 503)
    return None


class SQLiteStore:
    """Documents, metadata, vectors and the settings of one collection in `collection.db`."""

    def __init__(self, path: Path, dimension: int | None = None) -> None:
        self.path = path
        try:
            self.conn = schema.connect(path)
            self.settings = schema.read_settings(self.conn)
        except sqlite3.OperationalError as exc:
            raise (storage_error(exc, path) or exc) from exc
        except sqlite3.DatabaseError as exc:  # "file is not a database": damaged or not ours
            raise CollectionError(f"collection {path.parent.name!r}: {path.name} cannot be read ({exc})") from exc
        self.dimension = int(dimension or self.settings.get("dimension") or 0)
        self._every: tuple[int, np.ndarray] | None = None  # (generation, every label) for negated filters

    @property
    def indexed_fields(self) -> frozenset[str] | None:
        """The metadata fields in the index (None: every field), as declared at create time."""
        fields = self.settings.get("indexed_fields")
        return None if fields is None else frozenset(fields)

    @classmethod
    def create(cls, path: Path, settings: dict[str, object]) -> SQLiteStore:
        """A new database at `path` with the schema and `settings`, written in one transaction."""
        try:
            conn = schema.connect(path)
            schema.initialise(conn, settings)
        except sqlite3.OperationalError as exc:
            raise (storage_error(exc, path) or exc) from exc
        conn.close()
        return cls(path)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # ---- transactions and settings ---------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[None]:
        """A read transaction: every query inside sees the same snapshot, whatever writers do meanwhile."""
        with self.storage_errors(), schema.transaction(self.conn, "BEGIN"):
            yield

    @contextmanager
    def storage_errors(self) -> Iterator[None]:
        """Turn SQLite's lock, disk-full, read-only and I/O errors into one-line errors naming the collection."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            mapped = storage_error(exc, self.path)
            if mapped is None:
                raise
            raise mapped from exc

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction that bumps the generation; rolled back on any error (or a kill)."""
        with self.storage_errors(), schema.transaction(self.conn, "BEGIN IMMEDIATE"):
            self.conn.execute("UPDATE settings SET value = value + 1 WHERE key = 'generation'")
            if "uuid" not in self.settings:  # a collection created before identities gets one on its next write
                row = self.conn.execute("SELECT value FROM settings WHERE key = 'uuid'").fetchone()
                if row is None:
                    self.set_setting("uuid", schema.new_identity())
                else:  # another process gave it one already
                    self.settings["uuid"] = json.loads(row[0])
            yield

    @property
    def identity(self) -> str:
        """The collection's UUID, which every derived file carries ("" for an old collection never written since)."""
        return str(self.settings.get("uuid") or "")

    def set_setting(self, key: str, value: object) -> None:
        """Store a JSON setting (call inside `write()`)."""
        self.conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, json.dumps(value)))
        self.settings[key] = value

    def set_setting_once(self, key: str, value: object) -> object:
        """Store `value` unless another writer stored one first (call inside `write()`); returns the value kept."""
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.set_setting(key, value)
        else:
            self.settings[key] = json.loads(row[0])
        return self.settings[key]

    def generation(self) -> int:
        """The number of write transactions committed so far."""
        return schema.counter(self.conn, "generation")

    def count(self) -> int:
        """Number of documents."""
        return schema.counter(self.conn, "count")

    # ---- documents -------------------------------------------------------------------------------

    def contains(self, doc_id: str) -> bool:
        """Whether a document with this id is stored."""
        return self.conn.execute("SELECT 1 FROM docs WHERE id = ?", (doc_id,)).fetchone() is not None

    def stored(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """id -> (content hash, metadata JSON) of the stored documents among `ids`."""
        stored = {}
        for chunk in _chunks(ids):
            rows = self.conn.execute(f"SELECT id, hash, metadata FROM docs WHERE id IN ({_marks(chunk)})", chunk)
            stored.update((row[0], row[1:]) for row in rows)
        return stored

    def upsert(self, rows: Sequence[StoredRow], replaced: Sequence[str]) -> None:
        """Delete the `replaced` ids and insert `rows` with their vectors (call inside `write()`)."""
        self.conn.executemany("DELETE FROM docs WHERE id = ?", [(doc_id,) for doc_id in replaced])
        self.conn.executemany(
            "INSERT INTO docs(id, text, metadata, hash, vector) VALUES (?, ?, ?, ?, ?)",
            [(r.id, r.text, r.metadata, r.hash, np.asarray(r.vector, dtype="<f4").tobytes()) for r in rows],
        )

    def set_metadata(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Replace the metadata JSON of (id, metadata) pairs (call inside `write()`)."""
        self.conn.executemany("UPDATE docs SET metadata = ? WHERE id = ?", [(meta, doc_id) for doc_id, meta in pairs])

    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents by id (call inside `write()`); returns how many existed."""
        deleted = 0
        for chunk in _chunks(ids):
            deleted += self.conn.execute(f"DELETE FROM docs WHERE id IN ({_marks(chunk)})", chunk).rowcount
        return deleted

    def get(self, ids: Sequence[str], include_vectors: bool) -> dict[str, tuple[str | None, dict, np.ndarray | None]]:
        """id -> (text, metadata, vector or None) of the stored documents among `ids`."""
        found = {}
        for chunk in _chunks(ids):
            for doc_id, text, meta, blob in self.conn.execute(
                f"SELECT id, text, metadata, vector FROM docs WHERE id IN ({_marks(chunk)})", chunk
            ):
                vector = np.frombuffer(blob, dtype="<f4").copy() if include_vectors else None
                found[doc_id] = (text, json.loads(meta), vector)
        return found

    def ids(self) -> list[str]:
        """Every id, in insertion order."""
        return [row[0] for row in self.conn.execute("SELECT id FROM docs ORDER BY seq")]

    def iterate(self, page: int = 1000) -> Iterator[tuple[str, str | None, dict]]:
        """(id, text, metadata) of every document, in insertion order, read in pages."""
        last = 0
        while True:
            rows = self.conn.execute(
                "SELECT seq, id, text, metadata FROM docs WHERE seq > ? ORDER BY seq LIMIT ?", (last, page)
            ).fetchall()
            if not rows:
                return
            for _, doc_id, text, meta in rows:
                yield doc_id, text, json.loads(meta)
            last = rows[-1][0]

    def fetch(self, labels: set[int]) -> dict[int, tuple[str, str | None, str]]:
        """label -> (id, text, metadata JSON) for the labels still stored."""
        found = {}
        for chunk in _chunks(sorted(labels)):
            rows = self.conn.execute(f"SELECT seq, id, text, metadata FROM docs WHERE seq IN ({_marks(chunk)})", chunk)
            found.update((seq, (doc_id, text, meta)) for seq, doc_id, text, meta in rows)
        return found

    # ---- vectors and labels ----------------------------------------------------------------------

    def vectors(self, filter: dict | None = None, after: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(labels, float32 matrix) of the documents matching `filter` with label > `after`, in label order."""
        if filter:
            selected, params = to_sql(parse_filter(filter, self.indexed_fields))
            where = f"seq IN ({selected})"
        else:
            where, params = "1", []
        labels, blobs = [], []
        for seq, blob in self.conn.execute(
            f"SELECT seq, vector FROM docs WHERE seq > ? AND {where} ORDER BY seq", (after, *params)
        ):
            labels.append(seq)
            blobs.append(blob)
        matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), self.dimension)
        return np.asarray(labels, dtype=np.int64), matrix

    def vectors_of(self, labels: np.ndarray) -> np.ndarray:
        """Stored float32 vectors of `labels` (all must exist in this snapshot), in the order given."""
        found: dict[int, bytes] = {}
        for chunk in _chunks([int(label) for label in labels]):
            found.update(self.conn.execute(f"SELECT seq, vector FROM docs WHERE seq IN ({_marks(chunk)})", chunk))
        blob = b"".join(found[int(label)] for label in labels)
        return np.frombuffer(blob, dtype="<f4").reshape(len(labels), self.dimension)

    def matching_labels(self, filter: dict) -> np.ndarray:
        """Labels of the documents matching `filter`, sorted: index lookups combined as numpy set operations."""
        return self._labels_of(parse_filter(filter, self.indexed_fields))

    def _labels_of(self, node: Node) -> np.ndarray:
        # SQLite's INTERSECT/UNION/EXCEPT sort every operand into a temporary b-tree; numpy's sorted-set operations
        # over the looked-up labels are 5-10x faster, and negations reuse the set of every label (cached).
        if node.op == "lookup":
            # Unique already (one value per field per document); sorted by doc within each value (primary key order).
            return np.sort(self._label_query(node.sql, node.params))
        if node.op in ("all", "none"):
            return self._every_label() if node.op == "all" else np.empty(0, dtype=np.int64)
        parts = [self._labels_of(part) for part in node.parts]
        if node.op == "not":
            return np.setdiff1d(self._every_label(), parts[0], assume_unique=True)
        if node.op == "and":
            return functools.reduce(lambda a, b: np.intersect1d(a, b, assume_unique=True), parts)
        return functools.reduce(np.union1d, parts)

    def _label_query(self, sql: str, params: Sequence) -> np.ndarray:
        # One comma-separated string parsed in C: ~8x faster than a Python loop over rows for 10k+ labels.
        (joined,) = self.conn.execute(f"SELECT group_concat(doc) FROM ({sql})", tuple(params)).fetchone()
        return np.fromstring(joined, dtype=np.int64, sep=",") if joined else np.empty(0, dtype=np.int64)

    def _every_label(self) -> np.ndarray:
        generation = self.generation()
        if self._every is None or self._every[0] != generation:
            self._every = (generation, np.sort(self._label_query("SELECT seq AS doc FROM docs", ())))
        return self._every[1]

    def migrate(self) -> int:
        """Bring the database to the current format in place; returns the format found (see schema.migrate)."""
        version = schema.migrate(self.conn)
        self.settings = schema.read_settings(self.conn)
        return version

    def max_label(self) -> int:
        """The highest label in use (0 when empty)."""
        return int(self.conn.execute("SELECT coalesce(max(seq), 0) FROM docs").fetchone()[0])

    def count_after(self, label: int) -> int:
        """How many documents have a label above `label`."""
        return int(self.conn.execute("SELECT count(*) FROM docs WHERE seq > ?", (label,)).fetchone()[0])

    def dead_labels(self, built_generation: int, max_label: int) -> np.ndarray:
        """Labels up to `max_label` deleted or replaced after `built_generation`."""
        rows = self.conn.execute(
            "SELECT seq FROM tombstones WHERE generation > ? AND seq <= ?", (built_generation, max_label)
        )
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def keyword(self, text: str, k: int, filter: dict | None = None) -> list[tuple[int, float]]:
        """(label, BM25 score, higher is better) of the k best keyword matches among the filtered documents."""
        selected, params = to_sql(parse_filter(filter, self.indexed_fields))
        match = fts_query(text)
        if not match:
            return []
        rows = self.conn.execute(
            "SELECT docs.seq, bm25(docs_fts) FROM docs_fts JOIN docs ON docs.seq = docs_fts.rowid "
            f"WHERE docs_fts MATCH ? AND docs.seq IN ({selected}) ORDER BY bm25(docs_fts) LIMIT ?",
            (match, *params, k),
        )
        return [(seq, -score) for seq, score in rows]  # FTS5's bm25() is lower-is-better
