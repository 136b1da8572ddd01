"""The Encoder with the real bundled model: semantics, shapes, options and bad input."""

import json
import warnings

import numpy as np
import pytest

from simvec import Encoder, ModelLoadError, similarity
from simvec.encoders.models import read_model_card

pytestmark = pytest.mark.model

GUITAR = "A man is playing a guitar."


def test_model_card_of_default_model(encoder):
    assert encoder.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert encoder.dimension == 384
    assert encoder.max_seq_length == 256
    assert encoder.card.pooling == "mean" and encoder.card.normalize


def test_closer_meaning_scores_higher(encoder):
    a, b, c = encoder.encode([GUITAR, "Someone plays guitar.", "The stock market fell."])
    assert a @ b > 0.7 > 0.2 > a @ c


def test_vectors_are_unit_norm_and_match_reference(encoder, reference_model):
    """The exact backends reproduce sentence-transformers; the default (auto: static int8 on VNNI CPUs) stays close."""
    texts = [GUITAR, "", "Ein Mann spielt Gitarre.", "男人在弹吉他。", "x " * 40]
    ours = encoder.encode(texts)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    theirs = reference_model.encode(texts)
    assert (ours * theirs).sum(axis=1).min() > 0.97  # int8: ~0.99 on sentences, 0.975 on the empty string
    exact = Encoder(backend="onnx").encode(texts)  # pinned: the reference reproduction needs an fp32 backend
    assert (exact * theirs).sum(axis=1).min() > 0.9999


def test_shapes_for_empty_single_and_list(encoder):
    assert encoder.encode([]).shape == (0, 384)
    assert encoder.encode([]).dtype == np.float32
    assert encoder.encode("one string").shape == (384,)
    assert encoder.encode(["one", "two"]).shape == (2, 384)
    assert encoder.encode(("a", "b")).shape == (2, 384)


def test_empty_string_is_embedded_not_dropped(encoder):
    vectors = encoder.encode(["", GUITAR])
    assert vectors.shape == (2, 384) and np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)


@pytest.mark.parametrize("bad, kind", [(None, "NoneType"), (3, "int"), (b"bytes", "bytes")])
def test_non_string_item_names_its_index(encoder, bad, kind):
    with pytest.raises(TypeError, match=rf"texts\[1\] is {kind}, expected str"):
        encoder.encode(["fine", bad])


def test_bytes_and_non_iterables_rejected(encoder):
    with pytest.raises(TypeError, match="bytes"):
        encoder.encode(b"raw bytes")
    with pytest.raises(TypeError, match="int"):
        encoder.encode(42)


def test_text_over_character_limit_rejected(encoder, monkeypatch):
    monkeypatch.setattr("simvec.encoders.encoder.MAX_TEXT_CHARS", 10)
    with pytest.raises(ValueError, match=r"texts\[0\] has 11 characters; the limit is 10"):
        encoder.encode(["x" * 11])


def test_batch_size_is_validated(encoder):
    with pytest.raises(ValueError, match="batch_size"):
        encoder.encode(["a"], batch_size=0)


def test_batching_does_not_change_vectors(encoder):
    texts = [f"sentence number {i} " * (i % 7 + 1) for i in range(40)]
    np.testing.assert_allclose(encoder.encode(texts, batch_size=3), encoder.encode(texts, batch_size=64), atol=1e-5)


def test_long_text_truncation_is_counted_and_warned(encoder):
    with pytest.warns(UserWarning, match="1 of 2 texts were longer than the model's 256 tokens"):
        encoder.encode(["word " * 600, "short"])
    assert encoder.last_stats.truncated == 1
    assert encoder.last_stats.texts == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoder.encode(["short"])
    assert encoder.last_stats.truncated == 0


@pytest.mark.parametrize("dim", [0, -1, 385])
def test_truncate_dim_out_of_range(encoder, dim):
    with pytest.raises(ValueError, match="truncate_dim"):
        encoder.encode(["a"], truncate_dim=dim)


def test_truncate_dim_renormalises(encoder):
    full = encoder.encode([GUITAR])
    short = encoder.encode([GUITAR], truncate_dim=128)
    assert short.shape == (1, 128)
    np.testing.assert_allclose(np.linalg.norm(short), 1.0, atol=1e-5)
    np.testing.assert_allclose(short[0], full[0, :128] / np.linalg.norm(full[0, :128]), atol=1e-5)


def test_precisions(encoder):
    texts = [GUITAR, "Someone plays guitar.", "The stock market fell."]
    assert encoder.encode(texts, precision="binary").shape == (3, 48)
    assert encoder.encode(texts, precision="ubinary").dtype == np.uint8
    assert encoder.encode(texts, precision="float16").dtype == np.float16
    calibration = encoder.encode([f"calibration sentence {i}" for i in range(50)])
    codes = encoder.encode(texts, precision="int8", calibration_embeddings=calibration)
    assert codes.dtype == np.int8 and codes.shape == (3, 384)
    with pytest.raises(ValueError, match="valid precisions"):
        encoder.encode(texts, precision="int3")


def test_prompt_is_prefixed(encoder):
    np.testing.assert_allclose(encoder.encode("query: hello"), encoder.encode("hello", prompt="query: "), atol=1e-6)
    with pytest.raises(ValueError, match="has no prompt named 'query'"):
        encoder.encode("hello", prompt_name="query")


def test_model_card_prompts_drive_encode_queries(tmp_path, encoder):
    model_dir = tmp_path / "prompted"
    model_dir.mkdir()
    for item in encoder.card.path.iterdir():
        (model_dir / item.name).symlink_to(item)
    (model_dir / "config_sentence_transformers.json").unlink()
    (model_dir / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "document": "passage: "}})
    )
    # torch for both: a copied model is a new model, and auto would build and race every backend for it
    prompted, plain = Encoder(model_dir, backend="torch"), Encoder(backend="torch")
    assert prompted.card.prompts == {"query": "query: ", "document": "passage: "}
    np.testing.assert_allclose(prompted.encode_queries("hi"), plain.encode("query: hi"), atol=1e-6)
    np.testing.assert_allclose(prompted.encode_documents("hi"), plain.encode("passage: hi"), atol=1e-6)


def test_missing_model_path_named(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ModelLoadError, match=f"does not exist: {missing}"):
        Encoder(missing)


def test_directory_that_is_not_a_model_says_what_is_missing(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match=rf"{tmp_path} is not a sentence-transformers model: missing modules.json"):
        Encoder(tmp_path)


def test_model_without_pooling_config(tmp_path, encoder):
    (tmp_path / "modules.json").write_text((encoder.card.path / "modules.json").read_text())
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="missing 1_Pooling/config.json"):
        read_model_card(tmp_path)


def test_similarity_convenience():
    assert similarity(GUITAR, "Someone plays guitar.") > similarity(GUITAR, "The stock market fell.")
    assert similarity(GUITAR, GUITAR, metric="euclidean") == pytest.approx(0.0, abs=1e-3)
