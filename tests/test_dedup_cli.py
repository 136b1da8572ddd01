"""`simvec dedup`, `simvec mine` and the /v1/dedup and /v1/mine endpoints, with the real model."""

import json

import pytest
from fastapi.testclient import TestClient

from simvec.cli import main

pytestmark = pytest.mark.model

DOCS = [
    {"id": "p1", "text": "Aspirin lowers the risk of heart attack.", "year": 2019},
    {"id": "p2", "text": "Vitamin D and bone density in adults.", "year": 2022},
    {"id": "p3", "text": "ASPIRIN LOWERS THE RISK OF HEART ATTACK", "year": 2021},
    {"id": "p4", "text": "Aspirin lowers the risk of heart attack.", "year": 2018},
]


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def docs(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    return path


def test_dedup_command(tmp_path, docs, capsys):
    out = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "dedup", str(docs), "--id-field", "id", "-o", str(out))
    assert code == 0, err
    records = lines(out)
    assert [r["id"] for r in records] == ["p1", "p2", "p3", "p4"]
    assert [r["duplicate_of"] for r in records] == [None, None, "p1", "p1"]
    assert records[0]["score"] is None and 0.925 <= records[2]["score"] <= 1.0 and records[3]["score"] == 1.0
    assert "4 documents: 2 kept, 2 removed" in err and "largest 3" in err

    kept = tmp_path / "kept.jsonl"
    code, _, err = run(
        capsys, "dedup", str(docs), "--id-field", "id", "--keep", "max:year", "--kept-only", "-o", str(kept)
    )
    assert code == 0, err
    assert lines(kept) == [DOCS[1], DOCS[2]]  # p3 (2021) is the newest of its group; fields are kept


def test_dedup_command_errors(tmp_path, docs, capsys):
    out = str(tmp_path / "out.jsonl")
    code, _, err = run(capsys, "dedup", str(docs), "--threshold", "1.2", "-o", out)
    assert code == 2 and "--threshold must be in (0, 1], got 1.2" in err and "Traceback" not in err
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    code, _, err = run(capsys, "dedup", str(empty), "-o", out)
    assert code == 2 and "empty.txt: no documents to deduplicate" in err
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', encoding="utf-8")
    code, _, err = run(capsys, "dedup", str(dup), "--id-field", "id", "-o", out)
    assert code == 2 and "dup.jsonl:2: duplicate id 'a' (first on line 1)" in err
    single = tmp_path / "single.txt"
    single.write_text("one line\n", encoding="utf-8")
    code, _, err = run(capsys, "dedup", str(single), "-o", out)
    assert code == 0 and lines(tmp_path / "out.jsonl") == [{"id": "1", "duplicate_of": None, "score": None}]


def test_mine_commands(tmp_path, capsys):
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    a.write_text(
        '{"id": "a1", "text": "A man is playing a guitar."}\n{"id": "a2", "text": "The stock market fell sharply."}\n'
        '{"id": "a3", "text": "A woman is slicing an onion."}\n',
        encoding="utf-8",
    )
    b.write_text(
        '{"id": "b1", "text": "Share prices dropped steeply."}\n{"id": "b2", "text": "Someone plays the guitar."}\n'
        '{"id": "b3", "text": "The weather is sunny at the beach."}\n',
        encoding="utf-8",
    )
    out = tmp_path / "pairs.jsonl"
    code, _, err = run(
        capsys, "mine", "pairs", str(a), str(b), "--id-field", "id", "--margin", "none", "-t", "0.5", "-o", str(out)
    )
    assert code == 0, err
    pairs = lines(out)
    assert [(p["a_id"], p["b_id"]) for p in pairs] == [("a1", "b2"), ("a2", "b1")]
    assert pairs[0]["a"] == "A man is playing a guitar." and pairs[0]["b"] == "Someone plays the guitar."
    assert pairs[0]["score"] >= pairs[1]["score"] >= 0.5

    code, _, err = run(capsys, "mine", "paraphrases", str(a), "--margin", "none", "-t", "0.99", "-o", str(out))
    assert code == 0 and lines(out) == []
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    code, _, err = run(capsys, "mine", "pairs", str(a), str(empty), "-o", str(out))
    assert code == 2 and "empty.txt: no texts to mine" in err
    code, _, err = run(capsys, "mine", "pairs", str(a), str(b), "--margin", "ratio", "-t", "-1", "-o", str(out))
    assert code == 2 and "ratio-margin threshold must be positive" in err


@pytest.fixture(scope="module")
def client(encoder, tmp_path_factory):
    from simvec.server.app import create_app
    from simvec.server.config import Limits, ServerConfig

    config = ServerConfig(collections_dir=tmp_path_factory.mktemp("cols"), limits=Limits(max_texts=50))
    with TestClient(create_app(config, encoder=encoder)) as test_client:
        yield test_client


def test_dedup_endpoint(client):
    texts = [d["text"] for d in DOCS]
    response = client.post("/v1/dedup", json={"texts": texts, "ids": [d["id"] for d in DOCS], "keep": "shortest"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["duplicate_of"] for r in body["results"]] == ["p3", None, None, "p3"]
    assert body["groups"][0]["representative"] == "p3" and len(body["groups"][0]["members"]) == 2
    assert body["kept"] == 2 and body["removed"] == 2 and body["threshold"] == 0.925

    for payload, status, fragment in [
        ({"texts": texts, "threshold": 0}, 422, "threshold"),
        ({"texts": []}, 422, "texts must not be empty"),
        ({"texts": ["x"] * 51}, 413, "max_texts"),
        ({"texts": ["x", "y"], "ids": ["a", "a"]}, 400, "duplicate id 'a'"),
        ({"texts": ["x", "y"], "keep": "oldest"}, 400, "unknown keep policy"),
    ]:
        response = client.post("/v1/dedup", json=payload)
        assert response.status_code == status and fragment in response.json()["error"]["message"], response.text
    same = client.post("/v1/dedup", json={"texts": ["same"] * 20}).json()
    assert same["kept"] == 1 and len(same["groups"]) == 1


def test_mine_endpoint(client):
    body = {"a": ["A man is playing a guitar.", "Stocks fell."], "b": ["The market dropped.", "Someone plays guitar."]}
    response = client.post("/v1/mine", json={**body, "margin": "none", "threshold": 0.3})
    assert response.status_code == 200, response.text
    pairs = response.json()["pairs"]
    assert [(p["a"], p["b"]) for p in pairs] == [(0, 1), (1, 0)] and pairs[0]["text_b"] == "Someone plays guitar."
    paraphrases = client.post("/v1/mine", json={"a": body["a"] + body["b"], "margin": "none", "threshold": 0.6}).json()
    assert [(p["a"], p["b"]) for p in paraphrases["pairs"]] == [(0, 3), (1, 2)]
    assert client.post("/v1/mine", json={"a": [], "b": ["x"]}).status_code == 422
    assert client.post("/v1/mine", json={"a": ["x"] * 30, "b": ["y"] * 30}).status_code == 413
    assert client.post("/v1/mine", json={"a": ["x"], "b": ["y"], "margin": "none", "threshold": 2}).status_code == 400
    spec = client.get("/openapi.json").json()
    assert {"/v1/dedup", "/v1/mine"} <= set(spec["paths"])
    assert "DedupRequest" in spec["components"]["schemas"] and "MineRequest" in spec["components"]["schemas"]
