"""Backends: onnx / onnx-int8 against torch, the verified artefact cache, errors, static wiring, auto."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from simvec import Encoder
from simvec.encoders import artifacts
from simvec.encoders.models import resolve_model
from simvec.encoders.optional import MissingDependencyError

pytestmark = pytest.mark.model


@pytest.fixture(scope="session")
def card():
    return resolve_model(None)


@pytest.fixture(scope="session")
def torch_encoder():
    return Encoder(backend="torch")


@pytest.fixture(scope="session")
def onnx_encoder():
    """Exports once into the user cache (or reuses it): every test below shares this export."""
    return Encoder(backend="onnx")


@pytest.fixture(scope="session")
def int8_encoder(onnx_encoder):
    return Encoder(backend="onnx-int8")


@pytest.fixture(scope="session")
def varied_texts(data_dir) -> list[str]:
    """200 texts: STS-B sentences plus empty, whitespace, very long, non-Latin, symbols and code."""
    from simvec.eval.sts import read_stsb

    pairs = read_stsb(data_dir / "stsb", "test")
    special = [
        "",
        "",
        " ",
        "\n\t",
        "a",
        "?",
        "🙂🚀🔥",
        "12345 67890",
        "x" * 3000,
        "word " * 2000,
        "The quick brown fox jumps over the lazy dog. " * 60,
        "自然语言处理是人工智能的一个分支。",
        "東京は日本の首都です。",
        "한국어 문장을 임베딩합니다.",
        "Привет, как дела? Это тестовое предложение.",
        "مرحبا بالعالم، هذه جملة عربية.",
        "यह एक हिंदी वाक्य है।",
        "Γειά σου κόσμε",
        "שלום עולם",
        "def f(x):\n    return x ** 2  # code",
        "<html><body>tag soup</body></html>",
        "ÀÉÎÕÜ àéîõü ß ø å",
        "mixed English и русский 和中文",
        "URL https://example.org/a?b=c&d=e",
    ]
    return special + pairs.sentences1[: 200 - len(special)]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def test_onnx_matches_torch_on_varied_texts(torch_encoder, onnx_encoder, varied_texts):
    assert len(varied_texts) == 200
    reference = torch_encoder.encode(varied_texts, batch_size=32)
    vectors = onnx_encoder.encode(varied_texts, batch_size=32)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    cos = cosines(vectors, reference)
    worst = int(cos.argmin())
    assert cos.min() >= 0.9999, f"text {worst} ({varied_texts[worst][:40]!r}) has cosine {cos.min():.6f} to torch"
    # same tokenizer loop: the same texts are truncated and counted
    assert onnx_encoder.last_stats.truncated == torch_encoder.last_stats.truncated > 0


def test_onnx_single_text_and_empty_contract(onnx_encoder):
    assert onnx_encoder.encode("one text").shape == (384,)
    assert onnx_encoder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        onnx_encoder.encode(["ok", None])


def test_int8_stays_close_to_torch(torch_encoder, int8_encoder, varied_texts):
    sentences = varied_texts[24:]
    cos = cosines(int8_encoder.encode(sentences), torch_encoder.encode(sentences))
    assert cos.mean() >= 0.98 and cos.min() >= 0.95


def test_onnx_inference_needs_no_torch(card, onnx_encoder, monkeypatch):
    from simvec.encoders.onnx import OnnxBackend

    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now raises ImportError
    backend = OnnxBackend(card)
    vectors, _ = backend.embed(["no torch here"], 1)
    assert vectors.shape == (1, 384)


def test_corrupted_cached_export_is_detected_and_rebuilt(card, int8_encoder, tmp_path, monkeypatch):
    from simvec.encoders.onnx import OnnxBackend

    # copy the valid artefacts into a private cache, then damage the int8 graph (rebuilding it is cheap)
    graph = int8_encoder.backend.model_dir.relative_to(artifacts.cache_dir()) / "model.onnx"
    for kind in ("onnx", "onnx-int8"):
        shutil.copytree(artifacts.cache_dir() / kind, tmp_path / kind)
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path))
    damaged = tmp_path / graph
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # a partial write
    assert "bytes" in artifacts.problem(damaged.parent)
    with pytest.warns(UserWarning, match="unusable"):
        rebuilt = OnnxBackend(card, int8=True)
    assert artifacts.problem(rebuilt.model_dir) is None
    texts = ["rebuilt graphs embed like the original", "second"]
    np.testing.assert_allclose(rebuilt.embed(texts, 2)[0], int8_encoder.backend.embed(texts, 2)[0], atol=1e-5)


def test_artifact_cache_verifies_and_rebuilds(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path))
    builds = []

    def build(out):
        builds.append(out)
        (out / "weights.bin").write_bytes(b"0123456789")

    first = artifacts.load_or_build("thing", "k", build, "test thing")
    assert artifacts.load_or_build("thing", "k", build, "test thing") == first and len(builds) == 1
    (first / "weights.bin").write_bytes(b"0123456780")  # same size, different content: the hash catches it
    with pytest.warns(UserWarning, match="sha256"):
        artifacts.load_or_build("thing", "k", build, "test thing")
    (first / "manifest.json").unlink()  # an interrupted build never wrote its manifest
    with pytest.warns(UserWarning, match="partial"):
        artifacts.load_or_build("thing", "k", build, "test thing")
    assert len(builds) == 3 and (first / "weights.bin").read_bytes() == b"0123456789"

    def failing(out):
        (out / "half").write_bytes(b"x")
        raise RuntimeError("export crashed")

    with pytest.raises(RuntimeError):
        artifacts.load_or_build("thing", "other", failing, "test thing")
    assert sorted(p.name for p in (tmp_path / "thing").iterdir()) == ["k"]  # no partial dir, no temp left


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown backend 'tensorrt'.*torch, onnx, onnx-int8, static, auto"):
        Encoder(backend="tensorrt")


@pytest.mark.parametrize(
    ("backend", "module", "package"),
    [
        ("onnx", "onnxruntime", "onnxruntime"),
        ("onnx-int8", "onnxruntime", "onnxruntime"),
        ("static", "model2vec", "model2vec"),
    ],
)
def test_missing_dependency_names_the_package(backend, module, package, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError, match=f"pip install {package}"):
        Encoder(backend=backend)


def test_static_backend_distils_once_and_embeds():
    """The real model2vec distillation, built once into the user cache (about a minute on a cold machine)
    and reused: a second Encoder loads the same verified artefact without rebuilding it."""
    encoder = Encoder(backend="static")
    manifest = encoder.backend.model_dir / artifacts.MANIFEST
    built = manifest.stat().st_mtime_ns
    assert Encoder(backend="static").backend.model_dir == encoder.backend.model_dir
    assert manifest.stat().st_mtime_ns == built  # reused, not rebuilt
    assert encoder.dimension == 256
    guitar, plays, market = encoder.encode(
        ["A man is playing a guitar.", "Someone plays guitar.", "The stock market fell."]
    )
    assert guitar @ plays > guitar @ market + 0.2
    vectors = encoder.encode(["a static model", "", "word " * 5000])
    assert vectors.shape == (3, 256) and np.allclose(np.linalg.norm(vectors[[0, 2]], axis=1), 1, atol=1e-5)
    assert encoder.last_stats.truncated == 0  # a bag of tokens has no context window
    assert encoder.encode([]).shape == (0, 256)


def test_auto_never_picks_int8_that_fails_the_check(card, int8_encoder, tmp_path, monkeypatch):
    from simvec.encoders import auto

    monkeypatch.setattr(auto, "cache_dir", lambda: tmp_path)  # keep this decision out of the user cache
    strict = auto.Tolerance(min_cosine=0.9999, max_pair_delta=0.001)  # int8 cannot meet this; fp32 onnx can
    backend, decision = auto.choose_backend(card, strict, refresh=True)
    report = decision["candidates"]
    assert report["onnx-int8"]["passed"] is False
    assert backend.name in ("onnx", "torch") and report[backend.name]["passed"]
    assert "OUTSIDE tolerance" in decision["reason"]
    again, again_decision = auto.choose_backend(card, strict)  # recorded: no second measurement
    assert again.name == backend.name and again_decision["reason"].endswith("[cached decision]")


def test_auto_is_the_default_explains_itself_and_rejects_batch_dependent_int8(onnx_encoder, int8_encoder):
    from simvec.encoders.auto import Tolerance

    encoder = Encoder()
    details = encoder.info()
    # dynamic int8 is batch-dependent (a text's vector changes with its batch neighbours), so never the default
    assert details["backend"] in ("onnx", "torch")
    assert details["backend"] in details["backend_reason"] and "tolerance" in details["backend_reason"]
    report = encoder.backend_choice["candidates"]
    assert report["onnx-int8"]["passed"] is False
    assert (
        report["onnx-int8"]["batch_cosine"] < Tolerance().min_batch_cosine <= report[details["backend"]]["batch_cosine"]
    )
