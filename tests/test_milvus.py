"""The Milvus backend beyond the shared collection tests: filter compilation, index mapping, faults, CLI and server.

The behaviour both backends share is tested once for both (tests/test_collection.py, tests/test_filters.py take the
`backend` fixture); this file covers what only the Milvus backend has.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from simvec import Collection
from simvec.cli import main
from simvec.errors import CollectionError, FilterError
from simvec.server import ServerConfig, create_app
from simvec.store.milvus_filters import compile_milvus, literal

DIM = 384
HOSTILE = ["O'Brien \"; DROP", "back\\slash", "tab\tand\nnewline", "{p0}", "日本語 ✓", ") or (1 == 1"]


def random_unit(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---- filters: compiled without the engine ---------------------------------------------------------


def test_filter_values_travel_as_parameters_never_as_expression_text():
    expression = compile_milvus({"lang": {"$in": HOSTILE}, "year": {"$gte": 2020}, "x": {"$ne": "DROP"}})
    for value in HOSTILE:
        assert value not in expression.template.replace("{p0}", "")  # {p0} itself is the first placeholder
        assert literal(value) in expression.render()  # Lite: each value once, as a literal
    assert list(expression.params.values()) == [*HOSTILE, 2020, "DROP"]
    assert 'meta["x"] is null or not (meta["x"] == {p7})' in expression.template  # $ne matches a missing field


def test_filters_for_servers_before_milvus_2_5_use_exists_and_spell_booleans_both_ways():
    """Milvus 2.3 has no `is null` and never equals true to 1 (tests/test_milvus_server.py runs these on it)."""
    expression = compile_milvus({"x": {"$ne": True}, "y": None, "z": {"$in": [0, "a"]}}, legacy=True)
    assert expression.render() == (
        '((not (exists meta["x"]) or not ((meta["x"] == 1 or meta["x"] == true))) and (not (exists meta["y"])) '
        'and ((meta["z"] == 0 or meta["z"] == false) or meta["z"] == "a"))'
    )
    assert (
        compile_milvus({"y": {"$ne": None}, "n": 2}, legacy=True).render()
        == '((exists meta["y"]) and (meta["n"] == 2))'
    )


@pytest.mark.parametrize("value", [*HOSTILE, 0, -7, 2**62, 1.5, -0.25, 1e-300, 1e300, True])
def test_lite_literals_read_back_exactly_by_milvus_lite_lexer(value):
    from milvus_lite.search.filter.tokens import tokenize

    expected = int(value) if isinstance(value, bool) else value
    written = literal(value)
    if isinstance(expected, (int, float)) and expected < 0:  # the parser reads "-" as unary minus
        assert written.startswith("-")
        written, expected = written[1:], -expected
    tokens = [t for t in tokenize(f'meta["f"] == {written}') if t.value is not None]
    assert tokens[-1].value == expected and type(tokens[-1].value) is type(expected)


def test_filters_milvus_cannot_express_are_refused_with_the_reason():
    with pytest.raises(FilterError, match=r"cannot filter on field 'a/b': Milvus JSON paths cannot address a key"):
        compile_milvus({"$or": [{"ok": 1}, {"a/b": 1}]})
    with pytest.raises(FilterError, match=r"cannot filter on field 'x\{p0\}'"):
        compile_milvus({"x{p0}": "a"})
    with pytest.raises(FilterError, match="invalid filter: unknown operator '\\$regex'"):  # the native message
        compile_milvus({"x": {"$regex": "a"}})
    assert compile_milvus({"x": {"$in": []}}).empty and compile_milvus({"x": {"$nin": []}}).template == ""
    assert compile_milvus({"$and": [{"x": {"$nin": []}}, {"y": 1}]}).template == 'meta["y"] == {p0}'


# ---- the engine (Milvus Lite) ---------------------------------------------------------------------


@pytest.mark.engine
def test_unexpressible_filter_is_refused_in_every_mode_never_dropped(tmp_path):
    with Collection.create(tmp_path / "c", backend="milvus") as collection:
        collection.add(["a b"], ids=["1"], vectors=random_unit(1), metadata=[{"a/b": 1}])
        with pytest.raises(FilterError, match="cannot filter on field 'a/b'"):
            collection.search(random_unit(1)[0], k=1, filter={"a/b": 1})
        with pytest.raises(FilterError, match="cannot filter on field 'a/b'"):
            collection.search("a", k=1, mode="keyword", filter={"a/b": 1})


@pytest.mark.engine
def test_compression_maps_to_milvus_index_types_that_really_exist(tmp_path):
    vectors = random_unit(300, seed=1)
    cases = [
        ("hnsw", "int8", None, "HNSW_SQ"),
        ("flat", "int8", None, "IVF_SQ8"),
        ("hnsw", "int8", "float32", "HNSW_SQ"),
    ]
    for i, (index, compression, rescore, expected) in enumerate(cases):
        with Collection.create(
            tmp_path / f"c{i}", backend="milvus", index=index, compression=compression, rescore=rescore
        ) as collection:
            collection.add(ids=[str(j) for j in range(300)], vectors=vectors)
            collection.refresh()  # flush + load, then the index is checked, not assumed
            info = collection.info()
            assert info["milvus_index"]["index_type"] == expected and info["milvus_index"]["indexed_rows"] == 300
            assert collection.search(vectors[7], k=1)[0].id == "7"
            if rescore:
                assert info["milvus_index"]["params"]["refine"] is True
    with pytest.raises(CollectionError, match="IVF_PQ, which Milvus Lite does not build"):
        Collection.create(tmp_path / "pq", backend="milvus", compression="pq48", rescore="none")
    with pytest.raises(CollectionError, match="compression .* has no Milvus index type.*binary codes need a binary"):
        Collection.create(tmp_path / "bin", backend="milvus", compression="binary")
    assert not (tmp_path / "pq" / "collection.db").exists()
    with (
        Collection.open(tmp_path / "c0") as collection,
        pytest.raises(CollectionError, match="not available on the milvus backend"),
    ):
        collection.set_compression("int8")


@pytest.mark.engine
def test_a_selective_filter_on_an_approximate_index_is_scored_exactly(tmp_path):
    """Lite's HNSW loses most matches of a 0.1% filter; few matches are gathered and scored exactly instead."""
    n = 2000
    vectors = random_unit(n, seed=3)
    queries = random_unit(20, seed=4)
    with Collection.create(
        tmp_path / "c", backend="milvus", index="hnsw", index_params={"exact_filter_max": 100}
    ) as collection:
        collection.add(ids=[str(i) for i in range(n)], vectors=vectors, metadata=[{"rare": i % 500} for i in range(n)])
        collection.refresh()
        allowed = np.flatnonzero(np.arange(n) % 500 == 7)
        for query in queries:
            hits, plan = collection.search(query, k=3, filter={"rare": 7}, explain=True)
            expected = allowed[np.argsort(-(vectors[allowed] @ query))[:3]]
            assert [h.id for h in hits] == [str(i) for i in expected]
            dense = plan["dense"]
            assert dense["strategy"] == "subset" and dense["matching"] == len(allowed) and dense["recall"] == "exact"
        hits, plan = collection.search(queries[0], k=3, filter={"rare": {"$lt": 400}}, explain=True)
        assert (
            plan["dense"]["strategy"] == "milvus" and len(hits) == 3
        )  # more than exact_filter_max match: the index answers


