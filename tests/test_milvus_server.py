"""The milvus backend by URI against a real Milvus server: standalone Milvus 2.3.5 from PyPI (`milvus-server`).

The server runs in its own network and PID namespaces (`unshare -n --fork --pid`): only `lo` exists there, so its
parts, which otherwise talk over the machine's external address, send nothing off the machine, and killing the
namespace's first process ends every process the server started. The clients (simvec's Python API and CLI) run
in the same network namespace as subprocesses (`nsenter --net`).

Milvus 2.3 predates full-text search, nullable fields, filter templates and `is null`: these tests also prove
that simvec finds that out and adapts (literal filters, `exists`, `has_text`), and refuses keyword search naming why.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

VENV_BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
URI = "http://127.0.0.1:19530"


class MilvusServer:
    """`milvus-server --data DIR` in a loopback-only network namespace and its own PID namespace."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.log = base / "server.log"
        start = f"ip link set lo up && exec {VENV_BIN / 'milvus-server'} --data {base / 'data'}"
        with self.log.open("w") as log:
            # --kill-child: if unshare dies, its child (PID 1 of the namespace) gets SIGKILL, and with it every process
            self.process = subprocess.Popen(
                ["unshare", "-n", "--fork", "--pid", "--mount-proc", "--kill-child", "sh", "-c", start],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.enter = ["nsenter", f"--net=/proc/{self.process.pid}/ns/net"]
        self.env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
        try:
            self.wait_ready()
        except BaseException:
            self.close()
            raise

    def run(self, *command: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.enter + [str(part) for part in command], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def python(self, code: str, *args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-c", textwrap.dedent(code), *args, timeout=timeout)

    def simvec(self, *argv: str | Path) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "simvec", *argv)

    def wait_ready(self) -> None:
        probe = f"from pymilvus import MilvusClient; MilvusClient(uri={URI!r}, timeout=5).list_collections()"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.python(probe, timeout=60).returncode == 0:
                return
            time.sleep(1)
        raise AssertionError(f"Milvus did not come up; its log:\n{self.log.read_text(errors='replace')[-3000:]}")

    def close(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)  # the namespace's PID 1 follows (--kill-child), then all the rest
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.running():
            time.sleep(0.2)
        assert not self.running(), f"Milvus processes outlived their namespace: {self.running()}"

    def running(self) -> list[int]:
        """Processes of this server still alive (their command line names its data directory)."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and str(self.base).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass  # exited meanwhile
        return found


@pytest.fixture(scope="module")
def server():
    base = Path(tempfile.mkdtemp(prefix="svmilvus", dir="/tmp"))
    started = MilvusServer(base)
    try:
        yield started
    finally:
        started.close()
        shutil.rmtree(base, ignore_errors=True)


def test_the_python_api_on_a_real_server_answers_exactly_as_a_native_collection(server, tmp_path):
    """Add, re-add (unchanged / metadata only), vectors without text, delete, get, iteration order, dense search
    under 15 filters (missing fields, JSON null, booleans vs 1/0, quotes) and re-opening: native and server agree."""
    result = server.run(sys.executable, ROOT / "tests" / "milvus_parity_client.py", URI, tmp_path)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    native, milvus = answers["native"], answers["milvus"]
    for key in native:
        assert milvus[key] == native[key], key
    assert native["re_add"] == [0, 1, 1] and native["deleted"] == 1
    assert native["get"][1] == ["v1", None, {"lang": "xx"}]  # a document without text reads back without text
    assert sum(len(hits) for per_filter in native["search"] for hits in per_filter) > 100  # something to compare
    assert answers["info"]["backend"]["uri"] == URI and answers["info"]["backend"]["full_text"] is False
    assert answers["info"]["milvus_index"]["index_type"] == "FLAT"
    assert answers["hybrid"].startswith("CollectionError: keyword and hybrid search need Milvus' full-text search")
    assert "runs v2.3.5" in answers["hybrid"]
    assert answers["reopened"] == [hit[0] for hit in native["search"][2][0][:3]]  # FILTERS[2], QUERIES[0]


def test_cli_and_the_retrieval_evaluation_by_uri(server, tmp_path, data_dir, encoder, beir_subset):
    """The CLI on a server collection, and SciFact's dense nDCG@10 on the server equal to native within 0.002 (all
    300 queries over their judged documents and 500 others: the CLI's default backend is the fixture's)."""
    from simvec.eval.retrieval import evaluate_retrieval

    docs = tmp_path / "docs.jsonl"
    rows = [("cat", "The cat sat on the mat.", "en"), ("chat", "Le chat dort.", "fr"), ("py", "Python code.", "en")]
    docs.write_text("".join(json.dumps({"id": i, "text": t, "lang": lang}) + "\n" for i, t, lang in rows))
    where = tmp_path / "docs"
    created = server.simvec("collection", "create", where, "--backend", "milvus", "--uri", URI)
    assert created.returncode == 0 and f"in Milvus at {URI}" in created.stderr, created.stderr
    added = server.simvec("collection", "add", where, docs, "--id-field", "id", "--metadata-fields", "lang")
    assert added.returncode == 0, added.stderr
    found = server.simvec("collection", "search", where, "a kitten", "-k", "2", "--filter", '{"lang": "en"}', "--json")
    assert found.returncode == 0, found.stderr
    assert [hit["id"] for hit in json.loads(found.stdout)] == ["cat", "py"]
    keyword = server.simvec("collection", "search", where, "cat", "--mode", "keyword")
    assert keyword.returncode == 2
    assert "simvec: error: keyword and hybrid search need Milvus' full-text search" in keyword.stderr
    assert "Traceback" not in keyword.stderr

    subset = beir_subset(data_dir / "scifact", queries=300, others=500)
    (native,) = evaluate_retrieval(subset, modes=("dense",), model=encoder)  # its vectors are cached for the CLI
    command = ["eval", "retrieval", "--data", subset, "--mode", "dense", "--backend", "milvus"]
    evaluated = server.simvec(*command, "--uri", URI, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    (on_server,) = json.loads(evaluated.stdout)["results"]
    assert on_server["extra"]["backend"]["uri"] == URI and on_server["extra"]["backend"]["index_type"] == "FLAT"
    assert (on_server["queries"], on_server["documents"]) == (300, native.documents)
    for metric in ("ndcg@10", "mrr@10", "recall@100"):
        assert on_server["metrics"][metric] == pytest.approx(native.metrics[metric], abs=0.002), metric


def test_compression_maps_to_the_index_types_the_server_builds(server, tmp_path):
    """pq: IVF_PQ, which Milvus Lite refuses, is built on a server; an index type this server lacks is refused
    at create, naming the server's reason, and leaves nothing behind (no collection in Milvus, no directory)."""
    result = server.python(
        """
        import json, sys
        from pathlib import Path
        import numpy as np
        from simvec import Collection
        from simvec.errors import CollectionError

        root, out = Path(sys.argv[1]), {}
        vectors = np.random.default_rng(0).standard_normal((600, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with Collection.create(root / "pq", backend="milvus", uri=sys.argv[2], compression="pq48", rescore="none") as pq:
            pq.add(ids=[str(i) for i in range(600)], vectors=vectors)
            pq.refresh()
            out["pq"] = pq.info()["milvus_index"]
            out["pq_top"] = [hit.id for hit in pq.search(vectors[7], k=3)]
        try:
            Collection.create(root / "sq", backend="milvus", uri=sys.argv[2], index="hnsw", compression="int8")
            out["sq"] = "created"
        except CollectionError as exc:
            out["sq"] = str(exc)
            with Collection.create(root / "probe", backend="milvus", uri=sys.argv[2]) as probe:
                out["left"] = [n for n in probe.store.client.list_collections() if "_sq_" in n]
        out["sq_dir"] = (root / "sq" / "collection.db").exists()
        print(json.dumps(out))
        """,
        tmp_path,
        URI,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["pq"]["index_type"] == "IVF_PQ" and out["pq"]["indexed_rows"] == 600
    assert out["pq"]["params"]["m"] == 48
    assert out["pq_top"][0] == "7"
    assert out["sq"].startswith(f"Milvus at '{URI}' refused to create collection") and "HNSW_SQ" in out["sq"]
    assert out["left"] == [] and out["sq_dir"] is False
