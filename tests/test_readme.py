"""Every ```python and ```bash example in README.md runs (the ``` make block is what runs us)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```(python|bash)\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("language, code", BLOCKS, ids=[f"{lang}-{i}" for i, (lang, _) in enumerate(BLOCKS)])
def test_readme_example_runs(language, code):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-c", code] if language == "python" else ["bash", "-euo", "pipefail", "-c", code]
    proc = subprocess.run(command, cwd=README.parent, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"README {language} example failed:\n{code}\n--- stderr ---\n{proc.stderr[-3000:]}"


def test_readme_has_examples():
    assert {lang for lang, _ in BLOCKS} == {"python", "bash"}
