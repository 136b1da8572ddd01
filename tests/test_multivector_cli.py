"""`simvec embed --chunk` and `simvec eval retrieval --mode multivector` end to end, with the real model."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from simvec.cli import main
from simvec.eval.readers import read_beir

pytestmark = pytest.mark.model

LONG = "Bananas are rich in potassium. " * 30 + "A solar eclipse hides the Sun."


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture(scope="module")
def tiny_scifact(tmp_path_factory, data_dir):
    """3 SciFact test queries, their relevant documents and 8 others, in the BEIR layout."""
    full = read_beir(data_dir / "scifact")
    queries = sorted(full.queries, key=int)[:3]
    keep = {d for q in queries for d in full.qrels[q]} | set(list(full.corpus)[:8])
    out = tmp_path_factory.mktemp("tiny") / "scifact-tiny"
    (out / "qrels").mkdir(parents=True)
    source = data_dir / "scifact"
    with (source / "corpus.jsonl").open(encoding="utf-8") as src:
        rows = [line for line in src if json.loads(line)["_id"] in keep]
    (out / "corpus.jsonl").write_text("".join(rows), encoding="utf-8")
    (out / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": full.queries[q]}) + "\n" for q in queries), encoding="utf-8"
    )
    (out / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q in queries for d in full.qrels[q]),
        encoding="utf-8",
    )
    return out


def test_embed_chunk_writes_a_row_per_chunk_with_offsets(tmp_path, capsys, encoder):
    source = tmp_path / "docs.jsonl"
    source.write_text(json.dumps({"id": "long", "text": LONG}) + "\n" + '{"id": "short", "text": "hi"}\n')
    out = tmp_path / "chunks.parquet"
    argv = ["embed", str(source), "--id-field", "id", "--chunk", "--chunk-tokens", "64", "--chunk-overlap", "16"]
    code, _, err = run(capsys, *argv, "-o", str(out), "--no-cache")
    assert code == 0, err
    table = pq.read_table(out).to_pydict()
    assert table["id"].count("long") >= 3 and table["id"][-1] == "short"
    assert table["chunk"][: table["id"].count("long")] == list(range(table["id"].count("long")))
    pieces = [
        (LONG if i == "long" else "hi")[a:b] for i, a, b in zip(table["id"], table["start"], table["end"], strict=False)
    ]
    assert pieces[-2].endswith("A solar eclipse hides the Sun.") and pieces[-1] == "hi"
    np.testing.assert_allclose(np.array(table["vector"]), encoder.encode(pieces), atol=1e-5)
    code, _, err = run(capsys, *argv, "-o", str(tmp_path / "chunks.npy"))
    assert code == 2 and "use a .parquet output" in err


def test_eval_retrieval_multivector_json(tiny_scifact, tmp_path, capsys, encoder):
    argv = ["eval", "retrieval", "--data", str(tiny_scifact), "--cache-dir", str(tmp_path), "--json"]
    code, out, err = run(capsys, *argv, "--mode", "multivector")
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    mv = result["multivector"]
    assert result["mode"] == "multivector" and mv["kind"] == "tokens" and mv["candidates"] == 200
    assert mv["fde_recall@10"] == 1.0  # 200 candidates of ~12 documents: every document is reranked
    assert mv["ndcg@10"] == pytest.approx(mv["exact_ndcg@10"]) and 0.3 < mv["ndcg@10"] <= 1
    assert 0.9 <= mv["recall@100"] <= 1
    code, out, err = run(capsys, *argv, "--mode", "multivector", "--multivector", "chunks")
    assert code == 0, err
    assert json.loads(out)["results"][0]["multivector"]["kind"] == "chunks"


def test_collection_create_chunked_add_and_search_with_highlight(tmp_path, capsys, encoder):
    source = tmp_path / "docs.jsonl"
    source.write_text(json.dumps({"id": "long", "text": LONG}) + "\n" + '{"id": "k", "text": "Potassium."}\n')
    path = str(tmp_path / "chunked")
    assert run(capsys, "collection", "create", path, "--chunk-tokens", "32", "--chunk-overlap", "8")[0] == 0
    assert run(capsys, "collection", "add", path, str(source), "--id-field", "id")[0] == 0
    code, out, err = run(capsys, "collection", "search", path, "what hides the Sun?", "-k", "1", "--json")
    assert code == 0, err
    (hit,) = json.loads(out)
    start, end = hit["highlight"]
    assert hit["id"] == "long" and "eclipse" in LONG[start:end]
    code, _, err = run(capsys, "collection", "create", str(tmp_path / "bad"), "--multivector", "words")
    assert code == 2 and "multivector must be 'tokens' or 'chunks'" in err
