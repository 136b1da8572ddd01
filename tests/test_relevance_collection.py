"""Calibrated relevance on a collection, from the library, the CLI and the server, with the real model.

Data: simvec's 100-document sample corpus (ten topics); the labelled calibration's judgements say a document is
relevant to a query about its topic.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from simvec import Collection
from simvec.cli import main
from simvec.demo import sample_corpus
from simvec.errors import CollectionError, InputError, InputFileError
from simvec.server import ServerConfig, create_app
from simvec.store.calibration import read_file, write_file

pytestmark = pytest.mark.model

TOPIC_QUERIES = {
    "cooking": ["how do I bake bread at home?", "tips for cooking eggs"],
    "space": ["telescopes that look at distant galaxies", "how do rockets reach orbit?"],
    "health": ["what lowers a fever?", "how much sleep do adults need"],
    "programming": ["fixing slow database queries", "how to write unit tests"],
    "finance": ["ways to save money for the future", "what is compound interest"],
    "travel": ["packing for a long flight", "visiting old towns in Europe"],
    "sports": ["training for a marathon", "rules of football"],
    "music": ["learning to play the guitar", "how orchestras tune"],
    "history": ["the fall of the Roman empire", "who built the pyramids"],
    "nature": ["what happens to trees in the fall", "how bees make honey"],
}


def judged() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Twenty queries ({id: text}) and qrels: every document of the query's topic is relevant."""
    docs = sample_corpus()
    queries, qrels = {}, {}
    for topic, texts in TOPIC_QUERIES.items():
        for i, text in enumerate(texts):
            qid = f"{topic}-q{i}"
            queries[qid] = text
            qrels[qid] = {d["id"]: 1 for d in docs if d["topic"] == topic}
    return queries, qrels


@pytest.fixture(scope="module")
def built(tmp_path_factory, encoder):
    """The sample corpus embedded once; each test gets its own copy of the directory."""
    docs = sample_corpus()
    path = tmp_path_factory.mktemp("built") / "sample"
    with Collection.create(path, model=encoder) as collection:
        collection.add(
            [d["text"] for d in docs], ids=[d["id"] for d in docs], metadata=[{"topic": d["topic"]} for d in docs]
        )
    return path


@pytest.fixture()
def papers(built, tmp_path, encoder):
    shutil.copytree(built, tmp_path / "sample")
    with Collection.open(tmp_path / "sample", model=encoder) as collection:
        yield collection


def test_min_relevance_on_an_uncalibrated_collection_says_how_to_calibrate(papers):
    with pytest.raises(
        CollectionError, match=r"not calibrated.*collection\.calibrate\(\).*simvec collection calibrate"
    ):
        papers.search("what lowers a fever?", k=3, min_relevance=0.5)
    assert papers.calibration is None and papers.info()["calibration"] is None


def test_noise_calibration_filters_hits_and_is_stored_with_the_collection(papers, tmp_path, encoder):
    calibration = papers.calibrate()
    assert calibration.method == "noise" and calibration.noise.pairs > 10_000
    everything = papers.search("telescopes that look at distant galaxies", k=10, min_relevance=0.0)
    assert len(everything) == 10
    relevance = [h.relevance for h in everything]
    assert relevance == sorted(relevance, reverse=True) and all(0.0 <= r <= 1.0 for r in relevance)
    assert everything[0].id.startswith("space") and everything[0].relevance > 0.9
    strict = papers.search("telescopes that look at distant galaxies", k=10, min_relevance=0.9)
    assert 1 <= len(strict) < 10 and all(h.relevance >= 0.9 for h in strict)
    assert [h.id for h in strict] == [h.id for h in everything[: len(strict)]]  # a prefix: relevance rises with score
    assert all(h.relevance is None for h in papers.search("telescopes", k=3))  # plain search: raw scores only
    # Stored: a reopened collection gives the same relevance without re-calibrating.
    papers.close()
    with Collection.open(tmp_path / "sample", model=encoder) as again:
        assert again.info()["calibration"]["method"] == "noise"
        reopened = again.search("telescopes that look at distant galaxies", k=10, min_relevance=0.0)
        assert [h.relevance for h in reopened] == pytest.approx(relevance)


