"""Collection: upsert, content-hash skip, delete/get/iterate, dense/keyword/hybrid search, derived indexes.

Tests taking the `backend` fixture run on both backends (native, Milvus Lite): parity is proven, not claimed; where
a backend differs on purpose the test says so (docs/ARCHITECTURE.md, "Milvus backend", lists every difference).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from simvec import Collection
from simvec.store import CollectionError

TEXTS = {
    "cat": "The cat sat on the mat and purred.",
    "dog": "A loyal dog fetched the ball in the park.",
    "py": "Python is a popular programming language for data science.",
    "rust": "Rust is a systems programming language focused on safety.",
    "stocks": "Stock markets fell sharply after the interest rate decision.",
    "soup": "Tomato soup is easy to cook on a cold winter evening.",
}


@pytest.fixture()
def texts_collection(tmp_path, encoder, backend):
    collection = Collection.create(tmp_path / "c", model=encoder, backend=backend)
    collection.add(list(TEXTS.values()), ids=list(TEXTS), metadata=[{"topic": t} for t in TEXTS])
    yield collection
    collection.close()


def position(collection, doc_id: str) -> int:
    """A document's insertion position (native: its label; Milvus: its seq field)."""
    if collection.settings.get("backend"):
        return collection.store._get([doc_id], ["seq"])[0]["seq"]
    return collection.store.conn.execute("SELECT seq FROM docs WHERE id = ?", (doc_id,)).fetchone()[0]


