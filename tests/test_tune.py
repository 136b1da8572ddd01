"""The compression tuner: cheapest configuration meeting a target, 'nothing meets it' with the best found, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simvec.eval.compression import Workbench, pareto_front, pseudo_queries, tune
from test_codecs import _one_faiss_thread  # noqa: F401  autouse: one FAISS thread per module

pytestmark = pytest.mark.model

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "simvec" / "data" / "sample_corpus.jsonl"


@pytest.fixture(scope="module")
def bench():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((25, 64))
    x = centres[rng.integers(0, 25, 900)] + 0.7 * rng.standard_normal((900, 64))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"d{i}" for i in range(800)]
    # judged queries: each query's relevant document is its nearest neighbour's id (a tiny, consistent qrels)
    qrels = {f"q{i}": {ids[int(np.argmax(x[:800] @ q))]: 1} for i, q in enumerate(x[800:])}
    workbench = Workbench(ids, x[:800], x[800:], query_ids=list(qrels), qrels=qrels)
    yield workbench
    workbench.close()


def test_picks_the_cheapest_configuration_meeting_the_target(bench) -> None:
    result = tune(bench, 64, 0.95, specs=["int8", "binary", "pq16", "pq8", {"codec": "binary", "rescore": "none"}])
    assert [m.config for m in result.measured] == ["int8", "binary+int8x10", "pq16+int8x10", "pq8+int8x10", "binary"]
    assert result.metric == "nDCG@10 retention" and bench.exact_ndcg == pytest.approx(1.0)
    assert result.chosen is not None and result.chosen.ram_bytes_per_vector == 8 and result.chosen.retention >= 0.95
    assert "cheapest" in result.reason
    assert pareto_front(result.measured)[0].ram_bytes_per_vector == 8


def test_says_when_nothing_meets_the_target(bench) -> None:
    result = tune(bench, 8, 1.01, specs=["int8", {"codec": "binary", "rescore": "none"}, "pq8"])
    assert result.chosen is None and result.best is not None
    assert "no configuration" in result.reason and "best found" in result.reason and result.best.config in result.reason
    assert all(m.ram_bytes_per_vector <= 8 for m in result.measured)  # int8 (64 B) is over budget: not measured
    nothing = tune(bench, 2, 0.5, specs=["int8"])
    assert nothing.chosen is None and "no configuration fits" in nothing.reason


def test_pseudo_queries_are_document_sentences() -> None:
    texts = ["First sentence here. A much longer second sentence is here. Third.", "", "Only one sentence without stop"]
    queries = pseudo_queries(texts, n=3)
    assert "A much longer second sentence is here." in queries and len(queries) == 2


def test_cli_tune_with_pseudo_queries(tmp_path, encoder) -> None:
    from simvec import Collection

    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    with Collection.create(tmp_path / "c", model=encoder) as collection:
        collection.add([row["text"] for row in rows], ids=[str(row.get("id", i)) for i, row in enumerate(rows)])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "simvec", "tune", str(tmp_path / "c"), *a], capture_output=True, text=True, env=env
        )

    missed = run("--ram-bytes-per-vector", "8", "--min-retention", "101", "--pseudo-queries", "40")
    assert missed.returncode == 1, missed.stderr
    assert "no configuration meets the target" in missed.stdout and "best found: pca64-binary-itq" in missed.stdout
    assert "pq8" in missed.stderr and "skipped" in missed.stderr  # 100 documents cannot train PQ: said, not crashed
    chosen = run(
        "--ram-bytes-per-vector", "8", "--min-retention", "0.05", "--pseudo-queries", "40", "--apply", "--json"
    )
    assert chosen.returncode == 0, chosen.stderr
    payload = json.loads(chosen.stdout)
    assert (
        payload["chosen"] == "pca64-binary-itq+int8x10"
        and payload["applied"]
        and payload["metric"] == "recall@10 vs float32 exact"
    )
    with Collection.open(tmp_path / "c") as collection:
        assert collection.compression.name == "pca64-binary-itq+int8x10"
        assert len(collection.search("a question about science", 5)) == 5
