"""BEIR retrieval evaluation: pytrec_eval numbers checked by hand, and a small SciFact subset end to end."""

from __future__ import annotations

import json
import math

import pytest

from simvec import Collection
from simvec.errors import InputFileError
from simvec.eval.readers import read_beir
from simvec.eval.retrieval import collection_for, evaluate_retrieval, score_run

pytestmark = pytest.mark.model


def test_metrics_match_an_independent_computation_on_a_tiny_run():
    qrels = {"q1": {"d1": 1, "d3": 2}, "q2": {"d9": 1}, "q3": {"d5": 1}}
    run = {
        "q1": {"d2": 0.9, "d3": 0.8, "d4": 0.7, "d1": 0.6},  # relevant at ranks 2 (grade 2) and 4 (grade 1)
        "q2": {f"x{i}": 1 - i / 100 for i in range(10)} | {"d9": 0.5},  # relevant at rank 11
        # q3 has no hits at all: it still counts, as 0
    }
    dcg = 2 / math.log2(3) + 1 / math.log2(5)  # trec_eval's gain is the grade itself
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    expected = {
        "ndcg@10": (dcg / idcg + 0 + 0) / 3,
        "mrr@10": (1 / 2 + 0 + 0) / 3,  # q2's hit is at rank 11, outside the cut
        "recall@100": (1 + 1 + 0) / 3,
        "map@100": ((1 / 2 + 2 / 4) / 2 + 1 / 11 + 0) / 3,
    }
    got = score_run(qrels, run)
    assert list(got) == ["ndcg@10", "mrr@10", "recall@100", "map@100"]
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_read_beir_builds_title_plus_text_and_keeps_judged_queries(data_dir):
    data = read_beir(data_dir / "scifact")
    assert len(data.corpus) == 5183 and len(data.queries) == 300 and set(data.qrels) == set(data.queries)
    first = json.loads((data_dir / "scifact" / "corpus.jsonl").open(encoding="utf-8").readline())
    assert data.corpus[first["_id"]] == (first["title"] + " " + first["text"]).strip()


def test_read_beir_errors_name_the_file(tmp_path):
    with pytest.raises(InputFileError, match=r"qrels/test.tsv: no such file"):
        read_beir(tmp_path)
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\tyes\n")
    with pytest.raises(InputFileError, match=r"test.tsv:2: score 'yes' is not an integer"):
        read_beir(tmp_path)


@pytest.fixture(scope="module")
def scifact_subset(beir_subset, data_dir):
    """12 SciFact test queries, their relevant documents, and 150 other documents, in the BEIR layout."""
    return beir_subset(data_dir / "scifact", queries=12, others=150)


def test_scifact_subset_end_to_end_with_cached_embeddings(scifact_subset, encoder, tmp_path):
    results = evaluate_retrieval(
        scifact_subset, modes=("dense", "keyword", "hybrid"), model=encoder, cache_dir=tmp_path
    )
    by_mode = {r.mode: r for r in results}
    assert set(by_mode) == {"dense", "keyword", "hybrid"} and by_mode["dense"].queries == 12
    for result in results:
        metrics = result.metrics
        assert 0.5 < metrics["ndcg@10"] <= 1 and metrics["recall@100"] >= 0.9, (result.mode, metrics)
        assert metrics["mrr@10"] >= metrics["ndcg@10"] - 0.2
    assert by_mode["dense"].hnsw_recall_at_10 >= 0.99

    path = collection_for(read_beir(scifact_subset), tmp_path, encoder)
    with Collection.open(path) as cached:
        generation = cached.info()["generation"]
    again = evaluate_retrieval(scifact_subset, modes=("dense",), model=encoder, cache_dir=tmp_path)
    assert again[0].metrics == by_mode["dense"].metrics
    with Collection.open(path) as cached:
        assert cached.info()["generation"] == generation  # the corpus was not written (or embedded) again


def test_full_scifact_dense_reproduces_published_ndcg(data_dir, exact_encoder):
    """MTEB's published SciFact nDCG@10 for all-MiniLM-L6-v2 is 0.6451 (exact search, title + " " + text),
    reproduced in fp32. Each int8 backend's bar against fp32 (same run, a 300-query subset) is in test_backends.py.
    """
    from simvec.eval.retrieval import evaluate_retrieval

    (result,) = evaluate_retrieval(data_dir / "scifact", modes=("dense",), model=exact_encoder)
    assert (result.queries, result.documents) == (300, 5183)
    assert result.metrics["ndcg@10"] == pytest.approx(0.6451, abs=0.002)
    assert result.hnsw_recall_at_10 >= 0.99
