"""Classification with the real model: zero-shot, trained classifiers, save/load, the CLI and the server."""

import copy
import dataclasses
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from simvec import Encoder
from simvec.cli import main
from simvec.errors import InputError, InputFileError, ModelError
from simvec.server import Limits, ServerConfig, create_app
from simvec.tasks.classify import EmbeddingClassifier, ZeroShotClassifier

pytestmark = pytest.mark.model

LABELS = ["card_arrival", "exchange_rate", "lost_or_stolen_card"]
TEXTS = [
    "My new card still has not arrived in the post.",
    "What rate do you use to convert dollars to euros?",
    "Someone stole my wallet with my card in it.",
]
TRAIN = [
    ("Where is the card you sent me?", "card_arrival"),
    ("How long until my card is delivered?", "card_arrival"),
    ("My card hasn't come yet.", "card_arrival"),
    ("Is the euro exchange rate good today?", "exchange_rate"),
    ("Which conversion rate applies to pounds?", "exchange_rate"),
    ("How much is one dollar in yen with you?", "exchange_rate"),
    ("I lost my card on the train.", "lost_or_stolen_card"),
    ("My card was stolen, block it please.", "lost_or_stolen_card"),
    ("I can't find my card anywhere.", "lost_or_stolen_card"),
]


# ---- zero-shot -----------------------------------------------------------------------------------


