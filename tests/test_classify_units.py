"""Classification pieces that need no model: label sets, temperature, MTEB undersampling, CSV reading."""

import json

import numpy as np
import pytest

from simvec.errors import InputError, InputFileError, InputTypeError
from simvec.eval.classification import (
    mteb_undersample,
    read_classification_dir,
    read_labelled_csv,
    sample_per_label,
    unseen_labels,
)
from simvec.tasks.centroids import loo_scores
from simvec.tasks.classifier_base import fit_temperature, softmax
from simvec.tasks.classify import EmbeddingClassifier
from simvec.tasks.classify_labels import check_templates, humanize, label_descriptions, label_texts


def test_label_names_are_read_as_text():
    assert humanize("card_arrival") == "card arrival"
    assert humanize("top-up  failed") == "top up failed"
    assert humanize("lostCard") == "lost Card"
    assert label_descriptions(["card_arrival", "Refund"]) == {"card_arrival": ["card arrival"], "Refund": ["Refund"]}


def test_descriptions_and_templates_expand_to_texts():
    spec = label_descriptions(
        {"refund": ["money back", "refund please"], "card_arrival": None}, {"card_arrival": "card"}
    )
    assert spec == {"refund": ["money back", "refund please"], "card_arrival": ["card"]}
    texts, owners = label_texts(spec, check_templates(["about {}", "{}"]))
    assert texts == ["about money back", "money back", "about refund please", "refund please", "about card", "card"]
    assert owners == [0, 0, 0, 0, 1, 1]


@pytest.mark.parametrize(
    "labels, fragment",
    [
        (["only"], "at least 2 labels, got 1"),
        ([], "at least 2 labels, got 0"),
        (["a", "b", "a"], "labels[2] 'a' duplicates labels[0]"),
        (["a", "  "], "labels[1] is an empty label"),
        (["a", ""], "labels[1] is an empty label"),
        ({"a": "x", "b": []}, "label 'b' has an empty list of descriptions"),
        ({"a": "x", "b": [""]}, "description 0 of label 'b'"),
    ],
)
def test_bad_label_sets_are_refused(labels, fragment):
    with pytest.raises(InputError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        label_descriptions(labels)


def test_labels_must_be_strings_and_not_one_string():
    with pytest.raises(InputTypeError, match="not a single string"):
        label_descriptions("a,b")
    with pytest.raises(InputTypeError, match=r"labels\[1\] is int"):
        label_descriptions(["a", 3])
    with pytest.raises(InputError, match="not one of the labels"):
        label_descriptions(["a", "b"], {"c": "x"})


def test_templates_need_one_placeholder():
    with pytest.raises(InputError, match="exactly once"):
        check_templates("no placeholder")
    with pytest.raises(InputError, match="exactly once"):
        check_templates(["{} and {}"])


def test_embedding_classifier_options_are_checked():
    with pytest.raises(InputError, match="unknown method 'svm'"):
        EmbeddingClassifier("svm", encoder=object())
    with pytest.raises(InputError, match="label-embedding prior"):
        EmbeddingClassifier("logreg", encoder=object(), labels=["a", "b"])
    with pytest.raises(InputError, match="abstain_below"):
        EmbeddingClassifier("knn", encoder=object(), abstain_below=2)


def test_softmax_rows_sum_to_one_and_temperature_sharpens():
    scores = np.array([[0.9, 0.5, 0.1], [0.2, 0.3, 0.25]])
    for t in (0.01, 0.05, 1.0):
        np.testing.assert_allclose(softmax(scores, t).sum(axis=1), 1.0)
    assert softmax(scores, 0.01)[0, 0] > softmax(scores, 0.1)[0, 0] > softmax(scores, 1.0)[0, 0]


def test_fitted_temperature_recovers_the_generating_one():
    rng = np.random.default_rng(0)
    scores = rng.uniform(-1, 1, size=(4000, 5))
    true_t = 0.2
    proba = softmax(scores, true_t)
    targets = np.array([rng.choice(5, p=p) for p in proba])
    assert fit_temperature(scores, targets) == pytest.approx(true_t, rel=0.1)


def test_leave_one_out_centroid_scores_exclude_the_example():
    unit = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    targets = np.array([0, 1, 1])
    sums = np.zeros((2, 2))
    np.add.at(sums, targets, unit)
    scores, valid = loo_scores(unit, targets, sums)
    assert valid.tolist() == [False, True, True]  # class 0's only example: no centroid is left without it
    assert scores[1, 1] == pytest.approx(0.8) and scores[2, 1] == pytest.approx(0.8)  # the other example alone
    assert scores[0, 0] == -2.0 and scores[2, 0] == pytest.approx(0.6)
    only = np.array([[1.0, 0.0], [0.0, 1.0]])
    s, v = loo_scores(only, np.array([0, 1]), only.copy())
    assert not v.any() and (s[np.arange(2), [0, 1]] == -2.0).all()


def test_mteb_undersampling_compounds_seeded_shuffles():
    labels = ["a", "b", "c"] * 10
    idxs = np.arange(len(labels))
    first = mteb_undersample(labels, 2, idxs, 42)
    expected = np.arange(len(labels))
    np.random.RandomState(42).shuffle(expected)
    np.testing.assert_array_equal(idxs, expected)
    assert sorted(labels[i] for i in first) == ["a", "a", "b", "b", "c", "c"]
    assert [i for i in expected if labels[i] == "a"][:2] == [i for i in first if labels[i] == "a"]
    second = mteb_undersample(labels, 2, idxs, 42)  # shuffles the shuffled order again: a different sample
    assert second != first


def test_sample_per_label_takes_all_of_a_small_label():
    labels = ["a"] * 5 + ["b"] * 2
    chosen = sample_per_label(labels, 3, seed=0)
    assert sorted(labels[i] for i in chosen) == ["a", "a", "a", "b", "b"]
    assert chosen == sample_per_label(labels, 3, seed=0)


def test_unseen_test_labels_are_counted():
    assert unseen_labels(["a", "z", "z", "y"], ["a", "b"]) == {"y": 1, "z": 2}


def test_csv_label_column_missing_names_file_and_column(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,category\nhello,greet\n", encoding="utf-8")
    with pytest.raises(
        InputFileError, match=r"train\.csv: missing column 'intent' \(columns present: text, category\)"
    ):
        read_labelled_csv(path, label_column="intent")
    assert read_labelled_csv(path).labels == ["greet"]  # auto-detects "category"
    path.write_text("text,topic\nhello,greet\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="no label column"):
        read_labelled_csv(path)


def test_csv_with_embedded_newlines_and_empty_label(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('text,label\n"two\nlines",x\nplain,y\n', encoding="utf-8")
    assert read_labelled_csv(path).texts == ["two\nlines", "plain"]
    path.write_text("text,label\nfine,x\nbad,\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"train\.csv:3: empty label"):
        read_labelled_csv(path)


def test_classification_dir_reads_categories(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,x\nb,y\n", encoding="utf-8")
    (tmp_path / "test.csv").write_text("text,label\nc,x\n", encoding="utf-8")
    (tmp_path / "categories.json").write_text(json.dumps(["x", "y"]), encoding="utf-8")
    train, test, names = read_classification_dir(tmp_path)
    assert (len(train), len(test), names, train.name) == (2, 1, ["x", "y"], tmp_path.name)
    with pytest.raises(InputFileError, match="no such directory"):
        read_classification_dir(tmp_path / "missing")
