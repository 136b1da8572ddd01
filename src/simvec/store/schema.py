"""The SQLite side of a collection: schema, connection settings, and the settings table.

`docs.seq` is the FAISS label of a document's vector. It is AUTOINCREMENT, so a label is never reused:
a replaced or deleted document gets a row in `tombstones` (via a trigger) with the generation of the
transaction that removed it, and an index built before that generation excludes it at search time.
`settings.generation` is bumped by every write transaction; indexes are stamped with the generation
they reflect. `settings.count` is kept by triggers, because count(*) scans the table and a search
needs the count every time.

`meta` is the metadata index (format 2): one row per (field, scalar value, label) of every document, kept by the
same triggers, so it is always in the transaction that wrote the document. Measured against SQLite generated
columns on 100k documents with two fields (`/tmp` micro-benchmark, see BENCHMARKS.md "Filtered search"): the same
lookup cost for one condition (~2 ms for 2,000 labels), half the cost for two (INTERSECT of two index ranges vs
one index plus row checks), 11 bytes per document more — and it indexes every field seen in data with no schema
change, where a generated column needs an ALTER TABLE and an index per field. The setting `indexed_fields` (a list)
limits it to declared fields; the view `meta_all` has the same rows for every field, computed from the JSON. Lists and objects are stored as
blobs (present, never equal to or in range of a filter value). Collections of format 1 are migrated in place by
`migrate` when opened.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FORMAT_VERSION = 2
BUSY_TIMEOUT_SECONDS = 60  # a second writer (or a checkpoint) waits this long for the write lock

COUNTERS = ("generation", "count", "format_version")  # stored as integers; every other setting is JSON

_META_VALUE = "CASE WHEN type IN ('array', 'object') THEN CAST(value AS BLOB) ELSE value END"
_META_ROWS = f"SELECT key, {_META_VALUE}, {{doc}} FROM json_each({{metadata}}) WHERE type != 'null'"
# Setting `indexed_fields`: absent or JSON null indexes every field; a JSON list indexes only those.
_INDEXED = (
    " AND (NOT EXISTS (SELECT 1 FROM settings WHERE key = 'indexed_fields' AND value != 'null')"
    " OR key IN (SELECT j.value FROM settings, json_each(settings.value) AS j WHERE settings.key = 'indexed_fields'))"
)

META_SCHEMA = f"""
CREATE TABLE meta (field TEXT NOT NULL, value, doc INTEGER NOT NULL, PRIMARY KEY (field, value, doc)) WITHOUT ROWID;
CREATE TRIGGER docs_insert AFTER INSERT ON docs BEGIN
    INSERT INTO docs_fts(rowid, text) VALUES (new.seq, new.text);
    UPDATE settings SET value = value + 1 WHERE key = 'count';
    INSERT INTO meta(field, value, doc) {_META_ROWS.format(doc="new.seq", metadata="new.metadata")}{_INDEXED};
