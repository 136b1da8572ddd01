"""Shared fixtures: the real default model (loaded once per session) and the evaluation data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
# CI clones the repo with shared/ beside it; SIMVEC_DATA points elsewhere when needed.
DATA_DIR = Path(os.environ.get("SIMVEC_DATA", REPO.parent / "shared" / "data"))


MODEL_FIXTURES = {"encoder", "exact_encoder", "reference_model"}
# The collection backends parametrised tests run on; Milvus Lite runs in-process but is an external engine.
BACKENDS = ["native", pytest.param("milvus", marks=pytest.mark.engine)]


def pytest_collection_modifyitems(items):
    """A test that uses a model fixture (directly or through another fixture) is a `model` test."""
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(autouse=True)
def _model_marker_is_honest(request, monkeypatch):
    """A test not marked `model` must not load the model, so `pytest -m "not model"` stays fast."""
    if request.node.get_closest_marker("model") is None:
        from simvec.encoders import encoder

        def refuse(*args, **kwargs):
            raise AssertionError(f"{request.node.nodeid} loads the model: mark it with pytest.mark.model")

        monkeypatch.setattr(encoder.Encoder, "__init__", refuse)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """The collection backend of a parametrised test: "native" (SQLite + FAISS) or "milvus" (Milvus Lite, per test)."""
    return request.param


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.fail(f"evaluation data not found at {DATA_DIR}; set SIMVEC_DATA to the shared/data folder")
    return DATA_DIR


@pytest.fixture(scope="session")
def encoder():
    from simvec import Encoder

    return Encoder()


@pytest.fixture()
def fresh_embedding_cache(tmp_path, monkeypatch, encoder) -> Path:
    """An empty embedding cache in SIMVEC_CACHE_DIR that still shares the session's model artifacts.

    The ONNX export, its int8 calibration and the `auto` decision live in the same directory as the embedding
    cache; linking them keeps a test that needs a cold embedding cache from re-exporting the model (~30 s).
    """
    from simvec.encoders.artifacts import cache_dir

    fresh = tmp_path / "cache"
    fresh.mkdir()
    for entry in cache_dir().iterdir():
        if entry.is_dir():  # artifacts are directories; the embedding cache is embeddings.sqlite (+ -wal, -shm)
            (fresh / entry.name).symlink_to(entry, target_is_directory=True)
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(fresh))
    return fresh


@pytest.fixture(scope="session")
def exact_encoder():
    """fp32 ONNX: torch's vectors to 1e-4, for tests whose thresholds reproduce reference numbers exactly."""
    from simvec import Encoder

    return Encoder(backend="onnx")


@pytest.fixture(scope="session")
def fp32_stsb(data_dir, exact_encoder):
    """The full STS-B test on fp32 (the published figure's reproduction), measured once for every test that needs it."""
    from simvec.eval.sts import evaluate_sts, read_stsb

    return evaluate_sts(exact_encoder, read_stsb(data_dir / "stsb", "test"), n_resamples=100)


@pytest.fixture(scope="session")
def reference_model():
    """sentence-transformers on the same bundled model: the anchor our numbers are checked against."""
    from sentence_transformers import SentenceTransformer

    from simvec.encoders.models import default_model_path

    return SentenceTransformer(str(default_model_path()), device="cpu")


@pytest.fixture(scope="session")
def beir_subset(tmp_path_factory):
    """Writes a smaller BEIR folder: the first `queries` test queries, their judged documents and `others` more."""
    from simvec.eval.readers import read_beir

    def write(source: Path, queries: int, others: int) -> Path:
        full = read_beir(source)
        kept_queries = sorted(full.queries, key=int)[:queries]
        relevant = {doc for q in kept_queries for doc in full.qrels[q]}
        keep = relevant | set([doc for doc in full.corpus if doc not in relevant][:others])
        out = tmp_path_factory.mktemp(f"{source.name}-subset") / source.name
        (out / "qrels").mkdir(parents=True)
        for name, ids in (("corpus.jsonl", keep), ("queries.jsonl", set(kept_queries))):
            with (source / name).open(encoding="utf-8") as src, (out / name).open("w", encoding="utf-8") as dst:
                dst.writelines(line for line in src if json.loads(line)["_id"] in ids)
        judged = [f"{q}\t{d}\t{g}" for q in kept_queries for d, g in full.qrels[q].items()]
        (out / "qrels" / "test.tsv").write_text("\n".join(["query-id\tcorpus-id\tscore", *judged]) + "\n")
        return out

    return write