def test_zero_shot_with_label_names(encoder):
    classifier = ZeroShotClassifier(LABELS, encoder=encoder)
    assert classifier.predict(TEXTS) == LABELS
    proba = classifier.predict_proba(TEXTS)
    assert proba.shape == (3, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert (proba.argmax(axis=1) == [0, 1, 2]).all()
    # a label's vector is the normalised mean of its description embeddings ("card_arrival" -> "card arrival"),
    # embedded in fp32 whatever the encoder's backend: a few texts every other text is scored against
    fp32 = encoder.for_few_texts()
    assert fp32.backend.name in ("onnx", "torch") and fp32.for_few_texts() is fp32
    np.testing.assert_allclose(classifier.label_vectors[0], fp32.encode_documents("card arrival"), atol=1e-5)
    exact = Encoder(backend="onnx").encode_documents("card arrival")
    assert classifier.label_vectors[0] @ exact > 0.9999


def test_query_and_document_prompts_of_the_model_card_are_honoured(encoder):
    prompted = copy.copy(encoder)  # the same loaded model, with a card that has E5-style prompts
    prompted.card = dataclasses.replace(encoder.card, prompts={"query": "query: ", "document": "passage: "})
    classifier = ZeroShotClassifier(LABELS, encoder=prompted)
    labels_encoder = encoder.for_few_texts()  # label texts are embedded in fp32
    np.testing.assert_allclose(classifier.label_vectors[0], labels_encoder.encode("passage: card arrival"), atol=1e-5)
    np.testing.assert_allclose(classifier.embed(TEXTS[:1])[0], encoder.encode("query: " + TEXTS[0]), atol=1e-5)
    trained = EmbeddingClassifier("centroid", encoder=prompted).fit(["query text a", "b"], ["x", "y"])
    np.testing.assert_allclose(trained.params["centroids"][0], encoder.encode("query: query text a"), atol=1e-5)


def test_descriptions_templates_and_the_label_vector_mean(encoder):
    descriptions = {"refund": ["I want my money back", "refund request"], "weather": "rain and sunshine"}
    classifier = ZeroShotClassifier(descriptions, encoder=encoder, template=["{}", "a question about {}"])
    texts = ["I want my money back", "a question about I want my money back", "refund request"]
    texts += ["a question about refund request"]
    mean = encoder.for_few_texts().encode_documents(texts).mean(axis=0)
    np.testing.assert_allclose(classifier.label_vectors[0], mean / np.linalg.norm(mean), atol=1e-5)
    assert classifier.predict(["Can I get a refund for this order?", "Will it rain tomorrow?"]) == ["refund", "weather"]


def test_calibration_fits_the_temperature_to_examples(encoder):
    classifier = ZeroShotClassifier(LABELS, encoder=encoder, temperature=1.0)
    flat = classifier.predict_proba(TEXTS).max(axis=1)
    classifier.calibrate([t for t, _ in TRAIN], [label for _, label in TRAIN])
    assert 0.01 <= classifier.temperature < 1.0
    sharp = classifier.predict_proba(TEXTS).max(axis=1)
    assert (sharp > flat).all()  # correct answers, so a likelihood fit makes them more confident
    with pytest.raises(InputError, match=r"labels\[0\] 'refund' is not one of this classifier's labels"):
        classifier.calibrate(["x"], ["refund"])
    with pytest.raises(InputError, match="got 2 texts but 1 labels"):
        classifier.calibrate(["x", "y"], ["card_arrival"])


def test_abstains_when_the_best_label_is_not_clearly_ahead(encoder):
    classifier = ZeroShotClassifier(["dog", "puppy"], encoder=encoder, abstain_below=0.5)
    results = classifier.classify(["a young dog", "The quarterly tax report is due."])
    assert results[1].label is None and results[1].best in ("dog", "puppy")
    assert results[1].probability - results[1].runner_up_probability < 0.5
    confident = ZeroShotClassifier(LABELS, encoder=encoder, abstain_below=0.2).classify(TEXTS)
    assert [r.label for r in confident] == LABELS


def test_min_similarity_answers_none_of_these(encoder):
    texts = [*TEXTS, "Is it going to rain tomorrow?"]
    open_world = ZeroShotClassifier(LABELS, encoder=encoder, min_similarity=0.3).classify(texts)
    assert [r.label for r in open_world] == [*LABELS, None]
    assert open_world[3].best in LABELS  # still named, for whoever wants the closest anyway
    closed = ZeroShotClassifier(LABELS, encoder=encoder).classify(texts)
    assert closed[3].label == closed[3].best  # without it, probabilities are relative to the labels given
    with pytest.raises(InputError, match="min_similarity"):
        ZeroShotClassifier(LABELS, encoder=encoder, min_similarity=3)


# ---- trained classifiers -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["logreg", "knn", "centroid"])
def test_each_method_learns_the_examples(encoder, method):
    texts, labels = zip(*TRAIN, strict=True)
    classifier = EmbeddingClassifier(method, encoder=encoder, k=3).fit(texts, labels)
    assert classifier.classes_ == sorted(set(labels))
    assert classifier.predict(TEXTS) == LABELS
    proba = classifier.predict_proba(TEXTS)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    results = classifier.classify(TEXTS)
    assert all(r.runner_up != r.label and r.probability >= r.runner_up_probability for r in results)


def test_label_prior_centroid_predicts_labels_without_examples(encoder):
    classifier = EmbeddingClassifier("centroid", encoder=encoder, labels=LABELS)
    classifier.fit(["Where is the card you sent me?", "What is the euro rate?"], ["card_arrival", "exchange_rate"])
    assert classifier.classes_ == LABELS  # the prior's labels, in order
    assert classifier.predict(TEXTS) == LABELS  # lost_or_stolen_card has only its label embedding


def test_training_input_is_checked(encoder):
    with pytest.raises(InputError, match="at least 2 distinct labels"):
        EmbeddingClassifier(encoder=encoder).fit(["a", "b"], ["x", "x"])
    with pytest.raises(InputError, match=r"labels\[1\] is an empty label"):
        EmbeddingClassifier(encoder=encoder).fit(["a", "b"], ["x", ""])
    with pytest.raises(InputError, match="not fitted"):
        EmbeddingClassifier(encoder=encoder).predict(["a"])


@pytest.mark.parametrize("method", ["logreg", "knn", "centroid"])
def test_save_and_load_round_trip(encoder, tmp_path, method):
    texts, labels = zip(*TRAIN, strict=True)
    classifier = EmbeddingClassifier(method, encoder=encoder, k=3).fit(texts, labels)
    classifier.save(tmp_path / "clf")
    config = json.loads((tmp_path / "clf" / "classifier.json").read_text())
    assert config["model"] == encoder.model_id and config["labels"] == classifier.classes_
    loaded = EmbeddingClassifier.load(tmp_path / "clf", encoder=encoder)
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), classifier.predict_proba(TEXTS), atol=1e-6)


