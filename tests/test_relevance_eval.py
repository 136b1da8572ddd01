"""`simvec eval relevance` on small real SciFact subsets with the real model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simvec.cli import main
from simvec.eval.readers import read_beir
from simvec.eval.relevance import evaluate_relevance, expected_calibration_error, split_queries

pytestmark = pytest.mark.model


def write_subset(source: Path, out: Path, query_ids: list[str], others: int) -> Path:
    """A BEIR folder with `query_ids`, their relevant documents and the first `others` other documents."""
    full = read_beir(source)
    relevant = {doc for q in query_ids for doc in full.qrels[q]}
    keep = relevant | set([doc for doc in full.corpus if doc not in relevant][:others])
    (out / "qrels").mkdir(parents=True)
    with (source / "corpus.jsonl").open(encoding="utf-8") as src, (out / "corpus.jsonl").open("w") as dst:
        dst.writelines(line for line in src if json.loads(line)["_id"] in keep)
    with (source / "queries.jsonl").open(encoding="utf-8") as src, (out / "queries.jsonl").open("w") as dst:
        dst.writelines(line for line in src if json.loads(line)["_id"] in set(query_ids))
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q in query_ids for d, g in full.qrels[q].items()]
    (out / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="module")
def subsets(tmp_path_factory, data_dir):
    """Two disjoint SciFact subsets: 20 queries each, their relevant documents and 30 other documents (kept small:
    SciFact abstracts are long, and embedding them dominates the run time)."""
    source = data_dir / "scifact"
    ids = sorted(read_beir(source).queries, key=int)
    root = tmp_path_factory.mktemp("relevance-beir")
    return (
        write_subset(source, root / "scifact-a", ids[:20], 30),
        write_subset(source, root / "scifact-b", ids[20:40], 30),
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One embedded-collection cache for the module, so each subset is embedded once."""
    return tmp_path_factory.mktemp("relevance-cache")


def test_split_queries_is_seeded_and_disjoint():
    ids = [str(i) for i in range(11)]
    a, b = split_queries(ids, seed=0)
    assert len(a) == 5 and len(b) == 6 and set(a).isdisjoint(b) and set(a) | set(b) == set(ids)
    assert split_queries(ids, seed=0) == (a, b) and split_queries(ids, seed=1) != (a, b)


def test_expected_calibration_error():
    assert expected_calibration_error(np.array([0.05, 0.05, 0.95, 0.95]), np.array([0, 0, 1, 1])) == pytest.approx(0.05)
    assert expected_calibration_error(np.array([0.9, 0.9]), np.array([0, 0])) == pytest.approx(0.9)


def test_cli_json_on_a_seeded_half_split(subsets, cache, capsys):
    a, _ = subsets
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "relevance", "--data", str(a), "--cache-dir", str(cache), "--json"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    result = json.loads(out)
    assert set(result["calibrated"]) == {"precision", "recall", "f1"}
    assert set(result["fixed_cutoff"]) == {"cutoff", "precision", "recall", "f1"}
    assert (result["queries"], result["calibration_queries"]) == (10, 10)
    assert "seeded half" in result["calibrated_on"]
    for block in ("calibrated", "fixed_cutoff", "noise"):
        assert all(0.0 <= result[block][m] <= 1.0 for m in ("precision", "recall", "f1")), result[block]
    # On 10 queries among ~50 documents the relevant documents are found: both filters do far better than chance.
    assert result["calibrated"]["f1"] > 0.3 and result["fixed_cutoff"]["f1"] > 0.3, result
    assert 0.2 < result["fixed_cutoff"]["cutoff"] < 0.9
    assert 0 < result["returned"]["calibrated"] <= 100
    assert result["returned"]["calibrated"] < 10  # a filter: far fewer than the ~50 documents searched


def test_calibrate_on_another_dataset_matches_an_independent_recomputation(subsets, cache, encoder):
    a, b = subsets
    result = evaluate_relevance(b, calibrate_on=a, model=encoder, cache_dir=cache)
    assert result.calibrated_on == "scifact-a" and (result.queries, result.calibration_queries) == (20, 20)
    # Recompute the fixed-cutoff row from scratch: exact dense top-100, hits at or above the cutoff, per-query F1.
    data = read_beir(b)
    from simvec import Collection
    from simvec.eval.retrieval import collection_for

    with Collection.open(collection_for(data, cache, encoder)) as collection:
        hits = collection.search_batch([data.queries[q] for q in data.queries], 100, exact=True)
    cutoff = result.fixed_cutoff["cutoff"]
    f1s = []
    for qid, row in zip(data.queries, hits, strict=True):
        returned = {h.id for h in row if h.score >= cutoff}
        relevant = {d for d, g in data.qrels[qid].items() if g > 0}
        found = len(returned & relevant)
        f1s.append(2 * found / (len(returned) + len(relevant)))
    assert result.fixed_cutoff["f1"] == pytest.approx(np.mean(f1s), abs=1e-9)
    assert result.calibration_error < 0.2


def test_bad_options_are_named(subsets, cache, tmp_path, capsys):
    a, _ = subsets
    for argv, message in (
        (["--min-relevance", "1.5"], "min_relevance must be a number in [0, 1]"),
        (["--method", "svm"], "unknown method 'svm'"),
        (["--calibrate-on", str(tmp_path / "nowhere")], "nowhere/qrels/test.tsv: no such file"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", "relevance", "--data", str(a), "--cache-dir", str(cache), *argv])
        _, err = capsys.readouterr()
        assert exit_info.value.code == 2 and message in err and "Traceback" not in err, err
