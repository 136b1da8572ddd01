"""SIGKILL at many points of add, compress (set_compression), delete and refresh (issue 10, "Keep it fixed").

A worker process cycles through the operations, printing `start <op> <n>` / `done <op> <n>`. The test kills it
with SIGKILL a chosen delay after a chosen operation starts, then checks: the collection opens; every write the
worker saw finish is there and the one in flight is all or nothing; no temporary file is left or counted; and
searching gives the same ranking as a copy of the directory with every derived file removed (rebuilt from SQLite).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from simvec import Collection

pytestmark = pytest.mark.faults

WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from simvec import Collection

    collection = Collection.open(sys.argv[1])
    rng = np.random.default_rng(0)
    def step(op, n, fn):
        print(f"start {op} {n}", flush=True)
        fn()
        print(f"done {op} {n}", flush=True)
    for n in range(4):
        ids = [f"{n}-{i}" for i in range(3000)]
        step("add", n, lambda: collection.add(ids=ids, vectors=rng.standard_normal((3000, 384)), batch_size=3000))
        step("refresh", n, collection.refresh)
        step("compress", n, lambda: collection.set_compression("binary", rescore="float32"))
        step("delete", n, lambda: collection.delete([f"{n}-{i}" for i in range(0, 3000, 3)]))
        step("decompress", n, lambda: collection.set_compression(None))
    collection.close()
    """
)

# (operation whose start triggers the kill, seconds after its start, its round)
KILL_POINTS = [
    ("add", 0.0, 0),
    ("add", 0.05, 1),
    ("refresh", 0.0, 1),
    ("refresh", 0.02, 0),
    ("compress", 0.0, 0),
    ("compress", 0.03, 1),
    ("delete", 0.0, 1),
    ("delete", 0.01, 0),
    ("decompress", 0.01, 0),
    ("decompress", 0.04, 1),
]


def ranking(path, queries: np.ndarray) -> list[list[str]]:
    with Collection.open(path) as collection:
        return [[hit.id for hit in hits] for hits in collection.search_batch(queries, 10)]


@pytest.mark.parametrize(("op", "delay", "round_"), KILL_POINTS)
def test_sigkill_leaves_every_finished_write_and_a_correct_index(tmp_path, op, delay, round_):
    path = tmp_path / "c"
    Collection.create(path).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    finished: list[tuple[str, int]] = []
    in_flight = None
    for line in worker.stdout:
        kind, name, n = line.split()
        if kind == "done":
            finished.append((name, int(n)))
            continue
        in_flight = (name, int(n))
        if in_flight == (op, round_):
            time.sleep(delay)
            worker.send_signal(signal.SIGKILL)
            break
    worker.wait()
    assert worker.returncode == -signal.SIGKILL, "the worker finished before the kill point"

    with Collection.open(path) as collection:
        ids = set(collection.matrix()[0])
        info = collection.info()
    assert not list(path.glob(".*.tmp")), "a dead writer's temporary file survived reopening"
    assert not any(name.endswith(".tmp") for name in info["files"])
    for name, n in finished:  # every finished add and delete is there
        if name == "add":
            assert {f"{n}-{i}" for i in range(1, 3000, 3)} <= ids
        if name == "delete":
            assert not {f"{n}-{i}" for i in range(0, 3000, 3)} & ids
    if in_flight[0] in ("add", "delete"):  # the one in flight: all or nothing
        batch = {f"{in_flight[1]}-{i}" for i in range(0, 3000, 3)}
        assert batch <= ids or not batch & ids

    queries = np.random.default_rng(9).standard_normal((8, 384)).astype(np.float32)
    clean = tmp_path / "clean"
    shutil.copytree(path, clean)
    for derived in [*clean.glob("*.faiss"), *clean.glob("*.vec")]:
        derived.unlink()
    assert ranking(path, queries) == ranking(clean, queries)