@pytest.mark.engine
def test_a_missing_index_is_reported_not_searched_by_brute_force(tmp_path):
    with Collection.create(tmp_path / "c", backend="milvus", index="hnsw") as collection:
        collection.add(ids=["a", "b"], vectors=random_unit(2))
        collection.refresh()
        client, name = collection.store.client, collection.store.name
        client.release_collection(name)
        client.drop_index(name, "vector")
        with pytest.raises(CollectionError, match="has no HNSW index on collection"):
            collection.refresh()


@pytest.mark.engine
def test_unreachable_uri_and_foreign_collection_are_named(tmp_path):
    with pytest.raises(CollectionError, match=r"cannot reach Milvus at 'http://127\.0\.0\.1:9'"):
        Collection.create(tmp_path / "c", backend="milvus", uri="http://127.0.0.1:9")
    assert not (tmp_path / "c" / "collection.db").exists()
    with Collection.create(tmp_path / "c", backend="milvus") as collection:
        client, name = collection.store.client, collection.store.name
        other = {**collection.settings["encoder"], "model": "someone/else"}
        client.alter_collection_properties(name, properties={"simvec.encoder": json.dumps(other)})
    with pytest.raises(CollectionError) as info:
        Collection.open(tmp_path / "c")
    assert "was created by model 'someone/else'" in str(info.value)
    assert "collection.db says 'sentence-transformers/all-MiniLM-L6-v2'" in str(info.value)
    with pytest.raises(CollectionError, match="uri is for backend='milvus'"):
        Collection.create(tmp_path / "n", uri="./x.db")


