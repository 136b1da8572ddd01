"""Derived artefacts shipped between machines: a Ray job's nodes install the driver's graph byte for byte."""

from __future__ import annotations

import pytest

from simvec.encoders import artifacts
from simvec.errors import ModelError


def build_graph(content: bytes):
    def build(out):
        (out / "model.onnx").write_bytes(content)
        (out / "calibration.txt").write_text("texts\n")

    return build


def test_an_artefact_read_on_one_machine_installs_byte_for_byte_on_another(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path / "driver"))
    built = artifacts.load_or_build("onnx-int8", "k-static1", build_graph(b"driver's graph"), "a test graph")
    relative, files = artifacts.read_artifact(built)
    assert relative == "onnx-int8/k-static1" and set(files) == {"model.onnx", "calibration.txt", artifacts.MANIFEST}

    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path / "node"))
    # the node built its own copy first, from another CPU's calibration: the driver's replaces it
    local = artifacts.load_or_build("onnx-int8", "k-static1", build_graph(b"node's graph"), "a test graph")
    installed = artifacts.install_artifact(relative, files)
    assert installed == local and (installed / "model.onnx").read_bytes() == b"driver's graph"
    assert artifacts.problem(installed) is None
    assert (installed / artifacts.MANIFEST).read_bytes() == files[artifacts.MANIFEST]
    assert artifacts.install_artifact(relative, files) == installed  # already there: nothing to do
    assert not [p for p in installed.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_a_damaged_or_misplaced_shipment_is_refused_and_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path / "driver"))
    relative, files = artifacts.read_artifact(
        artifacts.load_or_build("onnx-int8", "k", build_graph(b"graph"), "a test graph")
    )
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path / "node"))
    with pytest.raises(ModelError, match="does not match its manifest: model.onnx"):
        artifacts.install_artifact(relative, {**files, "model.onnx": b"tampered"})
    with pytest.raises(ModelError, match="outside its directory"):
        artifacts.install_artifact(relative, {**files, "../../escape.txt": b"x"})
    with pytest.raises(ModelError, match="not an artefact's place"):
        artifacts.install_artifact("../elsewhere", files)
    assert not (tmp_path / "node" / relative).exists() and not (tmp_path / "node" / "escape.txt").exists()
    assert artifacts.read_artifact(tmp_path / "not-in-the-cache") is None