END;
CREATE TRIGGER docs_delete AFTER DELETE ON docs BEGIN
    INSERT INTO docs_fts(docs_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    UPDATE settings SET value = value - 1 WHERE key = 'count';
    INSERT OR REPLACE INTO tombstones(seq, generation)
        VALUES (old.seq, (SELECT value FROM settings WHERE key = 'generation'));
    DELETE FROM meta WHERE (field, value, doc) IN ({_META_ROWS.format(doc="old.seq", metadata="old.metadata")});
END;
CREATE TRIGGER docs_update_metadata AFTER UPDATE OF metadata ON docs BEGIN
    DELETE FROM meta WHERE (field, value, doc) IN ({_META_ROWS.format(doc="old.seq", metadata="old.metadata")});
    INSERT INTO meta(field, value, doc) {_META_ROWS.format(doc="new.seq", metadata="new.metadata")}{_INDEXED};
END;
-- The same rows for every field, computed from the JSON (a scan of every document): filters on fields left out of
-- `indexed_fields` read this instead of `meta`, with the same SQL.
CREATE VIEW meta_all(field, value, doc) AS
    SELECT key, {_META_VALUE}, docs.seq FROM docs, json_each(docs.metadata) WHERE type != 'null';
"""

SCHEMA = (
    """
CREATE TABLE settings (key TEXT PRIMARY KEY, value);
CREATE TABLE docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    text TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    hash TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE TABLE tombstones (seq INTEGER PRIMARY KEY, generation INTEGER NOT NULL);
CREATE INDEX tombstones_by_generation ON tombstones(generation);
CREATE VIRTUAL TABLE docs_fts USING fts5(text, content='docs', content_rowid='seq', tokenize='porter unicode61');
CREATE TRIGGER docs_update_text AFTER UPDATE OF text ON docs BEGIN
    INSERT INTO docs_fts(docs_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO docs_fts(rowid, text) VALUES (new.seq, new.text);
END;
"""
    + META_SCHEMA
)

# Format 1 had the same tables without `meta`; its insert and delete triggers are replaced by META_SCHEMA's.
MIGRATE_FROM_1 = f"""
DROP TRIGGER docs_insert;
DROP TRIGGER docs_delete;
{META_SCHEMA}
INSERT INTO meta(field, value, doc) SELECT key, {_META_VALUE}, docs.seq
    FROM docs, json_each(docs.metadata) WHERE type != 'null';
UPDATE settings SET value = 2 WHERE key = 'format_version';
"""


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal, full fsync on commit.

    A collection in a directory this process cannot write (read-only mount or permissions) is opened read-only:
    reading never needs write access. SQLite needs the WAL's `-shm` file to read a WAL database; where it cannot
    be created it reads the file as immutable, which is right because nobody can write there either.
    """
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        if not path.is_file() or writable(path):
            raise
        conn = _connect_read_only(path)
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def writable(path: Path) -> bool:
    """Whether this process may write the database file and create files beside it."""
    return os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        conn.execute("SELECT count(*) FROM settings").fetchone()
    except sqlite3.OperationalError:
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE", script: str = "") -> Iterator[None]:
    """One transaction: committed when the block ends, rolled back on any error (a kill leaves nothing half-done).

    `script` runs right after `begin` (executescript would commit a pending transaction first, so it opens it).
    """
    if script:
        conn.executescript(f"{begin};{script}")
    else:
        conn.execute(begin)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # SQLite has already rolled back after some errors (SQLITE_FULL, SQLITE_IOERR): a second ROLLBACK would
        # raise "no transaction is active" and hide the real cause.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the error being raised is the one that matters
                conn.execute("ROLLBACK")
        raise


def initialise(conn: sqlite3.Connection, settings: dict[str, object]) -> None:
    """Create the schema and write the settings, in one transaction."""
    with transaction(conn, script=SCHEMA):
        conn.executemany(
            "INSERT INTO settings(key, value) VALUES (?, ?)",
            [("generation", 0), ("count", 0), ("format_version", FORMAT_VERSION)]
            + [(key, json.dumps(value)) for key, value in {"uuid": new_identity(), **settings}.items()],
        )


def new_identity() -> str:
    """A fresh collection identity: derived files are stamped with it, so a re-created database never reuses them."""
    return uuid.uuid4().hex


def read_settings(conn: sqlite3.Connection) -> dict[str, object]:
    """Settings as Python values (generation and format_version as ints, the rest JSON-decoded)."""
    settings: dict[str, object] = {}
    for key, value in conn.execute("SELECT key, value FROM settings"):
        settings[key] = value if key in COUNTERS else json.loads(value)
    return settings


def counter(conn: sqlite3.Connection, key: str) -> int:
    """The current value of an integer setting ("generation" or "count")."""
    return int(conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring a collection database to FORMAT_VERSION in place (one transaction); returns the version found."""
    version = counter(conn, "format_version")
    if version == 1:
        try:
            with transaction(conn, script=MIGRATE_FROM_1):
                pass
        except sqlite3.OperationalError:  # another process migrated it first ("table meta already exists")
            if counter(conn, "format_version") != FORMAT_VERSION:
                raise
    return version