@pytest.mark.engine
def test_cli_creates_a_milvus_collection_and_the_server_serves_it_unchanged(tmp_path, capsys, encoder):
    root = tmp_path / "collections"
    source = tmp_path / "docs.jsonl"
    docs = [
        {"id": "cat", "text": "The cat sat on the mat.", "lang": "en"},
        {"id": "chat", "text": "Le chat dort sur le canapé.", "lang": "fr"},
        {"id": "code", "text": "Python is a programming language.", "lang": "en"},
    ]
    source.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")

    def run(*argv):
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in argv])
        out, err = capsys.readouterr()
        assert exit_info.value.code == 0, err
        return out, err

    _, err = run("collection", "create", root / "docs", "--backend", "milvus", "--uri", tmp_path / "m.db")
    assert f"in Milvus at {tmp_path / 'm.db'}" in err
    run("collection", "add", root / "docs", source, "--id-field", "id", "--metadata-fields", "lang")
    out, _ = run("collection", "search", root / "docs", "a kitten", "-k", "1", "--filter", '{"lang": "en"}', "--json")
    assert json.loads(out)[0]["id"] == "cat"
    out, _ = run("collection", "info", root / "docs", "--json")
    assert json.loads(out)["backend"]["uri"] == str(tmp_path / "m.db") and json.loads(out)["count"] == 3

    auth = {"Authorization": "Bearer k"}
    with TestClient(create_app(ServerConfig(collections_dir=root, api_keys=("k",)), encoder=encoder)) as client:
        assert [c["name"] for c in client.get("/v1/collections", headers=auth).json()["collections"]] == ["docs"]
        body = {"query": "a sleeping cat", "k": 2, "filter": {"lang": {"$in": ["fr"]}}}
        hits = client.post("/v1/collections/docs/search", json=body, headers=auth).json()["hits"]
        assert [h["id"] for h in hits] == ["chat"]
        added = client.post(
            "/v1/collections/docs/documents",
            json={"documents": [{"id": "cat", "text": docs[0]["text"], "metadata": {"lang": "la"}}]},
            headers=auth,
        ).json()
        assert (added["added"], added["updated"], added["unchanged"]) == (0, 1, 0)  # metadata only: no re-embedding
        got = client.get("/v1/collections/docs/documents/cat", headers=auth).json()
        assert got["metadata"] == {"lang": "la"}
        hits = client.post(
            "/v1/collections/docs/search", json={"query": "cat", "k": 3, "mode": "keyword"}, headers=auth
        ).json()["hits"]
        assert [h["id"] for h in hits] == ["cat"]


@pytest.mark.engine
def test_scifact_dense_ndcg_on_milvus_equals_native(data_dir, exact_encoder):
    """Issue 14: exact (FLAT) dense search on Milvus gives SciFact's native nDCG@10 within 0.002.

    Both runs use the corpus vectors cached by the native evaluation (the Milvus copy is filled from them and
    cached beside them), so nothing is embedded twice.
    """
    from simvec.eval.retrieval import evaluate_retrieval

    (native,) = evaluate_retrieval(data_dir / "scifact", modes=("dense",), model=exact_encoder)
    (milvus,) = evaluate_retrieval(data_dir / "scifact", modes=("dense",), model=exact_encoder, backend="milvus")
    assert (milvus.queries, milvus.documents) == (300, 5183)
    assert milvus.extra["backend"]["index_type"] == "FLAT"
    for metric in ("ndcg@10", "mrr@10", "recall@100"):
        assert milvus.metrics[metric] == pytest.approx(native.metrics[metric], abs=0.002), metric