def test_labelled_calibration_returns_the_relevant_topic(papers):
    queries, qrels = judged()
    calibration = papers.calibrate(queries, qrels)
    assert calibration.method == "logistic" and calibration.stats["queries"] == 20
    assert calibration.stats["relevant_pairs"] == 200  # depth 100 covers the whole corpus: all 10 per query
    hits = papers.search("the planets of the solar system", k=20, min_relevance=0.5)
    assert hits, "a clearly on-topic query keeps some hits"
    assert sum(h.metadata["topic"] == "space" for h in hits) / len(hits) >= 0.8
    assert all(h.relevance >= 0.5 for h in hits)
    # P(relevant) is calibrated on the judged queries themselves: mean relevance ~ share of relevant hits.
    results = papers.search_batch(list(queries.values()), k=100, min_relevance=0.0)
    predicted = np.mean([h.relevance for row in results for h in row])
    assert predicted == pytest.approx(0.1, abs=0.03)  # 10 relevant of 100 hits per query
    assert calibration.mapping["features"][0] == "score" and "top_gap" not in calibration.mapping["features"]
    gap = papers.calibrate(queries, qrels, features=["score", "noise_z", "top_gap"])
    # top_gap is fitted; on this corpus its weight may come out negative, and then it is dropped (and said so).
    assert "top_gap" in gap.mapping["features"] + gap.stats["dropped_features"]
    assert all(c >= 0 for c in gap.mapping["coef"])
    iso = papers.calibrate(queries, qrels, method="isotonic")
    assert iso.method == "isotonic"
    values = [h.relevance for h in papers.search("rules of football", k=100, min_relevance=0.0)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_compression_change_invalidates_and_stale_files_are_refused(papers, tmp_path):
    papers.set_compression("int8")
    papers.calibrate()
    write_file(papers.calibration, tmp_path / "int8.json")
    papers.set_compression("binary")
    assert papers.calibration is None  # the codes changed, so did the scores
    with pytest.raises(CollectionError, match="not calibrated"):
        papers.search("fever", k=3, min_relevance=0.5)
    with pytest.raises(CollectionError, match=r"compression 'int8' but collection .* has 'binary\+int8x10'"):
        papers.set_calibration(tmp_path / "int8.json")
    data = json.loads((tmp_path / "int8.json").read_text())
    data["model"] = "someone/other-model@0123456789ab"
    (tmp_path / "other.json").write_text(json.dumps(data))
    with pytest.raises(CollectionError, match=r"model 'someone/other-model@0123456789ab' but collection"):
        papers.set_calibration(read_file(tmp_path / "other.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputFileError, match=r"bad.json:1: invalid JSON"):
        papers.set_calibration(tmp_path / "bad.json")


@pytest.mark.parametrize("value", [-0.01, 1.01, "high", float("nan")])
def test_threshold_outside_its_range_is_refused(papers, value):
    papers.calibrate()
    with pytest.raises(InputError, match=r"min_relevance must be a number in \[0, 1\]"):
        papers.search("fever", k=3, min_relevance=value)


def test_bad_calibration_requests_are_named(papers, tmp_path, encoder):
    queries, qrels = judged()
    with pytest.raises(InputError, match="queries and qrels together"):
        papers.calibrate(queries)
    with pytest.raises(InputError, match="judged queries are not in queries, e.g. 'ghost'"):
        papers.calibrate(queries, qrels | {"ghost": {"cooking-01": 1}})
    with pytest.raises(InputError, match="none of the relevant document ids in qrels is in collection"):
        papers.calibrate(queries, {qid: {"nope": 1} for qid in queries})
    with pytest.raises(InputError, match="unknown calibration method 'svm'"):
        papers.calibrate(queries, qrels, method="svm")
    papers.calibrate()
    with pytest.raises(CollectionError, match="min_relevance works with mode='dense'"):
        papers.search("fever", k=3, mode="keyword", min_relevance=0.5)
    with Collection.create(tmp_path / "euclid", model=encoder, metric="euclidean") as euclid:
        euclid.add(["a b", "c d", "e f"])
        with pytest.raises(CollectionError, match="euclidean distances"):
            euclid.calibrate()


def _cli(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_cli_calibrate_and_search_with_min_relevance(papers, tmp_path, capsys):
    path = str(papers.path)
    papers.close()
    code, _, err = _cli(capsys, "collection", "search", path, "fever", "--min-relevance", "0.5")
    assert code == 2 and "not calibrated" in err and "simvec collection calibrate" in err
    queries, qrels = judged()
    (tmp_path / "q.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q, docs in qrels.items() for d, g in docs.items()]
    (tmp_path / "qrels.tsv").write_text("\n".join(lines) + "\n")
    code, out, err = _cli(
        capsys, "collection", "calibrate", path, "--queries", str(tmp_path / "q.jsonl"), "--qrels",
        str(tmp_path / "qrels.tsv"), "--output", str(tmp_path / "cal.json"), "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["method"] == "logistic" and summary["queries"] == 20 and (tmp_path / "cal.json").is_file()
    code, out, err = _cli(
        capsys, "collection", "search", path, "telescopes and galaxies", "-k", "50", "--min-relevance", "0.5", "--json"
    )
    hits = json.loads(out)
    assert code == 0 and 0 < len(hits) < 50 and all(h["relevance"] >= 0.5 for h in hits)
    code, out, _ = _cli(capsys, "collection", "search", path, "telescopes and galaxies", "--min-relevance", "0.5")
    assert code == 0 and "relevance" in out
    code, out, err = _cli(capsys, "collection", "search", path, "fever", "--min-relevance", "2")
    assert code == 2 and "min_relevance must be a number in [0, 1]" in err
    (tmp_path / "broken.tsv").write_text("q1\td1\n")
    code, _, err = _cli(
        capsys, "collection", "calibrate", path, "--queries", str(tmp_path / "q.jsonl"), "--qrels",
        str(tmp_path / "broken.tsv"),
    )  # fmt: skip
    assert code == 2 and "broken.tsv:1: expected 3 tab-separated fields, got 2" in err
    code, _, err = _cli(capsys, "collection", "calibrate", path, "--clear")
    assert code == 0 and "removed" in err
    code, out, err = _cli(capsys, "collection", "calibrate", path, "--from", str(tmp_path / "cal.json"))
    assert code == 0 and "calibrated (logistic)" in out


def test_server_search_with_min_relevance(tmp_path, encoder):
    docs = sample_corpus()
    with TestClient(create_app(ServerConfig(collections_dir=tmp_path), encoder=encoder)) as client:
        assert client.post("/v1/collections", json={"name": "sample"}).status_code == 201
        body = {"documents": [{"id": d["id"], "text": d["text"], "metadata": {"topic": d["topic"]}} for d in docs]}
        assert client.post("/v1/collections/sample/documents", json=body).status_code == 200
        search = {"query": "telescopes that look at distant galaxies", "k": 20, "min_relevance": 0.5}
        response = client.post("/v1/collections/sample/search", json=search)
        assert response.status_code == 400 and "not calibrated" in response.json()["error"]["message"]
        queries, qrels = judged()
        response = client.post("/v1/collections/sample/calibrate", json={"queries": queries, "qrels": qrels})
        assert response.status_code == 200 and response.json()["method"] == "logistic", response.text
        hits = client.post("/v1/collections/sample/search", json=search).json()["hits"]
        assert 0 < len(hits) < 20 and all(h["relevance"] >= 0.5 for h in hits)
        assert sum(h["metadata"]["topic"] == "space" for h in hits) / len(hits) >= 0.8
        plain = client.post("/v1/collections/sample/search", json={"query": "galaxies", "k": 2}).json()["hits"]
        assert [h["relevance"] for h in plain] == [None, None]
        response = client.post("/v1/collections/sample/search", json=search | {"min_relevance": 1.5})
        assert response.status_code == 422 and "min_relevance" in response.text