def random_unit(n: int, seed: int = 0, d: int = 384) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_dense_search_ranks_by_meaning_and_matches_the_encoder(texts_collection, encoder):
    hits = texts_collection.search("a kitten resting on a rug", k=3)
    assert [h.id for h in hits][0] == "cat" and len(hits) == 3
    assert hits[0].text == TEXTS["cat"] and hits[0].metadata == {"topic": "cat"}
    expected = float(encoder.encode_queries("a kitten resting on a rug") @ encoder.encode_documents(TEXTS["cat"]))
    assert hits[0].score == pytest.approx(expected, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_query_vector_and_batch_give_the_same_answers(texts_collection, encoder):
    queries = ["coding in python", "financial news"]
    by_text = texts_collection.search_batch(queries, k=2)
    by_vector = texts_collection.search_batch(encoder.encode_queries(queries), k=2)
    assert [[h.id for h in hits] for hits in by_text] == [["py", "rust"], ["stocks", by_text[1][1].id]]
    assert [[h.id for h in hits] for hits in by_vector] == [[h.id for h in hits] for hits in by_text]
    single = texts_collection.search(list(encoder.encode_queries("coding in python")), k=1)  # a plain list works too
    assert single[0].id == "py"


def test_keyword_mode_is_bm25_over_words(texts_collection, backend):
    hits = texts_collection.search("programming language", k=5, mode="keyword")
    assert {h.id for h in hits} == {"py", "rust"}  # only documents containing a query word
    assert hits[0].score >= hits[1].score > 0  # BM25, higher is better on both backends
    assert texts_collection.search("what's C++?!", k=5, mode="keyword") == []  # punctuation is not FTS syntax
    if backend == "native":
        assert texts_collection.search("cooking", k=1, mode="keyword")[0].id == "soup"  # porter stemming
    else:  # deliberate difference: Milvus Lite's analyzers ("standard", "jieba") have no stemmer
        assert texts_collection.search("cooking", k=1, mode="keyword") == []
        assert texts_collection.search("Cook", k=1, mode="keyword")[0].id == "soup"  # lower-cased words


def test_hybrid_fuses_both_rankings_with_rrf(texts_collection):
    dense = [h.id for h in texts_collection.search("python snake", k=6)]
    keyword = [h.id for h in texts_collection.search("python snake", k=6, mode="keyword")]
    hybrid = texts_collection.search("python snake", k=6, mode="hybrid")
    expected = {}
    for ranking in (dense, keyword):
        for rank, doc in enumerate(ranking, start=1):
            expected[doc] = expected.get(doc, 0) + 1 / (60 + rank)
    assert hybrid[0].id == "py"
    for hit in hybrid:
        assert hit.score == pytest.approx(expected[hit.id])
    keyword_only = texts_collection.search("python snake", k=6, mode="hybrid", weights=(0, 1))
    assert keyword_only[0].id == "py" and keyword_only[0].score == pytest.approx(1 / 61 + 0)


def test_upsert_replaces_and_unchanged_text_is_not_re_embedded(texts_collection, encoder):
    seq_before = position(texts_collection, "cat")
    stats_before = encoder.last_stats
    result = texts_collection.add(
        [TEXTS["cat"], TEXTS["dog"]], ids=["cat", "dog"], metadata=[{"topic": "pets"}, {"topic": "dog"}]
    )
    assert (result.added, result.updated, result.unchanged) == (0, 1, 1)
    assert encoder.last_stats is stats_before  # nothing was embedded
    assert position(texts_collection, "cat") == seq_before
    assert texts_collection.get("cat").metadata == {"topic": "pets"}

    result = texts_collection.add("Quarterly earnings beat expectations on Wall Street.", ids="cat")
    assert (result.added, result.updated) == (0, 1) and len(texts_collection) == len(TEXTS)
    assert texts_collection.search("company profits and shares", k=2)[0].id in {"cat", "stocks"}
    assert "kitten" not in [h.id for h in texts_collection.search("kitten", k=6)]
    assert texts_collection.search("mat purred", k=6, mode="keyword") == []  # the old text left the FTS index too


def test_generated_ids_get_iter_count(tmp_path, backend):
    with Collection.create(tmp_path / "c", backend=backend) as collection:
        result = collection.add(vectors=random_unit(3), metadata=[{"i": 0}, None, {"i": 2}])
        assert len(set(result.ids)) == 3 and all(len(i) == 32 for i in result.ids)
        assert collection.count() == len(collection) == 3
        assert list(collection) == [
            (result.ids[0], None, {"i": 0}),
            (result.ids[1], None, {}),
            (result.ids[2], None, {"i": 2}),
        ]
        docs = collection.get([result.ids[2], "missing"], include_vectors=True)
        assert docs[1] is None and docs[0].metadata == {"i": 2}
        np.testing.assert_allclose(docs[0].vector, random_unit(3)[2], rtol=1e-6)
        assert result.ids[0] in collection and "missing" not in collection


@pytest.mark.parametrize(
    ("kind", "backend"),
    [
        ("flat", "native"),
        ("hnsw", "native"),
        ("ivf", "native"),
        pytest.param("flat", "milvus", marks=pytest.mark.engine),
        pytest.param("hnsw", "milvus", marks=pytest.mark.engine),
        # Not milvus + ivf, a deliberate difference: Milvus' IVF probes nprobe lists and may return fewer than k hits
        # (here k=600 of 598), where the native index redoes short rows exactly.
    ],
)
def test_deleted_documents_never_come_back_with_any_index(tmp_path, kind, backend):
    vectors = random_unit(600, seed=2)
    ids = [f"d{i}" for i in range(600)]
    with Collection.create(tmp_path / "c", index=kind, backend=backend) as collection:
        collection.add(ids=ids, vectors=vectors, batch_size=250)
        assert collection.search(vectors[5], k=1)[0].id == "d5"  # builds and saves the index
        assert collection.delete(["d5", "d6", "nope"]) == 2
        collection.add(ids=["d7"], vectors=random_unit(1, seed=99))  # replaced: its old vector is dead too
        for query, gone in ((vectors[5], "d5"), (vectors[6], "d6"), (vectors[7], "d7")):
            hits = collection.search(query, k=10)
            assert gone not in [h.id for h in hits] or gone == "d7" and hits[0].id != "d7"
            assert len(hits) == 10
        all_hits = collection.search(vectors[5], k=600)
        assert len(all_hits) == 598 and {"d5", "d6"}.isdisjoint(h.id for h in all_hits)
    # A fresh process loads the saved (stale) index file and still never returns them.
    with Collection.open(tmp_path / "c") as reopened:
        assert "d5" not in [h.id for h in reopened.search(vectors[5], k=20)]


def test_selective_filter_on_hnsw_still_returns_k_hits(tmp_path, backend):
    vectors = random_unit(3000, seed=3)
    metadata = [{"group": i % 300} for i in range(3000)]  # 10 documents per group
    # exact_filter_max=0 forces the FAISS selector path (Milvus plans filtered searches itself)
    with Collection.create(
        tmp_path / "c", index="hnsw", index_params={"exact_filter_max": 0}, backend=backend
    ) as collection:
        collection.add(ids=[str(i) for i in range(3000)], vectors=vectors, metadata=metadata)
        for group in (0, 17, 299):
            hits = collection.search(vectors[1000], k=10, filter={"group": group}, ef_search=16)
            assert len(hits) == 10 and all(int(h.id) % 300 == group for h in hits)
            expected = sorted(range(group, 3000, 300), key=lambda i: -float(vectors[i] @ vectors[1000]))
            assert [int(h.id) for h in hits] == expected
        assert len(collection.search(vectors[0], k=10, filter={"group": {"$in": [1, 2]}})) == 10
        assert len(collection.search(vectors[0], k=50, filter={"group": {"$in": [1, 2]}})) == 20


def test_auto_index_is_flat_when_small_and_hnsw_above_the_threshold(tmp_path):
    with Collection.create(tmp_path / "c") as collection:
        collection.add(ids=[str(i) for i in range(50)], vectors=random_unit(50))
        collection.search(random_unit(1)[0], k=1)
        assert collection.info()["index_kind"] == "flat" and (tmp_path / "c" / "index-flat.faiss").exists()
        collection.index_params = {"auto_hnsw_above": 40}
        collection.search(random_unit(1)[0], k=1)
        assert collection.info()["index_kind"] == "hnsw" and (tmp_path / "c" / "index-hnsw.faiss").exists()


def test_missing_or_stale_index_files_are_rebuilt_not_trusted(tmp_path):
    vectors = random_unit(200, seed=4)
    path = tmp_path / "c"
    with Collection.create(path, index="flat") as collection:
        collection.add(ids=[f"a{i}" for i in range(100)], vectors=vectors[:100])
        collection.search(vectors[0], k=1)
    shutil.copy(path / "index-flat.faiss", tmp_path / "old.faiss")  # stamped with an older generation
    with Collection.open(path) as collection:
        collection.add(ids=[f"b{i}" for i in range(100)], vectors=vectors[100:])
        collection.delete(["a0"])
        collection.refresh()
    shutil.copy(tmp_path / "old.faiss", path / "index-flat.faiss")
    with Collection.open(path) as collection:
        assert collection.search(vectors[150], k=1)[0].id == "b50"
        assert "a0" not in [h.id for h in collection.search(vectors[0], k=5)]
    (path / "index-flat.faiss").write_bytes(b"corrupt")
    with Collection.open(path) as collection:
        assert collection.search(vectors[150], k=1)[0].id == "b50"
    (path / "index-flat.faiss").unlink()
    with Collection.open(path) as collection:
        assert collection.search(vectors[150], k=1)[0].id == "b50"
        assert len(collection.search(vectors[0], k=500)) == 199


def test_exact_flag_matches_flat_on_an_hnsw_collection(tmp_path, backend):
    vectors = random_unit(500, seed=5)
    with Collection.create(tmp_path / "c", index="hnsw", backend=backend) as collection:
        collection.add(ids=[str(i) for i in range(500)], vectors=vectors)
        query = random_unit(1, seed=6)[0]
        if backend == "milvus":  # deliberate difference: Milvus searches the index it built; exact needs index="flat"
            with pytest.raises(CollectionError, match="has a HNSW index; create it with index='flat'"):
                collection.search(query, k=10, exact=True)
            return
        exact = collection.search(query, k=10, exact=True)
        assert [int(h.id) for h in exact] == list(np.argsort(-(vectors @ query))[:10])


def test_euclidean_and_dot_metrics(tmp_path, backend):
    vectors = np.array([[1.0] + [0.0] * 383, [3.0] + [0.0] * 383, [0.0, 2.0] + [0.0] * 382], dtype=np.float32)
    with Collection.create(tmp_path / "e", metric="euclidean", backend=backend) as collection:
        collection.add(ids=["one", "three", "y"], vectors=vectors)
        hits = collection.search(vectors[0] * 0.9, k=3)
        assert [h.id for h in hits] == ["one", "three", "y"]  # 0.1 < 2.1 < 2.19
        assert hits[0].score == pytest.approx(0.1, abs=1e-6)  # a distance: lower is closer
    with Collection.create(tmp_path / "d", metric="dot", backend=backend) as collection:
        collection.add(ids=["one", "three", "y"], vectors=vectors)
        assert [h.id for h in collection.search(vectors[0], k=1)] == ["three"]  # not normalised


def test_collection_remembers_its_encoder_and_refuses_another(tmp_path, encoder, backend):
    with Collection.create(tmp_path / "c", model=encoder, backend=backend) as collection:
        assert collection.settings["encoder"]["model"] == encoder.model_id
        assert collection.settings["encoder"]["pooling"] == "mean" and collection.dimension == 384
        with pytest.raises(CollectionError, match=r"query vectors have dimension 128; collection .* expects 384"):
            collection.search(np.ones(128), k=1)
    Collection.open(tmp_path / "c", model=encoder).close()  # the same model (any backend) is accepted
    other = tmp_path / "other-model"
    shutil.copytree(encoder.card.path, other)
    config = other / "1_Pooling" / "config.json"
    config.write_text(
        config.read_text()
        .replace('"pooling_mode_mean_tokens": true', '"pooling_mode_mean_tokens": false')
        .replace('"pooling_mode_cls_token": false', '"pooling_mode_cls_token": true')
    )
    with pytest.raises(CollectionError) as info:
        Collection.open(tmp_path / "c", model=str(other))
    message = str(info.value)
    assert (
        "collection has 'sentence-transformers/all-MiniLM-L6-v2'" in message
        and "pooling: collection has 'mean', model has 'cls'" in message
    )


def test_create_and_open_errors(tmp_path, backend):
    Collection.create(tmp_path / "c", backend=backend).close()
    with pytest.raises(CollectionError, match="already exists"):
        Collection.create(tmp_path / "c", backend=backend)
    with pytest.raises(CollectionError, match="no collection at"):
        Collection.open(tmp_path / "nothing")
    with pytest.raises(CollectionError, match="unknown index 'lsh'"):
        Collection.create(tmp_path / "x", index="lsh", backend=backend)
    with pytest.raises(CollectionError, match="unknown metric 'hamming'"):
        Collection.create(tmp_path / "x", metric="hamming", backend=backend)
    with pytest.raises(CollectionError, match="unknown backend 'qdrant'; valid: native, milvus"):
        Collection.create(tmp_path / "x", backend="qdrant")


def test_index_params_are_stored_used_and_checked(tmp_path):
    import faiss

    params = {"hnsw_m": 12, "hnsw_ef_construction": 40, "exact_filter_max": 5}
    with Collection.create(tmp_path / "c", index="hnsw", index_params=params) as collection:
        collection.add(ids=[str(i) for i in range(200)], vectors=random_unit(200))
        collection.search(random_unit(1)[0], k=3)
        inner = faiss.downcast_index(collection.derived.index.index.index)
        assert inner.hnsw.nb_neighbors(1) == 12 and inner.hnsw.efConstruction == 40
    with Collection.open(tmp_path / "c") as reopened:
        assert reopened.info()["index_params"] == {**params, "auto_hnsw_above": 100_000}
    with pytest.raises(CollectionError, match=r"unknown index_params \['ef'\]; valid: auto_hnsw_above"):
        Collection.create(tmp_path / "d", index_params={"ef": 1})
    with pytest.raises(CollectionError, match=r"index_params\['hnsw_m'\] must be an integer >= 2, got 1"):
        Collection.create(tmp_path / "e", index_params={"hnsw_m": 1})
