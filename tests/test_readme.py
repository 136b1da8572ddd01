"""Every ```python and ```bash example in README.md runs (the ``` make block is what runs us).

Examples that talk to the server run while the README's own ```console `simvec serve ...` command runs.
"""

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.model

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(python|bash)\n(.*?)```", TEXT, flags=re.S)
SERVE = re.search(r"```console\n(simvec serve [^\n]*)\n```", TEXT).group(1)
PORT = int(re.search(r"--port (\d+)", SERVE).group(1))


def environment() -> dict:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        # fp32, as the published figures the examples reproduce (eval sts / retrieval): the session's tests built
        # that graph and the SciFact collection already; auto's own choice is tested in test_backends.py
        "SIMVEC_BACKEND": "onnx",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }


@pytest.fixture(scope="module")
def readme_server(tmp_path_factory):
    """The README's serve command, run in a scratch directory."""
    proc = subprocess.Popen(
        shlex.split(SERVE),
        cwd=tmp_path_factory.mktemp("readme-server"),
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, "the README's serve command exited"
            try:
                if httpx.get(f"http://localhost:{PORT}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the README's server did not start"
                time.sleep(0.3)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("language, code", BLOCKS, ids=[f"{lang}-{i}" for i, (lang, _) in enumerate(BLOCKS)])
def test_readme_example_runs(language, code, request):
    if f"localhost:{PORT}" in code:
        request.getfixturevalue("readme_server")
    command = [sys.executable, "-c", code] if language == "python" else ["bash", "-euo", "pipefail", "-c", code]
    proc = subprocess.run(command, cwd=README.parent, env=environment(), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"README {language} example failed:\n{code}\n--- stderr ---\n{proc.stderr[-3000:]}"
    if "curl" in code:
        assert '"error"' not in proc.stdout, proc.stdout


def test_readme_has_examples():
    assert {lang for lang, _ in BLOCKS} == {"python", "bash"}
