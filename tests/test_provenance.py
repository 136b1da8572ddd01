"""Provenance: a collection (and `simvec embed` output) records the backend that embedded it, and keeps using it."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pyarrow.parquet as pq
import pytest

from simvec.cli import main
from simvec.encoders import encoder as encoder_module
from simvec.encoders import provenance as provenances
from simvec.encoders.backends import load_backend
from simvec.encoders.shared import clear_shared
from simvec.sources import sidecar_path
from simvec.store import Collection

DOCS = ["Aspirin lowers the risk of heart attack.", "Vitamin D and bone density in adults.", "The stock market fell."]
QUERIES = ["does aspirin help the heart?", "bones"]


@pytest.fixture(autouse=True)
def _fresh_shared_encoders():
    """Tests here change what `auto` picks: no shared encoder may leak in from other tests, or out of these."""
    clear_shared()
    yield
    clear_shared()


@pytest.fixture()
def auto_picks_torch(monkeypatch):
    """`auto` chooses torch in this test (so it differs from the onnx backend the collections record)."""

    def choose(card, *args, **kwargs):
        return load_backend(card, "torch"), {"chosen": "torch", "reason": "this test's stand-in for auto"}

    monkeypatch.setattr(encoder_module, "choose_backend", choose)


def _onnx_collection(path, exact_encoder):
    """A collection created with an explicit fp32 ONNX encoder, holding DOCS."""
    with Collection.create(path, model=exact_encoder) as collection:
        collection.add(DOCS, ids=["a", "b", "c"])
    return path


# ---------------------------------------------------------------- pure functions (no model needed, but cheap)


def test_parse_describe_and_compare_provenances():
    recorded = {"backend": "onnx-int8", "fingerprint": "onnx-int8-v2-static3", "artifact": "ab" * 32}
    assert provenances.parse_provenance(recorded) == recorded
    assert provenances.parse_provenance(None) is None
    assert provenances.parse_provenance({"backend": ""}) is None  # damaged: treated as not recorded
    assert provenances.describe(recorded) == "onnx-int8 (onnx-int8-v2-static3, artifact abababababab)"
    assert provenances.differences(recorded, {**recorded, "artifact": "cd" * 32}) == ["artifact"]
    assert provenances.mismatch(recorded, dict(recorded), "collection 'x'") is None
    message = provenances.mismatch(recorded, {"backend": "torch", "fingerprint": "torch", "artifact": None}, "c 'x'")
    assert "onnx-int8" in message and "torch" in message


# ---------------------------------------------------------------- collections


def test_a_collection_records_the_backend_at_its_first_add_and_info_shows_it(tmp_path, exact_encoder, backend):
    with Collection.create(tmp_path / "c", backend=backend) as collection:  # no encoder given: nothing known yet
        assert collection.info()["provenance"] is None and collection.info()["backend_in_use"] is None
    with Collection.open(tmp_path / "c", model=exact_encoder) as collection:
        collection.add(DOCS)
        info = collection.info()
    assert info["provenance"] == exact_encoder.provenance
    assert info["provenance"]["backend"] == "onnx" and info["provenance"]["artifact"]  # the exported graph's digest
    assert info["backend_in_use"] == "onnx"

    with Collection.create(tmp_path / "d", model=exact_encoder, backend=backend) as collection:  # known at create
        assert collection.provenance == exact_encoder.provenance


def test_reopened_collection_embeds_queries_and_documents_with_the_recorded_backend(
    tmp_path, exact_encoder, auto_picks_torch
):
    path = _onnx_collection(tmp_path / "c", exact_encoder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        collection = Collection.open(path)  # no model: the recorded backend, not auto's torch
        hits = collection.search_batch(QUERIES, k=3)
    assert not [w for w in caught if "backend" in str(w.message)]  # it loads here: nothing to warn about
    with collection:
        assert collection.encoder.backend.name == "onnx" and collection.info()["backend_in_use"] == "onnx"
        assert collection.encoder.provenance == exact_encoder.provenance
        queries = exact_encoder.encode_queries(QUERIES)
        _, stored = collection.matrix()
        for hit_list, query in zip(hits, queries, strict=True):
            scores = {hit.id: hit.score for hit in hit_list}
            expected = dict(zip(["a", "b", "c"], (stored @ query).tolist(), strict=True))
            assert scores == pytest.approx(expected, abs=1e-6)  # int8 or torch would miss by ~1e-3 to 1e-2
        np.testing.assert_array_equal(collection.encoder.encode_queries(QUERIES), queries)
        collection.add(["Telescopes see far."], ids=["d"])
        (added,) = collection.get(["d"], include_vectors=True)
        np.testing.assert_allclose(added.vector, exact_encoder.encode_documents("Telescopes see far."), atol=1e-6)
    from simvec.encoders import shared_encoder

    assert shared_encoder().backend.name == "torch"  # what auto picked in this test: not what the collection used
    assert shared_encoder(backend="onnx") is collection.encoder  # shared per (model, backend)
    assert shared_encoder(backend="torch") is shared_encoder()  # auto's encoder serves its backend: one load


@pytest.mark.parametrize("how", ["unknown backend", "runtime fails to import"])
def test_a_recorded_backend_that_cannot_be_built_here_warns_once_naming_both(
    tmp_path, exact_encoder, auto_picks_torch, monkeypatch, how
):
    path = _onnx_collection(tmp_path / "c", exact_encoder)
    with Collection.open(path) as collection, collection.store.write():
        recorded = {**collection.provenance, "backend": "onnx-fp8" if how == "unknown backend" else "openvino-int8"}
        collection.store.set_setting("provenance", recorded)
    if how == "runtime fails to import":
        real = encoder_module.load_backend

        def load(card, backend, device="cpu"):
            if backend == "openvino-int8":
                raise ImportError("No module named 'openvino'")
            return real(card, backend, device)

        monkeypatch.setattr(encoder_module, "load_backend", load)

    with pytest.warns(UserWarning) as caught, Collection.open(path) as collection:
        hits = collection.search("does aspirin help the heart?", k=1)
    assert hits[0].id == "a"  # still works, on auto's choice
    messages = [str(w.message) for w in caught if "cannot be built here" in str(w.message)]
    assert len(messages) == 1, messages
    assert f"{recorded['backend']!r}" in messages[0] and "'torch' (auto's choice)" in messages[0]
    assert "collection 'c'" in messages[0]

    with warnings.catch_warnings(record=True) as again, Collection.open(path) as collection:
        warnings.simplefilter("always")
        collection.search("bones", k=1)
        assert collection.info()["backend_in_use"] == "torch"
        assert collection.info()["provenance"]["backend"] == recorded["backend"]  # the record is kept
    assert not [w for w in again if "cannot be built here" in str(w.message)]  # once per process and collection


def test_an_explicit_encoder_on_another_backend_is_used_with_one_warning(tmp_path, exact_encoder, auto_picks_torch):
    path = _onnx_collection(tmp_path / "c", exact_encoder)
    other = encoder_module.Encoder()  # auto: torch in this test
    with pytest.warns(UserWarning, match=r"embedded with backend onnx \(.*now embedded with torch") as caught:
        with Collection.open(path, model=other) as collection:
            assert collection.encoder is other
            collection.search("bones", k=1)
        Collection.open(path, model=other).close()
    assert len([w for w in caught if "now embedded with torch" in str(w.message)]) == 1


def test_an_older_collection_without_provenance_gets_it_at_its_next_add(tmp_path, exact_encoder):
    path = _onnx_collection(tmp_path / "c", exact_encoder)
    with Collection.open(path) as collection, collection.store.write():  # as written before provenance existed
        collection.store.conn.execute("DELETE FROM settings WHERE key = 'provenance'")
    with Collection.open(path, model=exact_encoder) as collection:
        assert collection.provenance is None
        assert [hit.id for hit in collection.search("bones", k=1)] == ["b"]  # searches as before
        collection.add(["Telescopes see far."])
    with Collection.open(path) as collection:
        assert collection.provenance == exact_encoder.provenance


# ---------------------------------------------------------------- simvec embed


def _run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, err


def test_simvec_embed_records_provenance_in_parquet_metadata_the_npy_sidecar_and_the_log(
    tmp_path, capsys, exact_encoder
):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    expected = exact_encoder.provenance
    for name in ("out.parquet", "out.npy"):
        code, err = _run(capsys, "embed", str(source), "-o", str(tmp_path / name), "--backend", "onnx", "--no-cache")
        assert code == 0, err
        assert f"on backend {provenances.describe(expected)}" in err

    metadata = pq.read_schema(tmp_path / "out.parquet").metadata
    assert json.loads(metadata[b"simvec.provenance"]) == expected
    assert json.loads(metadata[b"simvec.model"]) == exact_encoder.model_id
    assert json.loads(metadata[b"simvec.dimension"]) == 384

    sidecar = json.loads(sidecar_path(tmp_path / "out.npy").read_text())
    assert sidecar_path(tmp_path / "out.npy").name == "out.npy.json"
    assert sidecar == {
        "model": exact_encoder.model_id,
        "dimension": 384,
        "precision": "float32",
        "provenance": expected,
    }
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), exact_encoder.encode(DOCS))
