"""The CLI starts fast: importing it must not pull the heavy libraries only some commands need."""

import subprocess
import sys

HEAVY = ("sklearn", "scipy", "torch", "transformers", "sentence_transformers", "pandas", "matplotlib")


def test_cli_import_leaves_heavy_libraries_unloaded():
    code = f"import sys, simvec.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"`import simvec.cli` imported {loaded}: import them inside the functions that use them"
