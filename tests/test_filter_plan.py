"""Filtered dense search: every plan marked exact returns exact filtered brute force's top-k (flat, HNSW and
compressed collections, few / many / nearly all documents matching), the metadata index stays in step with
writes, and collections of the previous format are migrated in place."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from simvec import Collection
from simvec.errors import CollectionError, FilterError
from simvec.store.plan import FilterCache

DIM = 384
N = 3000
K = 10
SELECTIVITY = {  # filter over "bucket" (0..999, uniform) -> expected plan with exact_filter_max=100
    "few": ({"bucket": {"$lt": 20}}, "subset"),  # ~2%: 60 documents
    "many": ({"$or": [{"bucket": {"$lt": 300}}, {"colour": "red"}]}, "selector"),  # ~50%
    "nearly all": ({"bucket": {"$ne": 7}}, "post-filter"),  # ~99.9%
}


def brute_force(vectors: np.ndarray, mask: np.ndarray, query: np.ndarray, ids: list[str], k: int) -> list[str]:
    """Exact filtered top-k by inner product (vectors are unit-length: cosine)."""
    scores = np.where(mask, vectors @ query, -np.inf)
    return [ids[i] for i in np.argsort(-scores, kind="stable")[: min(k, int(mask.sum()))]]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    buckets = rng.integers(0, 1000, N)
    metadata = [{"bucket": int(b), "colour": ["red", "blue"][int(b) % 2]} for b in buckets]
    queries = rng.standard_normal((8, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return vectors, buckets, metadata, queries


def masks(buckets: np.ndarray) -> dict[str, np.ndarray]:
    return {"few": buckets < 20, "many": (buckets < 300) | (buckets % 2 == 0), "nearly all": buckets != 7}


@pytest.fixture(scope="module", params=["flat", "hnsw", "int8"])
def collection(request, data, tmp_path_factory):
    vectors, _, metadata, _ = data
    kind = request.param
    options = {"compression": "int8", "rescore": "float32"} if kind == "int8" else {"index": kind}
    path = tmp_path_factory.mktemp("plan") / kind
    collection = Collection.create(path, index_params={"exact_filter_max": 100}, **options)
    collection.add([f"doc {i}" for i in range(N)], ids=[str(i) for i in range(N)], metadata=metadata, vectors=vectors)
    yield collection
    collection.close()


@pytest.mark.parametrize("name", list(SELECTIVITY))
def test_exact_plans_match_filtered_brute_force(collection, data, name):
    vectors, buckets, _, queries = data
    filter, strategy = SELECTIVITY[name]
    ids = [str(i) for i in range(N)]
    mask = masks(buckets)[name]
    recalls = []
    for query in queries:
        hits, plan = collection.search(query, K, filter=filter, explain=True)
        dense = plan["dense"]
        expected = brute_force(vectors, mask, query, ids, K)
        assert dense["strategy"] == strategy and dense["matching"] == int(mask.sum())
        if dense["exact"]:
            assert [h.id for h in hits] == expected, (collection.path.name, name)
        else:
            assert dense["recall"].startswith("approximate") and len(hits) == K
            recalls.append(len({h.id for h in hits} & set(expected)) / K)
        assert all(mask[int(h.id)] for h in hits)  # never a hit outside the filter, exact or not
    # The index kinds and their exactness: flat is exact under every plan; the subset plan is exact everywhere.
    assert (not recalls) == (collection.path.name == "flat" or strategy == "subset")
    if recalls:
        assert np.mean(recalls) >= 0.9


def test_explain_shows_counts_and_the_cache(collection, data):
    query = data[3][0]
    collection.derived.filters = type(collection.derived.filters)()  # a cold cache
    _, first = collection.search(query, K, filter={"bucket": {"$in": [1, 2, 3]}}, explain=True)
    _, again = collection.search(query, K, filter={"bucket": {"$in": [1, 2, 3]}}, explain=True)
    assert (first["dense"]["filter_cached"], again["dense"]["filter_cached"]) == (False, True)
    assert first["dense"]["scored"] == first["dense"]["matching"] == int(np.isin(data[1], [1, 2, 3]).sum())
    _, unfiltered = collection.search(query, K, explain=True)
    assert unfiltered["dense"]["strategy"] == "unfiltered" and unfiltered["dense"]["matching"] is None


def test_a_field_no_document_has_is_an_empty_plan(collection, data):
    hits, plan = collection.search(data[3][0], K, filter={"no such field": 1}, explain=True)
    assert hits == [] and plan["dense"]["strategy"] == "empty" and plan["dense"]["scored"] == 0


def test_cached_labels_follow_writes(tmp_path, data):
    vectors, _, _, queries = data
    with Collection.create(tmp_path / "c", index="flat") as collection:
        collection.add(["a", "b"], ids=["a", "b"], metadata=[{"t": "x"}, {"t": "y"}], vectors=vectors[:2])
        assert [h.id for h in collection.search(queries[0], 5, filter={"t": "x"})] == ["a"]
        collection.add(["c"], ids=["c"], metadata=[{"t": "x"}], vectors=vectors[2:3])  # a new matching document
        collection.add(["b"], ids=["b"], metadata=[{"t": "x"}], vectors=vectors[1:2])  # metadata-only update
        assert {h.id for h in collection.search(queries[0], 5, filter={"t": "x"})} == {"a", "b", "c"}
        collection.delete(["a"])
        collection.add(["c"], ids=["c"], metadata=[{"t": "z"}], vectors=vectors[5:6])  # replaced: new label
        assert {h.id for h in collection.search(queries[0], 5, filter={"t": "x"})} == {"b"}
        assert {h.id for h in collection.search(queries[0], 5, filter={"t": {"$ne": "x"}})} == {"c"}
        rows = collection.store.conn.execute("SELECT field, value FROM meta ORDER BY value").fetchall()
        assert rows == [("t", "x"), ("t", "z")]  # nothing left behind by deletes and replacements


def test_mixed_types_and_unindexable_values_are_type_strict(tmp_path, data):
    values = [2020, "2020", 2020.5, True, ["2020"], {"y": 2020}, None]
    with Collection.create(tmp_path / "c", index="flat") as collection:
        collection.add(
            [str(v) for v in values],
            ids=[str(i) for i in range(len(values))],
            metadata=[{"year": v, "lang": "en"} for v in values],
            vectors=data[0][: len(values)],
        )

        def found(filter):
            return {int(h.id) for h in collection.search(data[3][0], 10, filter=filter)}

        assert found({"year": 2020}) == {0}
        assert found({"year": "2020"}) == {1}
        assert found({"year": {"$gte": 1}}) == {0, 2, 3}  # numbers (and a bool, stored as 1) only
        assert found({"year": {"$gte": ""}}) == {1}  # strings only: lists and objects never compare
        assert found({"year": None}) == {6}
        # An indexed scalar field mixed with a list/object-valued one (present, never equal to a value).
        assert found({"lang": "en", "year": {"$ne": None}}) == {0, 1, 2, 3, 4, 5}
        assert found({"lang": "en", "year": ["2020"][0]}) == {1}
        assert found({"$or": [{"year": {"$in": [2020.5, "2020"]}}, {"lang": "de"}]}) == {1, 2}


# The schema of format 1 (simvec before the metadata index), as main created it.
FORMAT_1 = """
CREATE TABLE settings (key TEXT PRIMARY KEY, value);
CREATE TABLE docs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, text TEXT,
    metadata TEXT NOT NULL DEFAULT '{}', hash TEXT NOT NULL, vector BLOB NOT NULL);
