"""Issue 10's reliability figures: runs the fault suite and the fuzz suites (with more examples than `make test`)
and prints what was injected and checked, and what failed (lost acknowledged writes, wrong answers, 5xx).

    PYTHONPATH=src python benchmarks/reliability.py [--fuzz-examples 500]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUITES = {
    "kill points (SIGKILL in add/refresh/compress/delete/decompress)": ["tests/faults/test_kill_points.py"],
    "server SIGTERM under write load": ["-s", "tests/faults/test_server_sigterm.py"],
    "storage faults (read-only mount, full tmpfs, held lock, 2 writers + 2 readers)": [
        "tests/faults/test_storage_faults.py"
    ],
    "derived files (re-created, flipped, truncated, directory, swapped, orphaned, in-place)": [
        "tests/test_derived_integrity.py"
    ],
    "server lifecycle and isolation (delete under load, surrogates among 80, unreadable dir)": [
        "tests/test_server_reliability.py"
    ],
    "fuzz: Python API (documents, filters vs reference)": ["tests/test_fuzz.py"],
    "fuzz: server (upsert and search bodies)": ["tests/test_fuzz_server.py"],
}


def run(args: list[str], examples: int) -> tuple[int, int, int, str, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SIMVEC_FUZZ_EXAMPLES": str(examples)}
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics", *args],
        cwd=REPO, env=env, capture_output=True, text=True,
    ).stdout  # fmt: skip
    seconds = time.perf_counter() - started
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", out)) else 0
    failed = int(m.group(1)) if (m := re.search(r"(\d+) failed", out)) else 0
    cases = sum(int(n) for n in re.findall(r"- (\d+) passing, \d+ failing", out))
    acknowledged = " ".join(re.findall(r"acknowledged \d+, stored \d+, lost \d+", out))
    return passed, failed, cases, acknowledged, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz-examples", type=int, default=500)
    args = parser.parse_args()
    print("| suite | tests passed | failed | fuzz cases | notes | seconds |\n|---|---|---|---|---|---|")
    for name, suite in SUITES.items():
        passed, failed, cases, note, seconds = run(suite, args.fuzz_examples)
        print(f"| {name} | {passed} | {failed} | {cases or ''} | {note} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