def test_load_refuses_another_model_and_damaged_directories(encoder, tmp_path):
    texts, labels = zip(*TRAIN, strict=True)
    path = EmbeddingClassifier("centroid", encoder=encoder).fit(texts, labels).save(tmp_path / "clf")
    config_file = path / "classifier.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "model": "intfloat/e5-small-v2"}))
    with pytest.raises(
        ModelError,
        match="fitted with model 'intfloat/e5-small-v2'.*with model 'sentence-transformers/all-MiniLM-L6-v2'",
    ):
        EmbeddingClassifier.load(path, encoder=encoder)
    config_file.write_text(json.dumps(config)[:40])
    with pytest.raises(InputFileError, match=r"classifier\.json: damaged classifier settings"):
        EmbeddingClassifier.load(path, encoder=encoder)
    config_file.write_text(json.dumps({**config, "labels": "x"}))
    with pytest.raises(InputFileError, match="'labels' is missing or has the wrong type"):
        EmbeddingClassifier.load(path, encoder=encoder)
    config_file.write_text(json.dumps(config))
    (path / "arrays.npz").write_bytes(b"not a numpy file")
    with pytest.raises(InputFileError, match=r"arrays\.npz: damaged fitted parameters"):
        EmbeddingClassifier.load(path, encoder=encoder)
    np.savez(path / "arrays.npz", centroids=np.zeros((2, 384)))
    with pytest.raises(InputFileError, match="'centroids' is missing or has the wrong shape"):
        EmbeddingClassifier.load(path, encoder=encoder)
    (path / "arrays.npz").unlink()
    with pytest.raises(InputFileError, match="missing"):
        EmbeddingClassifier.load(path, encoder=encoder)
    with pytest.raises(InputFileError, match="no such classifier directory"):
        EmbeddingClassifier.load(tmp_path / "nowhere", encoder=encoder)


# ---- CLI -----------------------------------------------------------------------------------------


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture
def files(tmp_path):
    (tmp_path / "in.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    rows = "".join(f'"{t}",{label}\n' for t, label in TRAIN)
    (tmp_path / "train.csv").write_text("text,intent\n" + rows, encoding="utf-8")
    (tmp_path / "labels.json").write_text(json.dumps({label: label.replace("_", " ") for label in LABELS}))
    return tmp_path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_cli_zero_shot_form(files, capsys):
    code, out, err = run(capsys, "classify", files / "in.txt", "--labels", ",".join(LABELS))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]  # not a terminal: JSON lines
    assert [r["label"] for r in rows] == LABELS
    assert all(r["runner_up"] in LABELS and 0 <= r["runner_up_probability"] <= r["probability"] <= 1 for r in rows)
    code, _, err = run(
        capsys, "classify", files / "in.txt", "--labels-file", files / "labels.json", "-o", files / "o.csv"
    )
    assert code == 0, err
    assert (files / "o.csv").read_text().splitlines()[0] == "id,text,label,probability,runner_up,runner_up_probability"


def test_cli_prints_a_table_in_a_terminal(files, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    code, out, err = run(capsys, "classify", files / "in.txt", "--labels", ",".join(LABELS))
    assert code == 0, err
    assert "runner-up" in out and "exchange_rate" in out and not out.lstrip().startswith("{")


def test_cli_train_on_the_fly(files, capsys):
    out = files / "out.jsonl"
    code, _, err = run(
        capsys,
        "classify",
        files / "in.txt",
        "--train",
        files / "train.csv",
        "--label-column",
        "intent",
        "--method",
        "knn",
        "-o",
        out,
    )
    assert code == 0, err
    assert [r["label"] for r in read_jsonl(out)] == LABELS


def test_cli_fit_then_predict(files, capsys):
    model_dir = files / "model"
    code, _, err = run(capsys, "classify", "fit", files / "train.csv", "--label-column", "intent", "-o", model_dir)
    assert code == 0, err
    assert "saved a logreg classifier of 3 labels" in err
    code, out, err = run(capsys, "classify", "predict", model_dir, files / "in.txt", "--json")
    assert code == 0, err
    assert [json.loads(line)["label"] for line in out.splitlines()] == LABELS


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--labels", "only_one"], "at least 2 labels, got 1"),
        (["--labels", "a,b,a"], "labels[2] 'a' duplicates labels[0]"),
        (["--labels", "a,,b"], "labels[1] is an empty label"),
        (["--train", "{train}"], "train.csv:2: missing field 'label' (fields present: text, intent)"),
        ([], "give --labels or --labels-file"),
    ],
)
def test_cli_errors_are_one_line(files, capsys, argv, fragment):
    argv = [a.replace("{train}", str(files / "train.csv")) for a in argv]
    code, _, err = run(capsys, "classify", files / "in.txt", *argv)
    assert code == 2 and fragment in err and "Traceback" not in err
    assert err.startswith("simvec: error:")


