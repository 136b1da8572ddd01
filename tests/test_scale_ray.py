"""simvec embed --engine ray: a real two-node Ray cluster on this machine, in a loopback-only network namespace.

The head and the worker node are started with `ray start` inside `unshare -n` (only `lo` exists there, so no packet
can leave the machine, and Ray's ports cannot clash with another Ray on the machine). Every process the tests start
lives in that namespace; teardown kills exactly those, by PID, never with `ray stop`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from simvec.encoders import Encoder
from simvec.encoders.backends import CONCRETE_BACKENDS
from simvec.encoders.provenance import describe
from simvec.errors import InputFileError, Unavailable
from simvec.scale.cluster import check_reachable, host_port
from simvec.scale.shards import MANIFEST, Shard, expand_inputs, ids_digest, verified_rows, write_manifest

VENV_BIN = Path(sys.executable).parent
SRC = Path(__file__).resolve().parents[1] / "src"


# ---------------------------------------------------------------- unit tests (no Ray, no model)


def test_expand_inputs_names_a_pattern_that_matches_nothing(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "b.jsonl").write_text('{"text": "y"}\n')
    shards = expand_inputs([str(tmp_path / "*.jsonl"), str(tmp_path / "a.jsonl")])
    assert [s.path.name for s in shards] == ["a.jsonl", "b.jsonl"]  # sorted, each once
    assert len({s.name for s in shards}) == 2
    with pytest.raises(InputFileError, match=r"nothing\*\.jsonl: the pattern matches no file"):
        expand_inputs(str(tmp_path / "nothing*.jsonl"))
    (tmp_path / "c.xml").write_text("<x/>")
    with pytest.raises(InputFileError, match="c.xml: unknown input extension"):
        expand_inputs(str(tmp_path / "c.xml"))


def _written_shard(tmp_path, ids):
    import pyarrow as pa

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": i}) + "\n" for i in ids))
    shard = Shard(source.resolve(), "in")
    directory = tmp_path / "out" / "in"
    directory.mkdir(parents=True)
    pq.write_table(pa.table({"id": ids}), directory / "part-0.parquet")
    write_manifest(directory, shard, {"backend": "onnx-int8"}, len(ids), ids_digest(ids), ["part-0.parquet"])
    return shard, directory


def test_a_shard_is_skipped_only_when_its_manifest_and_its_rows_verify(tmp_path):
    import pyarrow as pa

    shard, directory = _written_shard(tmp_path, ["1", "2", "3"])
    assert verified_rows(directory, shard, {"backend": "onnx-int8"}) == 3
    assert verified_rows(directory, shard, {"backend": "torch"}) is None  # other options: redo
    pq.write_table(pa.table({"id": ["1", "2", "2"]}), directory / "part-0.parquet")  # a row twice, one missing
    assert verified_rows(directory, shard, {"backend": "onnx-int8"}) is None
    (directory / "part-0.parquet").write_bytes(b"not parquet")
    assert verified_rows(directory, shard, {"backend": "onnx-int8"}) is None
    (directory / "part-0.parquet").unlink()
    assert verified_rows(directory, shard, {"backend": "onnx-int8"}) is None


def test_a_changed_input_is_redone(tmp_path):
    shard, directory = _written_shard(tmp_path, ["1", "2"])
    shard.path.write_text(shard.path.read_text() + json.dumps({"text": "3"}) + "\n")
    assert verified_rows(directory, shard, {"backend": "onnx-int8"}) is None
    (directory / MANIFEST).unlink()
    assert verified_rows(directory, shard, {"backend": "onnx-int8"}) is None


def test_a_shard_embedded_with_another_provenance_is_redone(tmp_path):
    ids = ["1", "2"]
    shard, directory = _written_shard(tmp_path, ids)
    provenance = {"backend": "onnx-int8", "fingerprint": "onnx-int8-v2-static3", "artifact": "ab" * 32}
    options = {"backend": "onnx-int8"}
    write_manifest(directory, shard, options, len(ids), ids_digest(ids), ["part-0.parquet"], provenance)
    assert verified_rows(directory, shard, options, provenance) == 2
    assert verified_rows(directory, shard, options, {**provenance, "artifact": "cd" * 32}) is None  # another build
    assert verified_rows(directory, shard, options) is None  # a manifest from before provenance was recorded


def test_an_actor_whose_encoder_differs_from_the_drivers_fails_its_shards_naming_both(tmp_path, monkeypatch):
    """A node that built another int8 artefact (or none) embeds nothing; the driver fails the shard with why."""
    import pyarrow as pa

    from simvec.scale.ray_embed import EmbedActor, ShardResult, _finish

    monkeypatch.setattr(EmbedActor, "__init__", lambda self: None)  # no model: the refusal path only
    actor = EmbedActor()
    actor.problem, actor.dimension, actor.refused_dir = (
        "node n1 embeds with onnx-int8 (...), the driver ...",
        4,
        tmp_path,
    )
    block = pa.table({"shard": ["s1", "s1", "s2"], "id": ["a", "b", "c"], "text": ["x", "y", "z"]})
    empty = actor(block)
    assert empty.num_rows == 0 and empty.column_names == ["shard", "id", "vector"]
    assert empty.schema.field("vector").type == pa.list_(pa.float32(), 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s1.json", "s2.json"]

    staging = tmp_path / "staging"
    (staging / "expected").mkdir(parents=True)
    (staging / "refused").mkdir()
    (staging / "expected" / "s1.json").write_text(json.dumps({"rows": 2, "ids_sha256": ids_digest(["a", "b"])}))
    (tmp_path / "s1.json").rename(staging / "refused" / "s1.json")
    said = []
    result = _finish(Shard(tmp_path / "in.jsonl", "s1"), staging, tmp_path / "out", {}, {}, said.append)
    assert result == ShardResult("s1", str(tmp_path / "in.jsonl"), "failed", error=actor.problem)
    assert said == [f"FAILED {tmp_path / 'in.jsonl'}: {actor.problem}"]


@pytest.mark.model
def test_an_actor_checks_its_provenance_against_the_drivers(tmp_path, monkeypatch):
    import torch

    from simvec.scale.ray_embed import EmbedActor, resolve_provenance

    threads = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))  # restored after the test
    try:
        expected, dimension, _ = resolve_provenance(None, "onnx")
        assert expected["backend"] == "onnx" and dimension == 384
        same = EmbedActor(None, "onnx", 1, {}, expected, dimension, str(tmp_path))
        assert same.problem is None
        other = EmbedActor(None, "onnx", 1, {}, {**expected, "artifact": "0" * 64}, dimension, str(tmp_path))
        assert "embeds with onnx (" in other.problem and "the driver resolved onnx (" in other.problem
        assert expected["artifact"][:12] in other.problem and "000000000000" in other.problem
        unbuildable = EmbedActor(None, "onnx-fp8", 1, {}, expected, dimension, str(tmp_path))
        assert "cannot build backend 'onnx-fp8'" in unbuildable.problem
    finally:
        torch.set_num_threads(threads)
    import ray

    assert not ray.is_initialized()  # naming the node outside Ray must not start one (a later test would find it)


def test_onnx_threads_follow_omp_num_threads_as_ray_sets_it_per_actor(monkeypatch):
    from simvec.encoders.onnx import physical_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = physical_cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert physical_cores() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "512")  # a cap, never more threads than usable cores
    assert physical_cores() == cores
    monkeypatch.setenv("OMP_NUM_THREADS", "auto")  # not a count: ignored
    assert physical_cores() == cores


def test_an_unreachable_address_is_refused_naming_it_within_the_timeout():
    import socket

    with socket.socket() as probe:  # a port nothing listens on: bound, never listened
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
            with pytest.raises(Unavailable, match=rf"no Ray cluster reachable at {address} \(.*within 2 s\)"):
                check_reachable(address, timeout=2)
    assert host_port("ray://head.example:10001") == ("head.example", 10001)
    for bad in ("head", "head:port", "ray://:10001", "head:70000"):
        with pytest.raises(Exception, match="is not auto, host:port or ray://host:port"):
            host_port(bad)


def test_a_local_ray_is_started_loopback_only_and_the_environment_restored(monkeypatch):
    """What simvec hands Ray when it starts one itself (Ray's init recorded, not run: the cluster tests run Ray)."""
    import ray

    from simvec.scale import cluster

    seen = {}

    def record(**kwargs):
        seen.update(kwargs, env={k: os.environ.get(k) for k in cluster.LOCAL_RAY_ENV})

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", record)
    monkeypatch.setenv("HTTP_PROXY", "http://corporate:3128")
    monkeypatch.delenv("http_proxy", raising=False)
    cluster.connect(None)
    assert seen["_node_ip_address"] == "127.0.0.2" and seen["include_dashboard"] is False
    assert seen["env"]["RAY_USAGE_STATS_ENABLED"] == "0"
    assert seen["env"]["RAY_USAGE_STATS_REPORT_URL"].startswith("http://127.0.0.1:")
    assert seen["env"]["HTTP_PROXY"] == seen["env"]["http_proxy"] == "http://127.0.0.1:9"
    assert "127.0.0.2" in seen["env"]["NO_PROXY"].split(",")
    assert os.environ["HTTP_PROXY"] == "http://corporate:3128" and "http_proxy" not in os.environ


def test_a_ray_client_server_that_dies_at_start_is_retried_and_nothing_else_is(monkeypatch):
    """Ray's per-connection client server sometimes dies at start on a loaded head (seen in CI): a new connection
    is tried. Ray's init is replaced here because that failure cannot be caused on demand."""
    import socket

    import ray

    from simvec.scale import cluster

    failures = []

    def init(**kwargs):
        if failures:
            raise ConnectionError(failures.pop())

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(cluster.time, "sleep", lambda seconds: None)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        address = f"ray://127.0.0.1:{listening.getsockname()[1]}"
        failures[:] = [f"Initialization failure from server: RuntimeError: {cluster.CLIENT_SERVER_FAILED}. See x"] * 2
        cluster.connect(address)  # the third attempt connects
        assert failures == []
        failures[:] = [f"RuntimeError: {cluster.CLIENT_SERVER_FAILED}."] * 3
        with pytest.raises(Unavailable, match=rf"no Ray cluster reachable at {address} \(tried 3 times\)"):
            cluster.connect(address)
        failures[:] = ["Version mismatch: the cluster runs Ray 2.9"]  # not transient: refused at the first attempt
        with pytest.raises(Unavailable, match=r"reachable at ray://127\.0\.0\.1:\d+: Version mismatch"):
            cluster.connect(address)


def test_cli_no_cluster_is_a_clear_error_not_a_hang(tmp_path):
    """The whole command: exit 2 with the address named, long before Ray's own minute of retries."""
    import socket

    (tmp_path / "in.jsonl").write_text('{"text": "hello"}\n')
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, "-m", "simvec", "embed", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out")]
            + ["--engine", "ray", "--address", address],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(SRC)},
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert f"simvec: error: no Ray cluster reachable at {address}" in result.stderr

    # auto: the cluster recorded under Ray's temp dir, here an empty one (so no other Ray on the machine is found)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(PYTHONPATH=str(SRC), RAY_TMPDIR=str(tmp_path))
    command = [sys.executable, "-m", "simvec", "embed", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out")]
    result = subprocess.run(
        command + ["--engine", "ray", "--address", "auto"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "simvec: error: no Ray cluster reachable at auto: Could not find any running Ray instance" in result.stderr


# ---------------------------------------------------------------- the two-node cluster


def _netns_pids(ns: str) -> list[int]:
    """Every process in the network namespace `ns` (an `net:[inode]` link): exactly those the fixture started."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "net") == ns:
                    pids.append(int(entry.name))
            except OSError:
                pass  # exited, or not ours to read
    return pids


class LoopbackNamespace:
    """A network namespace with only `lo` (up), held open by a sleeping process; `enter` runs a command inside."""

    def __init__(self) -> None:
        self.holder = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", "ip link set lo up && exec sleep 100000"], start_new_session=True
        )
        self.enter = ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net"]
        for _ in range(100):
            self.ns = os.readlink(f"/proc/{self.holder.pid}/ns/net")
            if self.ns != os.readlink("/proc/self/ns/net") and "UP" in self.run(["ip", "-o", "link", "show", "lo"]):
                break
            time.sleep(0.05)
        links = [line.split(":")[1].strip() for line in self.run(["ip", "-o", "link"]).splitlines()]
        assert links == ["lo"], f"the namespace has interfaces besides loopback: {links}"

    def run(self, command: list[str], **kwargs) -> str:
        return subprocess.run(self.enter + command, capture_output=True, text=True, check=True, **kwargs).stdout

    def close(self) -> None:
        """SIGKILL every process in the namespace (only this test's), the holder last."""
        for pid in _netns_pids(self.ns):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.holder.wait(timeout=10)


class Cluster(LoopbackNamespace):
    """A head and a worker node (1 CPU, 1 GB object store each) in one loopback-only network namespace."""

    def __init__(self, base: Path) -> None:
        super().__init__()
        self.base = base
        self.env = {
            **os.environ,
            "PYTHONPATH": str(SRC),
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
            # Ray 2.5x turns token authentication on by default: every node and driver gets this cluster's token
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
        }
        self.processes: list[subprocess.Popen] = []
        try:
            self.head = self.start_node("head", ["--head", "--port", "6379", "--include-dashboard", "false"])
            self.worker = self.start_node("worker", ["--address", "127.0.0.1:6379"])
            self.wait_for_nodes(2)
        except BaseException:
            self.close()
            raise

    def start_node(self, name: str, options: list[str]) -> subprocess.Popen:
        temp = self.base / name
        temp.mkdir()
        command = [str(VENV_BIN / "ray"), "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1"]
        command += ["--object-store-memory", str(10**9), "--temp-dir", str(temp), "--disable-usage-stats", *options]
        log = (self.base / f"{name}.log").open("w")
        process = subprocess.Popen(self.enter + command, env=self.env, stdout=log, stderr=log, start_new_session=True)
        self.processes.append(process)
        return process

    def wait_for_nodes(self, count: int) -> None:
        probe = "import ray; ray.init(address='127.0.0.1:6379', log_to_driver=False); print(len(ray.nodes()))"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if int(self.run([sys.executable, "-c", probe], env=self.env, timeout=60).strip()) >= count:
                    return
            except (subprocess.CalledProcessError, ValueError):
                pass
            time.sleep(1)
        raise AssertionError(f"the Ray nodes did not come up: see {self.base}/*.log")

    def embed(self, inputs: list[str], out: Path, *options: str, wait: bool = True, address: str = "127.0.0.1:6379"):
        command = [sys.executable, "-m", "simvec", "embed", *inputs, "-o", str(out), "--engine", "ray"]
        command += ["--address", address, *options]
        if "--workers" not in options:
            command += ["--workers", "2"]
        if wait:
            return subprocess.run(self.enter + command, env=self.env, capture_output=True, text=True, timeout=300)
        return subprocess.Popen(self.enter + command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def client_server_log(self) -> str:
        """The tail of the head's Ray Client proxy log: why a ray:// connection failed, for a failing assertion."""
        logs = sorted((self.base / "head").glob("session_*/logs/ray_client_server.err"))
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in logs)

    def actors_on(self, node: str) -> int:
        """EmbedActors that started on a node: the line each writes to its Ray worker log."""
        logs = (self.base / node).glob("session_*/logs/worker-*.err")
        return sum(path.read_text(errors="replace").count("simvec EmbedActor ready") for path in logs)

    def kill_worker_node(self) -> None:
        """SIGKILL the worker node: `ray start --block` and every process of its session (raylet, workers)."""
        session = os.getsid(self.worker.pid)
        for pid in _netns_pids(self.ns):
            try:
                if os.getsid(pid) == session:
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        super().close()
        for process in self.processes:
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster():
    base = Path(tempfile.mkdtemp(prefix="svray", dir="/tmp"))  # short: Ray's socket paths live in its temp dir
    started = Cluster(base)
    try:
        yield started
    finally:
        started.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def banking_texts(data_dir):
    with (data_dir / "banking77" / "train.csv").open(encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def _write_shards(directory: Path, texts: list[str], shards: int, per_shard: int) -> list[str]:
    directory.mkdir()
    for k in range(shards):
        with (directory / f"part{k}.jsonl").open("w") as handle:
            for i, text in enumerate(texts[k * per_shard : (k + 1) * per_shard]):
                handle.write(json.dumps({"id": f"d{k}-{i}", "text": text, "part": k}) + "\n")
    return [f"d{k}-{i}" for k in range(shards) for i in range(per_shard)]


def _output(out: Path) -> tuple[list[str], np.ndarray, list]:
    tables = [pq.read_table(path) for path in sorted(out.glob("*/*.parquet"))]
    ids = [i for t in tables for i in t.column("id").to_pylist()]
    vectors = np.concatenate([np.stack(t.column("vector").to_numpy(zero_copy_only=False)) for t in tables])
    kept = [v for t in tables if "part" in t.column_names for v in t.column("part").to_pylist()]
    return ids, vectors, kept


@pytest.mark.engine
def test_two_nodes_embed_exactly_the_local_vectors_and_name_corrupt_shards(cluster, encoder, banking_texts, tmp_path):
    expected_ids = _write_shards(tmp_path / "in", banking_texts, shards=4, per_shard=150)
    (tmp_path / "in" / "broken.jsonl").write_text('{"id": "b1", "text": "fine", "part": 9}\n{"id": "b2", "text": \n')
    (tmp_path / "in" / "garbage.parquet").write_bytes(b"PAR1 this is not a parquet file")
    out = tmp_path / "out"
    result = cluster.embed([str(tmp_path / "in" / "*")], out, "--id-field", "id", "--keep-columns", "part")

    assert result.returncode == 1, result.stderr
    assert f"failed shard {tmp_path / 'in' / 'broken.jsonl'}: " in result.stderr
    assert "broken.jsonl:2: invalid JSON" in result.stderr
    assert f"failed shard {tmp_path / 'in' / 'garbage.parquet'}: " in result.stderr
    assert "not a readable parquet file" in result.stderr
    assert "600 vectors" in result.stderr and "4 shards written" in result.stderr and "2 failed" in result.stderr
    assert cluster.actors_on("head") >= 1 and cluster.actors_on("worker") >= 1  # the job used both nodes

    ids, vectors, kept = _output(out)
    assert sorted(ids) == sorted(expected_ids)  # every id exactly once
    assert kept == [int(i.split("-")[0][1:]) for i in ids]  # the chosen column travels with its row
    # The driver resolved the backend once (auto: whatever this CPU gets) and every shard's manifest names it.
    manifests = [json.loads(path.read_text()) for path in sorted(out.glob("*/_manifest.json"))]
    provenance = manifests[0]["provenance"]
    assert len(manifests) == 4 and all(m["provenance"] == provenance for m in manifests)
    assert provenance["backend"] in CONCRETE_BACKENDS and provenance["fingerprint"]
    assert all(m["options"]["backend"] == provenance["backend"] for m in manifests)
    assert f"embedding with backend {describe(provenance)}" in result.stderr
    reference = encoder if encoder.provenance == provenance else Encoder(backend=provenance["backend"])
    assert reference.provenance == provenance  # this process runs the same runtime and artefact as every actor
    by_id = dict(zip(expected_ids, reference.encode(banking_texts[:600]), strict=True))
    local = np.stack([by_id[i] for i in ids])
    cosine = np.sum(local * vectors, axis=1) / np.linalg.norm(local, axis=1) / np.linalg.norm(vectors, axis=1)
    assert cosine.min() >= 0.9999

    # Resume: the verified shards are skipped; a damaged one is redone, and only it (here through Ray Client).
    good = [str(tmp_path / "in" / f"part{k}.jsonl") for k in range(4)]
    again = cluster.embed(good, out, "--id-field", "id", "--keep-columns", "part")
    assert again.returncode == 0 and "4 skipped" in again.stderr and "0 shards written" in again.stderr
    next(iter(sorted(out.glob("part2-*/*.parquet")))).unlink()
    redo = cluster.embed(good, out, "--id-field", "id", "--keep-columns", "part", address="ray://127.0.0.1:10001")
    assert redo.returncode == 0, redo.stderr + cluster.client_server_log()
    assert "1 shards written, 3 skipped" in redo.stderr
    assert sorted(_output(out)[0]) == sorted(expected_ids)


@pytest.mark.engine
def test_the_local_ray_simvec_starts_itself_works_with_no_network_but_loopback(encoder, banking_texts, tmp_path):
    """No --address: simvec starts its own Ray (127.0.0.2, usage stats off), here in a namespace with only `lo`."""
    expected_ids = _write_shards(tmp_path / "in", banking_texts[1000:], shards=1, per_shard=200)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "simvec", "embed", str(tmp_path / "in" / "part0.jsonl"), "-o", str(out)]
    command += ["--engine", "ray", "--workers", "1", "--id-field", "id"]
    namespace, temp = LoopbackNamespace(), tempfile.mkdtemp(prefix="svray", dir="/tmp")
    try:
        result = subprocess.run(
            namespace.enter + command,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(SRC), "RAY_TMPDIR": temp},  # Ray's files: this test's, short path
            timeout=300,
        )
    finally:
        namespace.close()
        shutil.rmtree(temp, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-3000:]
    ids, vectors, _ = _output(out)
    assert ids == expected_ids
    local = encoder.encode(banking_texts[1000:1200])
    assert np.min(np.sum(local * vectors, axis=1)) >= 0.9999


@pytest.mark.engine
def test_more_workers_than_the_cluster_can_place_is_refused_not_a_wait(cluster, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "hello"}\n')
    result = cluster.embed([str(tmp_path / "in.jsonl")], tmp_path / "out", "--workers", "3")
    assert result.returncode == 2
    assert "3 workers of 1 thread(s) need 2.7 CPUs; the Ray cluster has 2" in result.stderr


@pytest.mark.engine
@pytest.mark.model
def test_a_worker_node_lost_mid_job_leaves_every_id_exactly_once(cluster, banking_texts, tmp_path):
    expected_ids = _write_shards(tmp_path / "in", banking_texts, shards=4, per_shard=1000)
    out = tmp_path / "out"
    before = cluster.actors_on("worker")
    job = cluster.embed([str(tmp_path / "in" / "*.jsonl")], out, "--id-field", "id", wait=False)
    deadline = time.monotonic() + 120
    while cluster.actors_on("worker") == before and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.5)
    assert cluster.actors_on("worker") > before, "no actor started on the worker node"
    time.sleep(1)  # the worker's actor takes its first block
    cluster.kill_worker_node()
    assert job.poll() is None and not list(out.glob("*/_manifest.json")), "the job ended before the node was lost"
    _, stderr = job.communicate(timeout=300)
    assert job.returncode == 0, stderr.decode()[-3000:]
    ids, vectors, _ = _output(out)
    assert len(ids) == len(set(ids)) == 4000
    assert sorted(ids) == sorted(expected_ids)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
