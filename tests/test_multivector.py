"""Token vectors, multi-vector and chunked collections (FDE -> MaxSim), with the real model; bad input; the server."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from simvec import Collection
from simvec.demo import sample_corpus
from simvec.encoders.chunking import Chunker
from simvec.encoders.models import default_model_path
from simvec.errors import CollectionError, InputError, LimitExceeded
from simvec.eval.readers import read_beir
from simvec.vectors.fde import FDEConfig, document_fde, query_fde
from simvec.vectors.late_interaction import maxsim

LONG = (
    "Bananas are rich in potassium and grow in warm climates. " * 6
    + "A total solar eclipse happens when the Moon covers the Sun completely. "
    + "Bread dough rises because yeast ferments sugar into carbon dioxide. " * 6
)


@pytest.fixture(scope="module")
def docs():
    return sample_corpus()


@pytest.fixture(scope="module")
def tokens_collection(encoder, docs, tmp_path_factory):
    path = tmp_path_factory.mktemp("mv") / "tokens"
    with Collection.create(path, model=encoder, multivector={"kind": "tokens", "candidates": 20}) as c:
        c.add([d["text"] for d in docs], ids=[d["id"] for d in docs], metadata=[{"topic": d["topic"]} for d in docs])
    return path


def test_encode_tokens_are_the_masked_normalised_last_hidden_state(encoder):
    texts = ["A man is playing a guitar.", "Short", "The stock market fell sharply today after the report."]
    tokens = encoder.encode_tokens(texts)
    counts = encoder.count_tokens(texts)
    assert [t.shape for t in tokens] == [(n - 2, 384) for n in counts]  # [CLS] and [SEP] dropped
    np.testing.assert_allclose(np.linalg.norm(tokens[2], axis=1), 1.0, rtol=1e-5)
    raw = encoder.encode_tokens(texts, special_tokens=True, normalize=False)
    assert [len(r) for r in raw] == counts
    pooled = np.stack([r.mean(axis=0) for r in raw])  # mean pooling of the same states is the sentence vector
    np.testing.assert_allclose(pooled / np.linalg.norm(pooled, axis=1, keepdims=True), encoder.encode(texts), atol=1e-5)
    vectors, sets = encoder.encode_documents_with_tokens(texts)  # one pass of the model for both
    np.testing.assert_allclose(vectors, encoder.encode_documents(texts), atol=1e-5)
    for one, other in zip(sets, tokens, strict=True):
        np.testing.assert_allclose(one, other, atol=1e-5)
    alone = encoder.encode_tokens(texts[1])[0]
    np.testing.assert_allclose(alone, tokens[1], atol=1e-4)  # padding in a batch does not change a text's vectors
    assert len(encoder.encode_tokens("x", prompt="query: ")[0]) == len(encoder.encode_tokens("query: x")[0])
    assert encoder.last_stats.texts == 1
    with pytest.raises(InputError, match=r"texts\[1\] has no tokens"):
        encoder.encode_tokens(["fine", ""])


def test_fde_inner_product_tracks_chamfer_on_real_token_vectors(encoder, data_dir):
    data = read_beir(data_dir / "scifact")
    query_ids = list(data.queries)[:10]
    relevant = [d for q in query_ids for d in data.qrels[q]]
    doc_ids = list(dict.fromkeys(relevant + list(data.corpus)[:50]))
    with pytest.warns(UserWarning, match="were truncated"):
        docs = encoder.encode_document_tokens([data.corpus[i] for i in doc_ids])
    queries = encoder.encode_query_tokens([data.queries[q] for q in query_ids])
    config = FDEConfig(dimension=384)
    estimate = query_fde(queries, config) @ document_fde(docs, config).T
    exact = np.stack([maxsim(q, docs) for q in queries])
    correlation = np.mean([np.corrcoef(e, x)[0, 1] for e, x in zip(estimate, exact, strict=True)])
    assert correlation > 0.7, correlation  # 0.81 on this subset; the full corpus is in BENCHMARKS.md


def test_token_collection_search_filters_deletes_upserts_and_rebuilds(encoder, tokens_collection, docs):
    query = "what lowers a fever?"
    with Collection.open(tokens_collection, model=encoder) as c:
        exact = c.search(query, k=5, exact=True)
        approximate = c.search(query, k=5)
        assert len({h.id for h in exact} & {h.id for h in approximate}) >= 4
        assert [h.id for h in c.search(query, k=5, candidates=100)] == [h.id for h in exact]
        tokens = encoder.encode_query_tokens(query)[0]
        stored = encoder.encode_document_tokens(exact[0].text)[0]
        assert exact[0].score == pytest.approx(float((tokens @ stored.T).max(axis=1).sum()), rel=2e-3)  # float16 rows
        assert [h.id for h in c.search(tokens, k=5, exact=True)] == [h.id for h in exact]  # a vector set as the query
        row_vector = c.get(exact[0].id, include_vectors=True).vector  # the row keeps the ordinary single vector
        np.testing.assert_allclose(row_vector, encoder.encode_documents(exact[0].text), atol=1e-5)
        space = c.search(query, k=50, filter={"topic": "space"})
        assert len(space) == 10 and {h.metadata["topic"] for h in space} == {"space"}
        c.delete([exact[0].id])
        after_delete = [h.id for h in c.search(query, k=100, exact=True)]
        assert exact[0].id not in after_delete
        with Collection.open(tokens_collection, model=encoder) as second:  # loads the files the delete left
            assert [h.id for h in second.search(query, k=100, exact=True)] == after_delete
        c.add(["Paracetamol lowers a fever within an hour."], ids=[exact[1].id], metadata=[{"topic": "health"}])
        top = c.search(query, k=1)[0]
        assert top.id == exact[1].id and top.text.startswith("Paracetamol")
        info = c.info()["multivector"]
        assert info["kind"] == "tokens" and info["fde_dimension"] == 10240 and 5 < info["vectors_per_document"] < 30
        before = [(h.id, round(h.score, 4)) for h in c.search(query, k=5)]
    for derived in tokens_collection.glob("multivector-*"):
        derived.unlink()  # the derived files are rebuilt from SQLite
    with Collection.open(tokens_collection, model=encoder) as c:
        assert [(h.id, round(h.score, 4)) for h in c.search(query, k=5)] == before
        assert len(c) == len(docs) - 1


def test_chunked_collection_returns_a_document_once_with_its_best_chunk(encoder, tmp_path):
    with Collection.create(tmp_path / "chunks", model=encoder, chunking={"max_tokens": 32, "overlap": 8}) as c:
        c.add([LONG, "The Moon orbits the Earth.", "Potassium is an element."], ids=["long", "moon", "k"])
        hits = c.search("what causes a solar eclipse?", k=3)
        assert [h.id for h in hits].count("long") == 1
        long_hit = next(h for h in hits if h.id == "long")
        start, end = long_hit.highlight
        assert "eclipse" in LONG[start:end] and end - start < len(LONG) / 3
        assert c.info()["multivector"]["vectors_per_document"] > 2
        start, end = Chunker(encoder.card, {"max_tokens": 32, "overlap": 8}).spans([LONG])[0][0]
        single = c.get("long", include_vectors=True).vector  # the document's single vector: its first chunk's
        np.testing.assert_allclose(single, encoder.encode(LONG[start:end]), atol=1e-5)
        c.delete("long")
        assert "long" not in {h.id for h in c.search("what causes a solar eclipse?", k=3)}


def test_bad_input(encoder, tokens_collection, tmp_path):
    with Collection.open(tokens_collection, model=encoder) as c:
        with pytest.raises(CollectionError, match="document 'empty' has no tokens"):
            c.add([""], ids=["empty"])
        with pytest.raises(CollectionError, match="add texts, not vectors"):
            c.add(vectors=np.ones((1, 384), dtype=np.float32) / np.sqrt(384), ids=["v"])
        with pytest.raises(
            InputError,
            match=r"query 0 for collection .* must be a vector set of shape \(n, 384\), got shape \(3, 128\)",
        ):
            c.search(np.ones((3, 128), dtype=np.float32))
    with pytest.raises(InputError, match=r"chunking overlap \(62\) must be smaller"):
        Collection.create(tmp_path / "b", model=encoder, chunking={"max_tokens": 64, "overlap": 62})
    with pytest.raises(LimitExceeded, match=r"MiB per vector"):
        Collection.create(
            tmp_path / "c", model=encoder, multivector={"kind": "tokens", "fde": {"num_simhash_projections": 24}}
        )
    with pytest.raises(CollectionError, match="metric must be cosine"):
        Collection.create(tmp_path / "d", model=encoder, multivector="tokens", metric="dot")
    other = tmp_path / "other-model"  # the bundled model, read at 128 tokens: another encoder identity
    shutil.copytree(default_model_path(), other)
    config = json.loads((other / "sentence_bert_config.json").read_text())
    (other / "sentence_bert_config.json").write_text(json.dumps({**config, "max_seq_length": 128}))
    with pytest.raises(CollectionError, match="does not match collection"):
        Collection.open(tokens_collection, model=other)


def test_server_searches_a_multivector_collection_with_text(encoder, tokens_collection, tmp_path):
    from simvec.server.app import create_app
    from simvec.server.config import ServerConfig

    shutil.copytree(tokens_collection, tmp_path / "notes")
    with Collection.open(tmp_path / "notes", model=encoder) as c:
        expected = [(h.id, h.score) for h in c.search("telescopes and galaxies", k=3)]
    with TestClient(create_app(ServerConfig(collections_dir=tmp_path), encoder=encoder)) as client:
        response = client.post("/v1/collections/notes/search", json={"query": "telescopes and galaxies", "k": 3})
    assert response.status_code == 200, response.text
    assert [(h["id"], pytest.approx(h["score"], rel=1e-5)) for h in response.json()["hits"]] == expected
