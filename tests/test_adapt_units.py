"""Domain adaptation without the model: qrels readers, protocols, adapter math, storage refusals and atomicity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simvec.errors import CollectionError, InputError, InputFileError
from simvec.eval.adapt import protocol_split, read_judgements, split_queries
from simvec.store import Collection
from simvec.store import adapter as adapters
from simvec.tasks.adapt import MIN_PAIRS, AdapterConfig, QueryAdapter, train_query_adapter


def test_qrels_with_unknown_queries_and_documents_are_skipped_with_file_and_line(tmp_path):
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td1\t1\nq2\td7\t1\nq2\td2\t2\n")
    found = read_judgements(qrels, queries={"q1", "q2"}, documents={"d1", "d2"})
    assert found.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}
    assert found.skipped == [f"{qrels}:3: unknown query 'q9'", f"{qrels}:4: unknown document 'd7'"]
    with pytest.raises(InputFileError, match=r"qrels.tsv:3: unknown query 'q9'"):
        read_judgements(qrels, queries={"q1", "q2"}, documents={"d1", "d2"}, strict=True)


def test_qrels_bad_lines_name_file_and_line(tmp_path):
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("q1 0 d1 1\nq1 d2 high\n")
    with pytest.raises(InputFileError, match=r"qrels.tsv:2: score 'high' is not an integer"):
        read_judgements(qrels)
    trec = tmp_path / "trec.txt"
    trec.write_text("q1 0 d1 1\nq1 0 d2 0\n")
    assert read_judgements(trec).qrels == {"q1": {"d1": 1, "d2": 0}}


def _beir(tmp_path, with_train: bool):
    (tmp_path / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": "", "text": f"document {i}"} for i in range(20)]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": f"q{i}", "text": f"query {i}"} for i in range(20)]
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (tmp_path / "qrels" / "test.tsv").write_text("".join(f"q{i}\td{i}\t1\n" for i in range(10)))
    if with_train:
        (tmp_path / "qrels" / "train.tsv").write_text("".join(f"q{i}\td{i}\t1\n" for i in range(9, 20)))
    return tmp_path


def test_protocols_train_split_and_seeded_half(tmp_path):
    data, train, name, description = protocol_split(_beir(tmp_path / "a", True), "train", 0)
    assert name == "train-split" and set(data.qrels) == {f"q{i}" for i in range(10)}
    assert set(train) == {f"q{i}" for i in range(10, 20)}  # q9 is judged in both: dropped from training
    assert "1 queries judged in both were dropped" in description
    data, train, name, description = protocol_split(_beir(tmp_path / "b", False), "train", 0)
    assert name == "half" and "no qrels/train.tsv" in description
    assert len(train) == 5 and len(data.qrels) == 5 and not set(train) & set(data.qrels)
    again = protocol_split(_beir(tmp_path / "c", True), "half", 0)
    assert again[2] == "half" and set(again[1]) == set(train)  # same seed, same split; train split ignored
    assert split_queries([f"q{i}" for i in range(10)], 0.5, 1) != split_queries([f"q{i}" for i in range(10)], 0.5, 2)


def _synthetic(n_q: int = 160, n_d: int = 400, d: int = 32, seed: int = 0):
    """Queries = their relevant document plus a strong shared direction that misleads the base ranking."""
    rng = np.random.default_rng(seed)
    docs = rng.normal(size=(n_d, d)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    shift = np.zeros(d, np.float32)
    shift[0] = 1.0
    targets = rng.integers(0, n_d, n_q)
    queries = 0.5 * docs[targets] + 2.0 * shift + 0.1 * rng.normal(size=(n_q, d)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return queries, docs, [(i, int(t)) for i, t in enumerate(targets)]


@pytest.mark.parametrize("kind", ["lowrank", "linear", "mlp"])
def test_adapter_learns_a_query_side_map_and_stops_early(kind):
    queries, docs, pairs = _synthetic()
    fit = train_query_adapter(queries, docs, pairs, config=AdapterConfig(kind=kind, rank=32, max_epochs=40))
    assert fit.best_holdout_ndcg > fit.base_holdout_ndcg + 0.2, fit.history
    assert fit.history[0] == pytest.approx(fit.base_holdout_ndcg, abs=1e-5)  # epoch 0 is the identity
    adapted = fit.adapter.apply(queries)
    assert adapted.shape == queries.shape and np.allclose(np.linalg.norm(adapted, axis=1), 1, atol=1e-5)


def test_too_few_pairs_is_a_clear_error():
    queries, docs, pairs = _synthetic()
    with pytest.raises(InputError, match=f"too few training pairs: 10; a query adapter needs at least {MIN_PAIRS}"):
        train_query_adapter(queries, docs, pairs[:10])
    with pytest.raises(InputError, match="out of range"):
        train_query_adapter(queries, docs, [*pairs, (0, 10_000)])


def _vector_collection(path, compression=None):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(300, 384)).astype(np.float32)
    collection = Collection.create(path, compression=compression)
    collection.add(vectors=vectors, ids=[f"d{i}" for i in range(300)])
    return collection, vectors


def _identity_adapter(collection, trained_for=None):
    weights = {"A": np.zeros((384, 4), np.float32), "B": np.zeros((4, 384), np.float32)}
    weights["B"][0, 0] = 5.0
    weights["A"][1, 0] = 1.0
    return QueryAdapter("lowrank", 384, weights, {"trained_for": trained_for or adapters.identity(collection)})


def test_stored_adapter_is_used_by_search_and_refused_after_a_compression_change(tmp_path):
    collection, vectors = _vector_collection(tmp_path / "c")
    with collection:
        query = vectors[:3]
        base = collection.search_batch(query, 5, adapter=None)
        collection.set_adapter(_identity_adapter(collection))
        assert collection.info()["count"] == 300 and collection.adapter is not None
        stored = collection.search_batch(query, 5)
        explicit = collection.search_batch(query, 5, adapter=collection.adapter)
        assert [[h.id for h in hits] for hits in stored] == [[h.id for h in hits] for hits in explicit]
        assert [[h.id for h in hits] for hits in stored] != [[h.id for h in hits] for hits in base]
        assert collection.settings["adapter"]["version"] == 1
        collection.set_compression("int8")
        with pytest.raises(CollectionError, match="compression: adapter has 'none', collection has 'int8'"):
            collection.search_batch(query, 5)
        assert collection.search_batch(query, 5, adapter=None)  # switching it off still works
        collection.set_adapter(None)
        assert collection.adapter is None and not list((tmp_path / "c").glob("adapter-v*.npz"))


def test_adapter_for_another_model_is_refused_naming_it(tmp_path):
    collection, _ = _vector_collection(tmp_path / "c")
    with collection:
        other = {**adapters.identity(collection), "model": {**collection.settings["encoder"], "model": "other/model"}}
        with pytest.raises(CollectionError, match="model: adapter has 'other/model', collection has 'sentence-"):
            collection.set_adapter(_identity_adapter(collection, other))
        with pytest.raises(CollectionError, match="does not fit"):
            collection.search_batch(np.ones((1, 384), np.float32), 3, adapter=_identity_adapter(collection, other))
        assert collection.adapter is None


def test_interrupted_adapter_write_leaves_the_previous_adapter(tmp_path, monkeypatch):
    collection, vectors = _vector_collection(tmp_path / "c")
    with collection:
        collection.set_adapter(_identity_adapter(collection))
        before = collection.search_batch(vectors[:2], 5)
        real = adapters.atomic_write

        def dies_midway(path, write):
            def partial(handle):
                handle.write(b"PK\x03\x04 half an archive")
                raise KeyboardInterrupt

            real(path, partial)

        monkeypatch.setattr(adapters, "atomic_write", dies_midway)
        with pytest.raises(KeyboardInterrupt):
            collection.set_adapter(_identity_adapter(collection))
    with Collection.open(tmp_path / "c") as reopened:
        assert reopened.settings["adapter"]["version"] == 1
        assert sorted(p.name for p in (tmp_path / "c").iterdir() if "adapter" in p.name) == ["adapter-v1.npz"]
        after = reopened.search_batch(vectors[:2], 5)
        assert [[h.id for h in hits] for hits in after] == [[h.id for h in hits] for hits in before]


def test_damaged_adapter_file_is_named(tmp_path):
    collection, vectors = _vector_collection(tmp_path / "c")
    with collection:
        collection.set_adapter(_identity_adapter(collection))
        (tmp_path / "c" / "adapter-v1.npz").write_bytes(b"garbage")
        adapters._read.cache_clear()
        with pytest.raises(CollectionError, match="adapter-v1.npz is damaged"):
            collection.search_batch(vectors[:1], 3)


def test_finetuned_model_trained_on_test_queries_is_refused(tmp_path):
    from simvec.eval.adapt import evaluate_adaptation

    data = _beir(tmp_path / "data", True)
    model = tmp_path / "model"
    model.mkdir()
    (model / "simvec_finetune.json").write_text(json.dumps({"train_query_ids": ["q3", "q11"], "pairs": 2}))
    with pytest.raises(InputError, match="fine-tuned on 1 of the test queries"):
        evaluate_adaptation(data, method="finetuned", finetuned=model)
