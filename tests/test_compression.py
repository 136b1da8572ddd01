"""Compressed collections: two-stage search, filters, deletes, rescoring file rebuilt, spec errors, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from simvec import Collection
from simvec.store import CollectionError
from test_codecs import _one_faiss_thread  # noqa: F401  autouse: one FAISS thread per module

pytestmark = pytest.mark.model

DIM = 384  # the default model's dimension: collections check vectors against it


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((30, DIM))
    x = centres[rng.integers(0, 30, 700)] + 0.6 * rng.standard_normal((700, DIM))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return x[:600], x[600:]  # documents, queries


def _make(tmp_path, docs, compression="binary-itq", **kwargs) -> Collection:
    collection = Collection.create(tmp_path / "c", compression=compression, **kwargs)
    collection.add(
        vectors=docs, ids=[f"d{i}" for i in range(len(docs))], metadata=[{"g": i % 4} for i in range(len(docs))]
    )
    return collection


def _overlap(found, truth) -> float:
    return float(
        np.mean([len({h.id for h in f} & {h.id for h in t}) / len(t) for f, t in zip(found, truth, strict=False)])
    )


@pytest.mark.parametrize(
    "compression", ["float16", "int8", "binary", "binary-itq", "pq32", {"truncate_dim": 256, "codec": "binary"}]
)
def test_two_stage_search_matches_exact(tmp_path, data, compression) -> None:
    docs, queries = data
    with _make(tmp_path, docs, compression) as collection:
        found, truth = collection.search_batch(queries, 10), collection.search_batch(queries, 10, exact=True)
        assert _overlap(found, truth) >= 0.9
        if collection.compression.rescore != "none":  # rescored scores are the exact (int8) cosines
            assert abs(found[0][0].score - truth[0][0].score) < 0.01


def test_filters_and_deletes(tmp_path, data) -> None:
    docs, queries = data
    with _make(tmp_path, docs, "binary") as collection:
        hits = collection.search(queries[0], 20, filter={"g": 2})
        assert len(hits) == 20 and all(hit.metadata["g"] == 2 for hit in hits)
        tiny = collection.search(queries[0], 10, filter={"$or": [{"g": 1}]})
        assert len(tiny) == 10
        top = collection.search(queries[0], 5)[0].id
        collection.delete([top])
        assert top not in [hit.id for hit in collection.search(queries[0], 50)]
        # replace a document's vector: the new one is found (its label is newer than the rescoring file)
        collection.add(vectors=queries[1:2], ids=["d7"])
        assert collection.search(queries[1], 1)[0].id == "d7"


def test_rescore_file_missing_or_stale_is_rebuilt(tmp_path, data) -> None:
    docs, queries = data
    with _make(tmp_path, docs, "binary", rescore="float32") as collection:
        truth = collection.search_batch(queries[:5], 10, exact=True)
        collection.refresh()
        store = tmp_path / "c" / "rescore-float32.vec"
        assert store.exists()
    store.write_bytes(store.read_bytes()[:1000])  # truncated
    with Collection.open(tmp_path / "c") as collection:
        assert _overlap(collection.search_batch(queries[:5], 10), truth) >= 0.9
    store.unlink()
    with Collection.open(tmp_path / "c") as collection:
        assert _overlap(collection.search_batch(queries[:5], 10), truth) >= 0.9
        assert store.exists()
    # a file from a newer generation (another lineage) is not trusted: its rows are garbage on purpose
    raw = bytearray(store.read_bytes())
    header_end = raw.index(b"}") + 1
    header = json.loads(raw[len(b"SIMVECRS1\n") + 4 : header_end])
    raw[-DIM * 4 * len(docs) :] = np.zeros(DIM * len(docs), dtype="<f4").tobytes()
    newer = json.dumps({**header, "generation": header["generation"] + 100}).encode()
    assert len(newer) >= header_end - len(b"SIMVECRS1\n") - 4 - 1
    store.write_bytes(b"SIMVECRS1\n" + len(newer).to_bytes(4, "little") + newer + bytes(raw[header_end:]))
    with Collection.open(tmp_path / "c") as collection:
        found = collection.search_batch(queries[:5], 10)
        assert _overlap(found, truth) >= 0.9 and found[0][0].score > 0.1


def test_set_compression_rebuilds_without_reembedding(tmp_path, data) -> None:
    docs, queries = data
    with _make(tmp_path, docs, None) as collection:
        truth = collection.search_batch(queries[:5], 10)
        assert collection.info()["compression"] == "none" and collection.info()["ram_bytes_per_vector"] == 4 * DIM
        collection.set_compression("pq48", rescore="float32")
        info = collection.info()
        assert info["compression"] == "pq48+float32x10" and info["ram_bytes_per_vector"] == 48
        assert info["rescore_bytes_on_disk"] >= len(docs) * DIM * 4
        assert _overlap(collection.search_batch(queries[:5], 10), truth) >= 0.9
        collection.set_compression(None)
        assert collection.compression is None and not list((tmp_path / "c").glob("rescore-*"))
    with Collection.open(tmp_path / "c") as collection:
        assert _overlap(collection.search_batch(queries[:5], 10), truth) == 1.0


def test_spec_errors(tmp_path, data) -> None:
    with pytest.raises(CollectionError, match="valid compression"):
        Collection.create(tmp_path / "a", compression="int3")
    with pytest.raises(CollectionError, match="does not divide the dimension 384"):
        Collection.create(tmp_path / "b", compression="pq50")
    with pytest.raises(CollectionError, match="index must be 'auto' or 'flat'"):
        Collection.create(tmp_path / "c", compression="int8", index="hnsw")
    with _make(tmp_path, data[0][:100], "pq48") as collection:
        with pytest.raises(CollectionError, match="at least 256 training vectors"):
            collection.search(data[1][0], 5)
        collection.set_compression("binary")
        with pytest.raises(CollectionError, match="needs at least 384 training vectors"):
            collection.set_compression("binary-itq")
        assert collection.compression.name == "binary+int8x10" and len(collection.search(data[1][0], 5)) == 5


def test_cli_compress_and_info(tmp_path, data) -> None:
    with _make(tmp_path, data[0], None):
        pass

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "simvec", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )

    result = run("collection", "compress", str(tmp_path / "c"), "binary")
    assert result.returncode == 0, result.stderr
    info = json.loads(run("collection", "info", str(tmp_path / "c"), "--json").stdout)
    assert (
        info["compression"] == "binary+int8x10"
        and info["ram_bytes_per_vector"] == 48
        and info["rescore_bytes_on_disk"] > 0
    )
    bad = run("collection", "compress", str(tmp_path / "c"), "pq7")
    assert bad.returncode == 2 and "valid m" in bad.stderr