CREATE TABLE tombstones (seq INTEGER PRIMARY KEY, generation INTEGER NOT NULL);
CREATE INDEX tombstones_by_generation ON tombstones(generation);
CREATE VIRTUAL TABLE docs_fts USING fts5(text, content='docs', content_rowid='seq', tokenize='porter unicode61');
CREATE TRIGGER docs_insert AFTER INSERT ON docs BEGIN
    INSERT INTO docs_fts(rowid, text) VALUES (new.seq, new.text);
    UPDATE settings SET value = value + 1 WHERE key = 'count';
END;
CREATE TRIGGER docs_delete AFTER DELETE ON docs BEGIN
    INSERT INTO docs_fts(docs_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    UPDATE settings SET value = value - 1 WHERE key = 'count';
    INSERT OR REPLACE INTO tombstones(seq, generation)
        VALUES (old.seq, (SELECT value FROM settings WHERE key = 'generation'));
END;
CREATE TRIGGER docs_update_text AFTER UPDATE OF text ON docs BEGIN
    INSERT INTO docs_fts(docs_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO docs_fts(rowid, text) VALUES (new.seq, new.text);
END;
"""


def format_1_collection(path, vectors, metadata):
    """A collection directory as the format-1 code wrote it (settings as `Collection.create` stored them)."""
    path.mkdir()
    with Collection.create(path / "template", index="flat") as template:
        settings = dict(template.settings)
    conn = sqlite3.connect(path / "collection.db")  # one implicit transaction for the inserts
    conn.executescript(FORMAT_1)
    conn.executemany(
        "INSERT INTO settings VALUES (?, ?)",
        [("generation", 1), ("count", 0), ("format_version", 1)]
        + [(k, json.dumps(v)) for k, v in settings.items() if k not in ("generation", "count", "format_version")],
    )
    conn.executemany(
        "INSERT INTO docs(id, text, metadata, hash, vector) VALUES (?, ?, ?, ?, ?)",
        [
            (str(i), f"doc {i}", json.dumps(m), f"h{i}", v.astype("<f4").tobytes())
            for i, (v, m) in enumerate(zip(vectors, metadata, strict=True))
        ],
    )
    conn.commit()
    conn.close()


def test_a_format_1_collection_is_migrated_in_place(tmp_path, data):
    vectors, buckets, metadata, queries = data
    format_1_collection(tmp_path / "old", vectors[:500], metadata[:500])
    with Collection.open(tmp_path / "old") as collection:
        assert collection.store.settings["format_version"] == 2 and collection.count() == 500
        mask = buckets[:500] < 100
        hits = collection.search(queries[0], K, filter={"bucket": {"$lt": 100}})
        assert [h.id for h in hits] == brute_force(vectors[:500], mask, queries[0], [str(i) for i in range(500)], K)
        collection.delete(["0"])  # the new triggers keep the index in step after the migration
        collection.add(["x"], ids=["x"], metadata=[{"bucket": -1}], vectors=vectors[:1])
        assert [h.id for h in collection.search(queries[0], K, filter={"bucket": -1})] == ["x"]
        assert collection.store.conn.execute("SELECT count(DISTINCT doc) FROM meta").fetchone()[0] == 500
    with Collection.open(tmp_path / "old") as again:  # a second open finds it migrated
        assert again.store.settings["format_version"] == 2


def test_a_collection_from_a_newer_simvec_is_refused(tmp_path):
    Collection.create(tmp_path / "c").close()
    conn = sqlite3.connect(tmp_path / "c" / "collection.db")
    conn.execute("UPDATE settings SET value = 3 WHERE key = 'format_version'")
    conn.commit()
    conn.close()
    with pytest.raises(CollectionError, match="format 3 is newer than this simvec supports"):
        Collection.open(tmp_path / "c")


def test_the_subset_plan_is_exact_for_euclidean_distance(tmp_path, data):
    vectors, buckets, _, queries = data
    raw = vectors[:500] * np.arange(1, 501, dtype=np.float32)[:, None] / 100  # not unit-length
    with Collection.create(tmp_path / "l2", index="hnsw", metric="euclidean") as collection:
        collection.add([str(i) for i in range(500)], ids=[str(i) for i in range(500)],
                       metadata=[{"b": int(b)} for b in buckets[:500]], vectors=raw)  # fmt: skip
        mask = buckets[:500] < 200
        hits, plan = collection.search(queries[0], K, filter={"b": {"$lt": 200}}, explain=True)
    distances = np.where(mask, np.linalg.norm(raw - queries[0], axis=1), np.inf)
    assert plan["dense"]["strategy"] == "subset" and [h.id for h in hits] == [str(i) for i in np.argsort(distances)[:K]]
    assert [h.score for h in hits] == pytest.approx(np.sort(distances)[:K], rel=1e-4)


def test_a_filter_mixing_indexed_and_unindexed_fields(tmp_path, data):
    vectors, buckets, metadata, queries = data
    with Collection.create(tmp_path / "c", index="flat", indexed_fields=["colour"]) as collection:
        collection.add([str(i) for i in range(300)], ids=[str(i) for i in range(300)],
                       metadata=metadata[:300], vectors=vectors[:300])  # fmt: skip
        assert {f for (f,) in collection.store.conn.execute("SELECT DISTINCT field FROM meta")} == {"colour"}
        mask = (buckets[:300] % 2 == 0) & (buckets[:300] < 500)  # colour red = even bucket
        for filter in (
            {"colour": "red", "bucket": {"$lt": 500}},
            {"$and": [{"bucket": {"$lt": 500}}, {"colour": "red"}]},
        ):
            hits = collection.search(queries[1], K, filter=filter)
            assert [h.id for h in hits] == brute_force(vectors[:300], mask, queries[1], [str(i) for i in range(300)], K)
        assert collection.search(queries[1], K, filter={"bucket": {"$ne": None}, "colour": "green"}) == []
    with pytest.raises(FilterError, match="indexed_fields"):
        Collection.create(tmp_path / "bad", indexed_fields="colour")


def test_the_filter_cache_is_bounded_in_entries_and_labels():
    cache = FilterCache(size=3, labels=100)
    for i in range(5):
        cache.put({"f": i}, 1, np.arange(10))
    assert [cache.get({"f": i}, 1) is not None for i in range(5)] == [False, False, True, True, True]
    assert cache.get({"f": 4}, 2) is None  # another generation: a write happened since
    cache.put({"big": 1}, 1, np.arange(95))  # 95 + the newest 10 > 100 labels: only the big one stays
    assert cache.get({"big": 1}, 1) is not None and cache.get({"f": 4}, 1) is None
    assert cache.get({"f": 1.0}, 1) is None and FilterCache.key({"f": 1}) != FilterCache.key({"f": True})


def test_explain_on_no_queries_still_returns_hits_and_plan(collection):
    assert collection.search_batch([], K, explain=True) == ([], {"mode": "dense"})
