"""Clustering with the real model: the library on texts, the CLI (table, jsonl, map), /v1/cluster, eval clustering."""

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import v_measure_score

from simvec.cli import main
from simvec.errors import InputFileError
from simvec.eval.clustering import evaluate_clustering, mteb_legacy_v_measure, read_labelled_csv
from simvec.server import Limits, ServerConfig, create_app
from simvec.tasks.cluster import cluster

pytestmark = pytest.mark.model

TOPICS = {
    "pets": [
        "My cat sleeps on the sofa all day.",
        "The dog barked at the cat.",
        "Our puppy loves chasing the cat.",
        "A kitten is napping in the sun.",
        "The cat and the dog are friends.",
    ],
    "money": [
        "The stock market fell sharply today.",
        "Shares of the bank dropped in early trading.",
        "Investors sold stocks as the market slid.",
        "The central bank raised interest rates.",
        "Bond yields rose after the market news.",
    ],
    "space": [
        "The rocket launched a satellite into orbit.",
        "Astronauts boarded the space station.",
        "NASA plans a new mission to Mars.",
        "The telescope photographed a distant galaxy.",
        "A rocket carried astronauts to the space station.",
    ],
}
TEXTS = [t for texts in TOPICS.values() for t in texts]
GOLD = [topic for topic, texts in TOPICS.items() for _ in texts]


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_cluster_texts_finds_the_topics_with_keywords_and_central_examples(encoder):
    result = cluster(TEXTS, k=3, encoder=encoder)
    assert v_measure_score(GOLD, result.labels) == pytest.approx(1.0)
    keywords = {GOLD[c.examples[0]]: c.keywords for c in result.clusters}
    assert "cat" in keywords["pets"][:3] and "market" in keywords["money"][:3] and "rocket" in keywords["space"][:4]
    for c in result.clusters:
        assert c.example_texts == [TEXTS[i] for i in c.examples] and len(c.examples) == 3
        assert {GOLD[i] for i in c.examples} == {GOLD[c.examples[0]]}


def test_vectors_with_texts_give_the_same_clustering_as_texts(encoder):
    vectors = encoder.encode(TEXTS)
    a = cluster(TEXTS, k=3, encoder=encoder)
    b = cluster(vectors, k=3, texts=TEXTS)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert [c.keywords for c in a.clusters] == [c.keywords for c in b.clusters]


def test_cli_writes_assignments_and_map_and_prints_the_table(tmp_path, capsys):
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    out, plot = tmp_path / "clusters.jsonl", tmp_path / "map.png"
    code, stdout, err = run(capsys, "cluster", str(source), "--k", "3", "-o", str(out), "--plot", str(plot))
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [str(i) for i in range(1, 16)] and [r["text"] for r in rows] == TEXTS
    assert v_measure_score(GOLD, [r["cluster"] for r in rows]) == pytest.approx(1.0)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "15 texts → 3 clusters" in stdout and "cat" in stdout and "market" in stdout
    code, stdout, err = run(capsys, "cluster", str(source), "--k", "3", "--json")
    summary = json.loads(stdout)
    assert code == 0 and summary["k"] == 3 and sorted(summary["sizes"]) == [5, 5, 5]


@pytest.mark.parametrize(
    "lines, args, message",
    [
        (TEXTS[:4], ["--k", "5"], "k=5 is out of range: 4 texts can form 1 to 4 clusters"),
        (TEXTS[:1], [], "clustering needs at least 2 texts or vectors, got 1"),
        ([], [], "clustering needs at least 2 texts or vectors, got 0"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, capsys, lines, args, message):
    source = tmp_path / "texts.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines), encoding="utf-8")
    code, _, err = run(capsys, "cluster", str(source), *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_eval_clustering_missing_label_column_names_file_and_column(tmp_path, capsys):
    path = tmp_path / "data.csv"
    path.write_text("text,topic\nhello,a\nworld,b\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"data\.csv: missing column 'intent' \(columns present: text, topic\)"):
        read_labelled_csv(path, label_column="intent")
    code, _, err = run(capsys, "eval", "clustering", "--data", str(path))
    assert code == 2 and "data.csv: no label column" in err and "columns present: text, topic" in err


def test_eval_reproduces_mteb_protocol_on_a_banking77_slice(data_dir, exact_encoder, reference_model, tmp_path):
    """The reproduction compares fp32 with sentence-transformers' fp32: like with like on every CPU."""
    full = read_labelled_csv(data_dir / "banking77", "test")
    keep = {"card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed"}
    rows = [(t, lab) for t, lab in zip(full.texts, full.labels, strict=True) if lab in keep]
    path = tmp_path / "slice.csv"
    path.write_text("text,category\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows), encoding="utf-8")
    data = read_labelled_csv(path)
    assert len(data.texts) == 160 and set(data.labels) == keep
    result = evaluate_clustering(exact_encoder, data, seeds=(0, 1))
    # The same protocol, run directly on sentence-transformers' embeddings of the same texts.
    reference = reference_model.encode(data.texts, convert_to_numpy=True)
    direct = [
        v_measure_score(
            data.labels, MiniBatchKMeans(4, batch_size=500, n_init="auto", random_state=s).fit(reference).labels_
        )
        for s in (0, 1)
    ]
    assert result.mteb_legacy.mean == pytest.approx(100 * np.mean(direct), abs=1.0)
    assert result.mteb_legacy.k == [4, 4] and result.mteb_legacy.mean > 70
    assert result.simvec_default.mean > 60 and len(result.simvec_default.per_seed) == 2
    assert mteb_legacy_v_measure(reference, data.labels, 0) == pytest.approx(direct[0])


@pytest.fixture(scope="module")
def client(encoder, tmp_path_factory):
    config = ServerConfig(collections_dir=tmp_path_factory.mktemp("c"), limits=Limits(max_texts=20, max_chars=200))
    with TestClient(create_app(config, encoder=encoder)) as test_client:
        yield test_client


def test_server_clusters_texts(client):
    body = client.post("/v1/cluster", json={"texts": TEXTS, "k": 3, "n_examples": 2}).json()
    assert body["k"] == 3 and body["noise"] == 0 and sum(body["sizes"]) == 15
    assert v_measure_score(GOLD, body["labels"]) == pytest.approx(1.0)
    assert all(len(c["example_texts"]) == 2 and c["keywords"] for c in body["clusters"])
    assert "/v1/cluster" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    "payload, status, fragment",
    [
        ({"texts": ["x"] * 21}, 413, "limit is 20 (max_texts)"),
        ({"texts": ["x" * 201, "y"]}, 422, "texts[0] has 201 characters"),
        ({"texts": []}, 422, "texts must not be empty"),
        ({"texts": ["a", "b"], "k": 3}, 400, "k=3 is out of range"),
        ({"texts": ["a"]}, 400, "at least 2 texts"),
        ({"texts": ["a", "b"], "method": "spectral"}, 422, "method"),
    ],
)
def test_server_refuses_bad_requests(client, payload, status, fragment):
    response = client.post("/v1/cluster", json=payload)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]