def test_cli_predict_with_a_damaged_classifier(files, capsys):
    (files / "broken").mkdir()
    (files / "broken" / "classifier.json").write_text("{")
    code, _, err = run(capsys, "classify", "predict", files / "broken", files / "in.txt")
    assert code == 2 and "classifier.json: damaged classifier settings" in err


def test_eval_reports_test_labels_unseen_in_training(tmp_path, capsys):
    rows = "".join(f'"{t}",{label}\n' for t, label in TRAIN)
    (tmp_path / "train.csv").write_text("text,label\n" + rows, encoding="utf-8")
    (tmp_path / "test.csv").write_text(
        "text,label\n"
        + "".join(f'"{t}",{label}\n' for t, label in zip(TEXTS, LABELS, strict=True))
        + "I want a refund,refund\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "eval", "classification", "--data", tmp_path, "--n-experiments", "2", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["unseen_test_labels"] == {"refund": 1}
    assert result["accuracy"] == pytest.approx(75.0)  # the three known texts right, the unseen one counted wrong
    code, out, err = run(capsys, "eval", "zero-shot", "--data", tmp_path, "--shots", "1,2", "--runs", "2", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert {(r["method"], r["shots"]) for r in result["few_shot"]} == {
        (m, n) for m in ("logreg", "knn", "centroid", "label-prior centroid") for n in (1, 2)
    }


# ---- server --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(encoder, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    texts, labels = zip(*TRAIN, strict=True)
    EmbeddingClassifier("logreg", encoder=encoder).fit(texts, labels).save(root / "classifiers" / "intents")
    config = ServerConfig(collections_dir=root / "collections", limits=Limits(max_texts=8, max_chars=200))
    with TestClient(create_app(config, encoder=encoder)) as test_client:
        yield test_client


def assert_error(response, status, fragment):
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]


def test_server_classifies_with_inline_labels(client):
    response = client.post("/v1/classify", json={"input": TEXTS, "labels": LABELS})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["label"] for d in body["data"]] == LABELS and body["labels"] == LABELS
    assert body["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    open_world = client.post(
        "/v1/classify", json={"input": ["Is it going to rain tomorrow?"], "labels": LABELS, "min_similarity": 0.3}
    )
    assert open_world.json()["data"][0]["label"] is None
    described = client.post(
        "/v1/classify", json={"input": "Will it rain?", "labels": {"weather": ["rain", "sun"], "money": "a payment"}}
    )
    assert described.json()["data"][0]["label"] == "weather"


def test_server_classifies_with_a_saved_classifier(client):
    response = client.post("/v1/classify", json={"input": TEXTS, "classifier": "intents", "abstain_below": 0.0})
    assert response.status_code == 200, response.text
    assert [d["label"] for d in response.json()["data"]] == LABELS
    assert response.json()["classifier"] == "intents"


@pytest.mark.parametrize(
    "payload, status, fragment",
    [
        ({"input": ["x"]}, 422, "exactly one of 'labels'"),
        ({"input": ["x"], "labels": ["a", "b"], "classifier": "intents"}, 422, "exactly one of 'labels'"),
        ({"input": ["x"], "labels": ["a"]}, 400, "at least 2 labels"),
        ({"input": ["x"], "labels": ["a", "a"]}, 400, "duplicates"),
        ({"input": ["x"], "labels": ["a", " "]}, 400, "empty label"),
        ({"input": ["x"], "classifier": "../classifiers/intents"}, 422, "not a valid name"),
        ({"input": ["x"], "classifier": "nope"}, 404, "no saved classifier named 'nope'"),
        ({"input": ["x"] * 9, "labels": ["a", "b"]}, 413, "max_texts"),
        ({"input": ["x" * 201], "labels": ["a", "b"]}, 422, "max_chars"),
        ({"input": [], "labels": ["a", "b"]}, 422, "must not be empty"),
        ({"input": ["x"], "labels": [f"l{i}" for i in range(9)]}, 413, "labels has 9 items"),
    ],
)
def test_server_refuses_bad_requests(client, payload, status, fragment):
    assert_error(client.post("/v1/classify", json=payload), status, fragment)


def test_classify_is_in_the_openapi_spec(client):
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/classify"]["post"]
    assert "ClassifyRequest" in json.dumps(operation["requestBody"])
    assert {"labels", "classifier", "abstain_below"} <= set(
        spec["components"]["schemas"]["ClassifyRequest"]["properties"]
    )
