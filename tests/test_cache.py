"""The persistent embedding cache: hits skip the model, the key holds what changes the model's output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simvec import Encoder
from simvec.encoders import EmbeddingCache

pytestmark = pytest.mark.model

TEXTS = ["The cache stores float32 vectors.", "A second sentence.", "", "Ein dritter Satz."]


@pytest.fixture(scope="module")
def onnx_encoder():
    return Encoder(backend="onnx")


@pytest.fixture
def cached(onnx_encoder, tmp_path):
    """The module's ONNX model behind a fresh cache file (loading the backend once keeps this cheap)."""
    encoder = Encoder.__new__(Encoder)
    encoder.__dict__.update(onnx_encoder.__dict__)
    encoder.cache, encoder._namespace = EmbeddingCache(tmp_path / "emb.sqlite"), None
    return encoder


def forbid_model(encoder, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model ran although every text was cached")

    monkeypatch.setattr(encoder.backend, "embed", refuse)


def test_hit_returns_identical_vectors_and_skips_the_model(cached, monkeypatch):
    first = cached.encode(TEXTS)
    assert cached.last_stats.cache_hits == 0 and cached.cache.misses == len(TEXTS)
    forbid_model(cached, monkeypatch)
    second = cached.encode(TEXTS)
    assert np.array_equal(first, second)
    assert cached.last_stats.cache_hits == len(TEXTS) and cached.cache.hits == len(TEXTS)


def test_cached_vectors_equal_uncached_ones(cached, onnx_encoder):
    cached.encode(TEXTS)
    np.testing.assert_allclose(cached.encode(TEXTS), onnx_encoder.encode(TEXTS), atol=1e-6)


def test_post_processing_options_reuse_the_float32_entries(cached, onnx_encoder, monkeypatch):
    options = ({"truncate_dim": 64}, {"precision": "int8"}, {"precision": "binary"}, {"normalize": False})
    expected = [onnx_encoder.encode(TEXTS, **o) for o in options]  # before forbidding: the backend is shared
    cached.encode(TEXTS)
    forbid_model(cached, monkeypatch)
    for option, want in zip(options, expected, strict=False):
        np.testing.assert_allclose(
            cached.encode(TEXTS, **option).astype(np.float32), want.astype(np.float32), atol=1e-6
        )


def test_prompt_is_part_of_the_key(cached):
    cached.encode(TEXTS)
    cached.encode(TEXTS, prompt="query: ")
    assert cached.last_stats.cache_hits == 0


def test_mixed_hits_misses_and_duplicates(cached, onnx_encoder):
    cached.encode(TEXTS[:2])
    calls = []
    embed = cached.backend.embed
    texts = [TEXTS[0], "new one", "new one", TEXTS[1], "another new"]
    try:
        cached.backend.embed = lambda items, *a, **k: calls.append(list(items)) or embed(items, *a, **k)
        vectors = cached.encode(texts)
    finally:
        del cached.backend.embed
    assert calls == [["new one", "another new"]]  # only the misses, each once
    assert cached.last_stats.cache_hits == 2 and cached.last_stats.texts == 5
    np.testing.assert_allclose(vectors, onnx_encoder.encode(texts), atol=1e-6)


def test_truncation_is_remembered_on_hits(cached):
    long_text = "token " * 1000
    with pytest.warns(UserWarning, match="truncated"):
        cached.encode([long_text, "short"])
    with pytest.warns(UserWarning, match="1 of 2 texts"):
        cached.encode([long_text, "short"])
    assert cached.last_stats.cache_hits == 2 and cached.last_stats.truncated == 1


def test_backends_do_not_share_entries(cached, tmp_path):
    cached.encode(TEXTS)
    torch_encoder = Encoder(backend="torch", cache=cached.cache)
    torch_encoder.encode(TEXTS)
    assert torch_encoder.last_stats.cache_hits == 0
    info = cached.cache.info()
    assert info["entries"] == 2 * len(TEXTS)
    assert sorted(ns["backend"] for ns in info["namespaces"]) == ["onnx-v1", "torch"]


def test_info_and_clear(cached):
    cached.encode(TEXTS)
    info = cached.cache.info()
    assert info["entries"] == len(TEXTS) and info["bytes"] > 0
    assert info["namespaces"][0]["model"] == cached.model_id and info["namespaces"][0]["dimension"] == 384
    assert cached.cache.clear() == len(TEXTS)
    assert cached.cache.info()["entries"] == 0


def test_cache_argument_forms(tmp_path, monkeypatch):
    from simvec.encoders.cache import open_cache

    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path))
    assert open_cache(None) is None and open_cache(False) is None
    assert open_cache(True).path == tmp_path / "embeddings.sqlite"
    assert open_cache(tmp_path / "x.sqlite").path == tmp_path / "x.sqlite"
    with pytest.raises(TypeError, match="cache must be"):
        open_cache(3)


def test_cli_embed_uses_the_cache_and_cache_commands(tmp_path, capsys):
    from simvec.cli import main

    source = tmp_path / "in.txt"
    source.write_text("first line\nsecond line\n", encoding="utf-8")
    store = tmp_path / "cli.sqlite"
    for _ in range(2):
        with pytest.raises(SystemExit) as exit_info:
            main(
                ["embed", str(source), "-o", str(tmp_path / "out.npy"), "--backend", "onnx", "--cache-path", str(store)]
            )
        assert exit_info.value.code == 0
    assert "2 from the cache" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["cache", "info", "--path", str(store), "--json"])
    assert json.loads(capsys.readouterr().out)["entries"] == 2
    with pytest.raises(SystemExit):
        main(["cache", "clear", "--path", str(store)])
    assert "deleted 2" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(
            [
                "embed",
                str(source),
                "-o",
                str(tmp_path / "o2.npy"),
                "--backend",
                "onnx",
                "--no-cache",
                "--cache-path",
                str(store),
            ]
        )
    assert EmbeddingCache(store).info()["entries"] == 0
