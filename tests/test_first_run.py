"""A first run says what it prepares and prints no other library's noise; `simvec prepare` does it ahead of time."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from simvec.encoders import artifacts, quiet

NOISE = ("TracerWarning", "UserWarning", "WARNING:root", "Loading weights", "Statistics collection")


def noisy_build(out: Path) -> None:
    """What torch.onnx, ONNX Runtime's quantiser and NNCF do during a real build, in miniature."""
    from tqdm import tqdm

    warnings.warn("Converting a tensor to a Python boolean", UserWarning, stacklevel=1)
    logging.warning("Please consider to run pre-processing before quantization")  # the root logger, as ORT does
    logging.getLogger("nncf").warning("nncf says hello")
    print("Statistics collection 100%")
    for _ in tqdm(range(3), desc="Loading weights"):
        pass
    (out / "model.bin").write_bytes(b"weights")


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(quiet.VERBOSE_ENV, raising=False)
    return tmp_path


def test_a_build_is_announced_once_and_its_libraries_noise_goes_to_the_log(fresh_cache, capsys, caplog):
    root_handlers = logging.getLogger().handlers[:]
    caplog.set_level(logging.DEBUG, logger="simvec")
    before = len(quiet.prepared_in_this_process())
    path = artifacts.load_or_build("fake", "k1", noisy_build, "fake graph of a test model")
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("simvec: preparing the fake graph of a test model (once per model on this machine")
    assert lines[-1].startswith("simvec: prepared the fake graph of a test model in ") and str(path) in lines[-1]
    assert len(lines) == 2, err  # not a terminal: start and finish lines, no bar
    for noise in NOISE:
        assert noise not in err
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "simvec")
    for what in ("Converting a tensor", "pre-processing before quantization", "nncf says hello", "Statistics"):
        assert what in logged
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "simvec")
    assert logging.getLogger().handlers == root_handlers  # the root logger was not basicConfig'd by ORT's warning
    assert [p.path for p in quiet.prepared_in_this_process()[before:]] == [path]

    artifacts.load_or_build("fake", "k1", noisy_build, "fake graph of a test model")
    assert capsys.readouterr().err == ""  # built already: nothing to say
    assert len(quiet.prepared_in_this_process()) == before + 1


def test_a_build_inside_an_announced_one_is_recorded_not_announced_again(fresh_cache, capsys):
    before = len(quiet.prepared_in_this_process())
    with quiet.preparing("auto", "backend for a test model", fresh_cache / "auto.json"):
        artifacts.load_or_build("fake", "k4", noisy_build, "fake graph of a test model")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all("backend for a test model" in line for line in lines), lines
    assert [p.kind for p in quiet.prepared_in_this_process()[before:]] == ["fake", "auto"]


def test_verbose_lets_the_libraries_output_through(fresh_cache, capsys, monkeypatch):
    monkeypatch.setenv(quiet.VERBOSE_ENV, "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        artifacts.load_or_build("fake", "k2", noisy_build, "fake graph of a test model")
    out, err = capsys.readouterr()
    assert "Statistics collection" in out
    assert "Loading weights" in err
    assert "simvec: preparing the fake graph" in err
    assert any("Converting a tensor" in str(w.message) for w in caught)


def test_a_failed_build_says_so_and_replays_what_it_caught_as_warnings(fresh_cache, capsys, caplog):
    def broken(out: Path) -> None:
        print("the quantiser's last words")
        raise RuntimeError("cannot quantise")

    with pytest.raises(RuntimeError, match="cannot quantise"):
        artifacts.load_or_build("fake", "k3", broken, "fake graph of a test model")
    err = capsys.readouterr().err
    assert "simvec: preparing the fake graph of a test model failed after" in err
    assert any(r.levelno == logging.WARNING and "last words" in r.getMessage() for r in caplog.records)
    assert not (fresh_cache / "fake" / "k3").exists()


def test_the_global_verbose_flag_sets_the_environment(monkeypatch):
    from typer.testing import CliRunner

    from simvec.cli.app import app

    monkeypatch.delenv(quiet.VERBOSE_ENV, raising=False)
    result = CliRunner().invoke(app, ["--verbose", "cache", "--help"])
    assert result.exit_code == 0, result.output
    assert quiet.verbose()


def prepare(cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SIMVEC_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    env.pop(quiet.VERBOSE_ENV, None)
    return subprocess.run(
        [sys.executable, "-m", "simvec", *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.fixture(scope="module")
def cold(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`simvec prepare --backend onnx` on an empty cache: the one real build of this module (~20 s)."""
    cache = tmp_path_factory.mktemp("first-run-cache")
    return cache, prepare(cache, "prepare", "--backend", "onnx")


@pytest.mark.model
def test_cold_prepare_says_what_it_prepares_and_nothing_else(cold):
    _, proc = cold
    assert proc.returncode == 0, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("simvec: preparing the ONNX export of sentence-transformers/all-MiniLM-L6-v2"), proc.stderr
    assert "once per model on this machine" in first
    assert "simvec: prepared the ONNX export" in proc.stderr
    for noise in NOISE:
        assert noise not in proc.stderr, proc.stderr
    assert "prepared sentence-transformers/all-MiniLM-L6-v2 on backend onnx in " in proc.stdout


@pytest.mark.model
def test_second_prepare_builds_nothing(cold):
    cache, first = cold
    assert first.returncode == 0, first.stderr
    proc = prepare(cache, "--verbose", "prepare", "--backend", "onnx", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "preparing" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["backend"] == "onnx" and report["built"] == []
    assert report["cached_in"].startswith(str(cache))
    assert "already prepared" in prepare(cache, "prepare", "--backend", "onnx").stdout
