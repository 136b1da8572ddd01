"""Domain adaptation with the real model on a small slice of SciFact: adapter gains on held-apart queries without
re-embedding, fine-tuning into a loadable model directory, atomic interruption, and re-embedding with resumption."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simvec import Encoder
from simvec.eval.adapt import held_apart_metrics
from simvec.eval.retrieval import read_beir
from simvec.store import Collection
from simvec.store.adapter import reembed
from simvec.tasks.finetune import METADATA_FILE, finetune

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def scifact_slice(data_dir):
    """~350 SciFact documents: the positives of 150 train and 80 test queries, plus 100 unjudged ones."""
    train = read_beir(data_dir / "scifact", "train")
    test = read_beir(data_dir / "scifact", "test")
    train_ids, test_ids = sorted(train.qrels)[:150], sorted(test.qrels)[:80]
    docs = {d for q in train_ids for d in train.qrels[q]} | {d for q in test_ids for d in test.qrels[q]}
    docs |= set([d for d in train.corpus if d not in docs][:100])
    corpus = {d: train.corpus[d] for d in sorted(docs)}
    queries = {**{q: train.queries[q] for q in train_ids}, **{q: test.queries[q] for q in test_ids}}
    return corpus, queries, {q: train.qrels[q] for q in train_ids}, {q: test.qrels[q] for q in test_ids}


@pytest.fixture(scope="module")
def collection(scifact_slice, tmp_path_factory):
    corpus, *_ = scifact_slice
    path = tmp_path_factory.mktemp("adapt") / "scifact"
    with Collection.create(path, model=Encoder(cache=True), index="flat") as created:
        created.add(list(corpus.values()), ids=list(corpus))
    return path


def test_adapter_improves_held_apart_queries_without_reembedding(collection, scifact_slice, monkeypatch):
    corpus, queries, train_qrels, test_qrels = scifact_slice
    with Collection.open(collection) as c:
        ids_before, vectors_before = c.matrix()
        calls = []
        real = c.encoder.encode_documents
        monkeypatch.setattr(c.encoder, "encode_documents", lambda *a, **k: calls.append(a) or real(*a, **k))
        base = held_apart_metrics(c, queries, test_qrels, None)
        trained = c.train_adapter(queries, train_qrels)
        adapted = held_apart_metrics(c, queries, test_qrels, "stored")
        assert trained.version == 1 and trained.fit.train_pairs >= 100 and not trained.skipped
        assert adapted["ndcg@10"] > base["ndcg@10"] + 0.01, (base, adapted, trained.as_dict())
        assert calls == []  # no document was embedded
        ids_after, vectors_after = c.matrix()
        assert ids_after == ids_before and np.array_equal(vectors_after, vectors_before)
        text = queries[next(iter(test_qrels))]
        assert c.search(text, k=5) == c.search(text, k=5, adapter=c.adapter)
        assert c.search(text, k=20, adapter=None) != c.search(text, k=20)
    with Collection.open(collection) as reopened:  # stored with the collection
        assert reopened.adapter is not None and reopened.settings["adapter"]["version"] == 1
        assert reopened.settings["adapter"]["trained_for"]["compression"] == "none"


def test_adapter_cli_prints_before_and_after_on_held_apart_queries(collection, scifact_slice, tmp_path, capsys):
    from simvec.cli import main

    corpus, queries, train_qrels, _ = scifact_slice
    queries_file = tmp_path / "queries.jsonl"
    queries_file.write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    qrels_file = tmp_path / "qrels.tsv"
    lines = [f"{q}\t{d}\t{g}" for q, judged in train_qrels.items() for d, g in judged.items()]
    qrels_file.write_text("query-id\tcorpus-id\tscore\n" + "\n".join(lines) + "\nnope\t123\t1\n")
    with pytest.raises(SystemExit) as exited:
        main(["adapt", "adapter", str(collection), "--queries", str(queries_file), "--qrels", str(qrels_file),
              "--holdout", "0.3", "--no-keep", "--json"])  # fmt: skip
    assert exited.value.code == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["held_apart_queries"] == 45 and report["stored_version"] is None
    assert set(report["before"]) == set(report["after"]) == {"ndcg@10", "mrr@10", "recall@100", "map@100"}
    assert f"{qrels_file}:{len(lines) + 2}: unknown query 'nope'" in captured.err


def _pairs(scifact_slice, n):
    corpus, queries, train_qrels, _ = scifact_slice
    return [(queries[q], corpus[d]) for q, judged in train_qrels.items() for d in judged][:n]


def test_finetune_writes_a_model_directory_the_encoder_loads(scifact_slice, tmp_path, encoder):
    out = tmp_path / "tuned"
    result = finetune(_pairs(scifact_slice, 32), out, batch_size=16, max_steps=2, max_seq_length=32,
                      matryoshka_dims=[384, 128], train_query_ids=["q"])  # fmt: skip
    assert result.steps == 2 and result.pairs == 32 and result.matryoshka_dims == [384, 128]
    assert json.loads((out / METADATA_FILE).read_text())["train_query_ids"] == ["q"]
    assert not list(tmp_path.glob(".tuned*"))
    tuned = Encoder(model=out, backend="torch")
    assert tuned.max_seq_length == encoder.max_seq_length  # training truncation is not saved
    texts = ["aspirin and the heart", "vitamin D in bone density"]
    a, b = tuned.encode(texts), encoder.encode(texts)
    assert a.shape == (2, 384) and 0.9 < float((a * b).sum(1).min()) < 0.99999  # moved, not destroyed


def test_interrupted_finetune_leaves_no_model_directory(scifact_slice, tmp_path):
    class Stop(Exception):
        pass

    def stop(logs):
        raise Stop

    with pytest.raises(Stop):
        finetune(_pairs(scifact_slice, 40), tmp_path / "tuned", batch_size=8, max_steps=6, max_seq_length=16,
                 on_log=stop)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_too_few_pairs_to_finetune(scifact_slice, tmp_path):
    with pytest.raises(ValueError, match="too few training pairs: 5; at least 32"):
        finetune(_pairs(scifact_slice, 5), tmp_path / "tuned")


def test_reembed_swaps_in_the_new_model_and_resumes(scifact_slice, tmp_path, encoder):
    corpus, *_ = scifact_slice
    tuned_dir = tmp_path / "tuned"
    finetune(_pairs(scifact_slice, 32), tuned_dir, batch_size=16, max_steps=1, max_seq_length=32)
    tuned = Encoder(model=tuned_dir, backend="torch")
    path = tmp_path / "small"
    ids = list(corpus)[:25]
    with Collection.create(path, model=encoder) as small:
        small.add([corpus[d] for d in ids], ids=ids, metadata=[{"n": i} for i in range(25)])

    class Killed(Exception):
        pass

    def die(done, total):
        raise Killed

    with pytest.raises(Killed):
        reembed(path, tuned, batch_size=10, on_progress=die)
    with Collection.open(path) as untouched:
        assert untouched.model_id == encoder.model_id and untouched.count() == 25
    with Collection.open(tmp_path / ".small.reembed") as partial:
        assert partial.count() == 10
    result = reembed(path, tuned, batch_size=10)
    assert result["documents"] == 25 and not (tmp_path / ".small.reembed").exists()
    with Collection.open(path, model=tuned) as moved:
        assert moved.model_id == tuned.model_id and moved.get(ids[3]).metadata == {"n": 3}
        stored = np.stack([d.vector for d in moved.get(ids, include_vectors=True)])
        assert np.allclose(stored, tuned.encode_documents([corpus[d] for d in ids]), atol=1e-5)
