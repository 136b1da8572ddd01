"""One exception tree: every deliberate error is a SimvecError; a bug looks like a bug in the CLI and the server."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import simvec
from simvec import errors

SRC = Path(simvec.__file__).parent
# Raised on purpose only to say "this is a bug in simvec" (never caught by the CLI or the server as user errors).
BUG_SIGNALS = {"RuntimeError", "AssertionError", "NotImplementedError"}
# The CLI framework's own usage errors and exits (printed by Typer as usage messages).
CLI_SIGNALS = {"BadParameter", "Exit", "Abort"}


def all_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages([str(SRC)], prefix="simvec.") if not m.name.endswith("__main__")]


def test_every_exception_class_simvec_defines_is_in_the_tree():
    defined = []
    for name in all_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__.startswith("simvec"):
                defined.append(cls)
    assert defined, "found no exception classes: the walk is broken"
    outside = sorted({f"{c.__module__}.{c.__qualname__}" for c in defined if not issubclass(c, errors.SimvecError)})
    assert outside == []
    for cls in defined:
        assert isinstance(cls.http_status, int) and 400 <= cls.http_status < 600, cls


def test_every_raise_in_the_source_uses_the_tree():
    tree_names = set(errors.__all__) | {"InvalidName"}
    offenders = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name and name[0].isupper() and name not in tree_names | BUG_SIGNALS | CLI_SIGNALS:
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno} raises {name}")
    assert offenders == []


def test_the_tree_is_exported_from_simvec_with_statuses():
    for name in errors.__all__:
        assert getattr(simvec, name) is getattr(errors, name)
    assert errors.InputError("x").http_status == 400
    assert errors.CollectionNotFound("x").http_status == 404
    assert errors.LimitExceeded("x", 413).http_status == 413
    assert isinstance(errors.InputError("x"), ValueError)  # code written against built-ins keeps working
    assert isinstance(errors.InputTypeError("x"), TypeError)


def run_cli(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_cli_bad_input_is_one_line(tmp_path):
    result = run_cli(f"from simvec.cli import main; main(['collection', 'info', {str(tmp_path / 'none')!r}])")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"simvec: error: no collection at {tmp_path / 'none'} (missing collection.db); "
        "create one with Collection.create"
    ]


def test_cli_internal_bug_shows_a_traceback():
    code = (
        "import simvec.encoders.cache as c\n"
        "def broken(*a, **k): raise KeyError('an internal bug')\n"
        "c.default_cache_path = broken\n"
        "from simvec.cli import main; main(['cache', 'info'])\n"
    )
    result = run_cli(code)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "KeyError: 'an internal bug'" in result.stderr
    assert "simvec: error" not in result.stderr


def test_cli_ctrl_c_says_it_was_interrupted_and_what_was_kept():
    # A real SIGINT, delivered while a command runs: the command is held in a call that announces itself and waits.
    code = (
        "import sys, time\n"
        "import simvec.encoders.cache as c\n"
        "def waiting(*a, **k):\n"
        "    print('ready', flush=True); time.sleep(60)\n"
        "c.default_cache_path = waiting\n"
        "from simvec.cli import main; main(['cache', 'info'])\n"
    )
    # A shell's background job (`make test &`) inherits SIGINT ignored, and Python then never raises
    # KeyboardInterrupt: give the child the default disposition, as an interactive terminal would.
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert stderr.startswith("simvec: interrupted. Documents a collection had committed are kept"), stderr
    assert "Traceback" not in stderr


def test_input_that_is_a_directory_is_named_as_one(tmp_path):
    result = run_cli(f"from simvec.cli import main; main(['embed', {str(tmp_path)!r}, '-o', 'x.npy'])")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"simvec: error: {tmp_path}: is a directory; give a file (.txt, .jsonl, .csv or .parquet)"
    )


@pytest.mark.model
def test_server_internal_bug_is_a_500_that_leaks_nothing(encoder, tmp_path, caplog):
    from fastapi.testclient import TestClient

    from simvec.server import ServerConfig, create_app

    app = create_app(ServerConfig(collections_dir=tmp_path), encoder=encoder)
    with TestClient(app, raise_server_exceptions=False) as client:

        def broken() -> list[str]:
            raise KeyError("/secret/internal/path")

        app.state.simvec.registry.names = broken
        response = client.get("/v1/collections")
        again = client.get("/healthz")
    assert response.status_code == 500
    assert response.json() == {"error": {"message": "internal server error", "type": "server_error"}}
    assert "secret" not in response.text
    assert again.status_code == 200  # one bug does not take the server down
    assert "KeyError" in caplog.text and "/v1/collections" in caplog.text  # the traceback is logged


@pytest.mark.model
def test_server_user_error_keeps_its_status(encoder, tmp_path):
    from fastapi.testclient import TestClient

    from simvec.server import ServerConfig, create_app

    with TestClient(create_app(ServerConfig(collections_dir=tmp_path), encoder=encoder)) as client:
        missing = client.get("/v1/collections/nothing-here")
        bad_name = client.post("/v1/collections", json={"name": "../up"})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    assert bad_name.status_code == 422
