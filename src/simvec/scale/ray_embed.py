"""Embedding a corpus of file shards on a Ray cluster with Ray Data: read, embed on an actor pool, write Parquet.

The job is three Ray Data stages. Read tasks turn each input file into rows with `simvec.sources.read_records`, so
texts, ids and the error for a bad line are exactly those of the local `simvec embed` (Ray's own `read_json` has no
line numbers, which are the local ids, and one corrupt file fails its whole dataset); a file that cannot be read is
recorded with its error and the others go on. `map_batches` on a fixed pool of actors embeds, one `Encoder` per actor
loaded once. `write_parquet`, partitioned by shard, writes from the workers. The driver then checks every shard's
rows against what its reader saw (count and ids: none missing, none twice) and moves it into place with a manifest
(`simvec.scale.shards`), so a re-run skips what is done and verified.

One job, one vector space: the driver resolves the backend once (`auto` included, by loading the Encoder there),
ships its built graph to every node (installed in the node's cache, so no node calibrates its own) and every actor
loads that concrete backend and checks its provenance (backend, fingerprint, artefact digest) against the driver's.
An actor that cannot load it, or still differs, embeds nothing: it fails the shards of the blocks it receives,
naming both, instead of mixing runtimes (the int8 ones differ by up to ~1% cosine). The manifest of every shard
records the provenance, and a re-run redoes a shard embedded with another.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simvec.atomic import atomic_write_text
from simvec.encoders.backends import BACKENDS
from simvec.encoders.models import resolve_model
from simvec.encoders.provenance import LOAD_FAILURES, describe, differences
from simvec.errors import InputError, SimvecError
from simvec.scale.cluster import connect, disconnect
from simvec.scale.shards import (
    Shard,
    check_rows,
    expand_inputs,
    ids_digest,
    read_ids,
    verified_rows,
    write_manifest,
)
from simvec.sources import Record, read_records

READ_ROWS = 4096  # rows per block a read task yields: bounded memory whatever the size of a file
IO_CPUS = 0.05  # logical CPUs of a read or write task: they wait on files, the actors use the cores


@dataclass
class ShardResult:
    """What happened to one input shard: "written" (and verified), "skipped" (verified before) or "failed"."""

    name: str
    path: str
    status: str
    rows: int = 0
    error: str | None = None


@dataclass
class EmbedReport:
    """The outcome of `embed_dataset`: one result per input shard, and the job's wall time."""

    out_dir: Path
    shards: list[ShardResult] = field(default_factory=list)
    seconds: float = 0.0
    provenance: dict | None = None  # the backend (fingerprint, artefact digest) every actor embedded with

    @property
    def failed(self) -> list[ShardResult]:
        """The shards that were not written, each with its reason."""
        return [s for s in self.shards if s.status == "failed"]

    @property
    def rows(self) -> int:
        """Rows in the output, from this run and earlier verified ones."""
        return sum(s.rows for s in self.shards if s.status != "failed")


def _shard_rows(
    batch: object,
    *,
    text_field: str,
    id_field: str | None,
    columns: Sequence[str],
    errors: str,
    prefix_ids: bool,
    expected_dir: str,
) -> Iterator[object]:
    """Read task: the rows (shard, id, text, columns) of each file in the batch; records each file's ids or error."""
    for path, name in zip(batch["path"].to_pylist(), batch["shard"].to_pylist(), strict=True):
        ids: list[str] = []
        chunk: list = []
        try:
            for record in read_records(
                path, text_field=text_field, id_field=id_field, metadata_fields=list(columns), errors=errors
            ):
                record_id = record.id if record.id is not None else str(record.line)
                if prefix_ids and record.id is None:
                    record_id = f"{Path(path).name}:{record.line}"
                ids.append(record_id)
                chunk.append((record_id, record))
                if len(chunk) == READ_ROWS:
                    yield _block(name, chunk, columns)
                    chunk = []
            if chunk:
                yield _block(name, chunk, columns)
            outcome = {"rows": len(ids), "ids_sha256": ids_digest(ids)}
        except SimvecError as exc:  # a bad file is reported by name; its partial rows are discarded by the driver
            outcome = {"error": str(exc)}
        atomic_write_text(Path(expected_dir) / f"{name}.json", json.dumps(outcome))


def _block(name: str, rows: list[tuple[str, Record]], columns: Sequence[str]) -> object:
    """A pyarrow table of read rows: shard, id, text and the chosen columns."""
    import pyarrow as pa

    table = {"shard": [name] * len(rows), "id": [i for i, _ in rows], "text": [r.text for _, r in rows]}
    for column in columns:
        table[column] = [r.metadata[column] for _, r in rows]
    return pa.table(table)


class EmbedActor:
    """One `Encoder` per actor, loaded once; each call embeds a block's texts and replaces them with vectors.

    The encoder runs the driver's backend on the driver's built graph (`artifact`, installed into this node's cache)
    and must have the driver's provenance (`expected`); if it cannot be loaded here or differs, the actor embeds
    nothing and records why for each shard it is given (in `refused_dir`).
    """

    def __init__(
        self,
        model: str | None,
        backend: str,
        threads: int,
        options: dict,
        expected: dict,
        dimension: int,
        refused_dir: str,
        artifact: list | None = None,
    ) -> None:
        # ONNX Runtime and torch size their thread pools from OMP_NUM_THREADS (simvec.encoders.onnx.physical_cores):
        # an actor uses the cores Ray gave it, not every core of the node.
        os.environ["OMP_NUM_THREADS"] = str(threads)
        from simvec.encoders import Encoder

        self.options, self.dimension, self.refused_dir = options, dimension, Path(refused_dir)
        self.encoder, self.problem = None, None
        node = _node_name()
        try:
            if artifact is not None:  # the driver's graph, in place of one built (perhaps differently) here
                import ray

                from simvec.encoders.artifacts import install_artifact

                install_artifact(*ray.get(artifact[0]))
            self.encoder = Encoder(model, backend=backend, cache=None)
        except LOAD_FAILURES as exc:
            self.problem = f"node {node} cannot build backend {backend!r} ({type(exc).__name__}: {exc})"
        else:
            actual = self.encoder.provenance
            if differences(expected, actual):
                self.problem = (
                    f"node {node} embeds with {describe(actual)}, the driver resolved {describe(expected)}: "
                    "its vectors would not match the rest of the job"
                )
        if "torch" in sys.modules:  # torch read OMP_NUM_THREADS when imported, perhaps before it was set here
            sys.modules["torch"].set_num_threads(threads)
        # one line in this actor's Ray log: which node and process embeds, with what (read by the cluster tests)
        what = repr(self.encoder) if self.problem is None else f"refusing to embed: {self.problem}"
        print(f"simvec EmbedActor ready: pid {os.getpid()}, {what}", file=sys.stderr, flush=True)

    def __call__(self, batch: object) -> object:
        """The block with `text` replaced by `vector` (a fixed-size list of float32, as the local Parquet output)."""
        import pyarrow as pa

        if self.problem is not None:  # no rows: the driver fails these shards with the reason
            for shard in set(batch["shard"].to_pylist()):
                atomic_write_text(self.refused_dir / f"{shard}.json", json.dumps({"error": self.problem}))
            flat = pa.array(np.empty(0, np.float32))
            return (
                batch.slice(0, 0)
                .drop_columns(["text"])
                .append_column("vector", pa.FixedSizeListArray.from_arrays(flat, self.dimension))
            )
        vectors = np.ascontiguousarray(self.encoder.encode(batch["text"].to_pylist(), **self.options), np.float32)
        column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
        return batch.drop_columns(["text"]).append_column("vector", column)


def _node_name() -> str:
    """This host and its Ray node, for a message naming where an actor runs."""
    import ray

    if not ray.is_initialized():  # outside Ray (a unit test); asking for the context would start a local Ray
        return socket.gethostname()
    return f"{socket.gethostname()} (Ray node {ray.get_runtime_context().get_node_id()[:12]})"


def resolve_provenance(model: str | None, backend: str) -> tuple[dict, int, tuple | None]:
    """The provenance every actor must match (`auto` resolved here, once), the model's dimension, and the built
    graph every node installs (None for a backend that runs the model's own files)."""
    from simvec.encoders import Encoder
    from simvec.encoders.artifacts import read_artifact

    encoder = Encoder(model, backend=backend, cache=None)
    artifact = read_artifact(encoder.artifact_dir) if encoder.artifact_dir is not None else None
    return encoder.provenance, encoder.dimension, artifact


def _safe_name(shard: Shard) -> Shard:
    """The shard with a name safe as a directory and a Hive partition value (letters, digits, `._-`)."""
    return Shard(shard.path, re.sub(r"[^A-Za-z0-9._-]", "_", shard.name))


def embed_dataset(
    inputs: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    *,
    address: str | None = None,
    workers: int = 2,
    threads_per_worker: int = 1,
    model: str | None = None,
    backend: str = "auto",
    text_field: str = "text",
    id_field: str | None = None,
    columns: Sequence[str] = (),
    prompt: str | None = None,
    normalize: bool = True,
    truncate_dim: int | None = None,
    batch_size: int = 64,
    errors: str = "strict",
    progress: Callable[[str], None] | None = None,
) -> EmbedReport:
    """Embed every input shard (files or globs of .jsonl/.parquet/.csv/.txt) on Ray into Parquet shards in out_dir."""
    started = time.perf_counter()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be a positive int, got {workers!r}")
    if isinstance(threads_per_worker, bool) or not isinstance(threads_per_worker, int) or threads_per_worker < 1:
        raise InputError(f"threads_per_worker must be a positive int, got {threads_per_worker!r}")
    if "shard" in columns or "id" in columns or "vector" in columns:
        raise InputError(f"columns {list(columns)} may not include shard, id or vector: simvec writes those")
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    card = resolve_model(model)  # a bad model is refused here, not by every actor; nodes get its absolute path
    model = None if model is None else str(card.path)
    say = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    shards = [_safe_name(shard) for shard in expand_inputs(inputs)]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    connected = address is not None
    if connected:  # an unreachable cluster is refused before the model is loaded
        connect(address, num_cpus=None)
    try:
        provenance, dimension, artifact = resolve_provenance(model, backend)
        chosen = " (auto's choice on this driver)" if backend == "auto" else ""
        say(f"embedding with backend {describe(provenance)}{chosen}; every actor loads it and checks it is the same")
        options = {
            "model": str(model) if model is not None else None,
            # the concrete backend: a shard written by auto's choice is not redone when that backend is named
            "backend": provenance["backend"],
            "text_field": text_field,
            "id_field": id_field,
            "columns": list(columns),
            "prompt": prompt,
            "normalize": normalize,
            "truncate_dim": truncate_dim,
            "errors": errors,
            "prefix_ids": len(shards) > 1 and id_field is None,  # line numbers repeat across files: prefix the name
        }
        report = EmbedReport(out, provenance=provenance)
        pending: list[Shard] = []
        for shard in shards:
            rows = verified_rows(out / shard.name, shard, options, provenance)
            if rows is None:
                pending.append(shard)
            else:
                report.shards.append(ShardResult(shard.name, str(shard.path), "skipped", rows))
        say(f"{len(shards)} shards: {len(shards) - len(pending)} already written and verified, {len(pending)} to embed")
        if pending:
            connect(address, num_cpus=None)  # the local Ray is started only when there is work
            connected = True
            job = (
                pending,
                out,
                model,
                provenance,
                artifact,
                dimension,
                workers,
                threads_per_worker,
                batch_size,
                options,
            )
            if address is not None and address.startswith("ray://"):
                # Ray Data needs its driver in the cluster (under Ray Client it fails in 2.60): run it in a task there
                import ray

                results = ray.get(ray.remote(num_cpus=0)(_run).remote(*job, _to_stderr))
                for result in results:
                    say(_result_line(result))
            else:
                results = _run(*job, say)
            report.shards.extend(results)
    finally:
        if connected:
            disconnect()
    report.seconds = time.perf_counter() - started
    return report


def _to_stderr(message: str) -> None:
    """Progress of a job run inside the cluster: to its Ray worker log."""
    print(message, file=sys.stderr, flush=True)


def _result_line(result: ShardResult) -> str:
    """The progress line of one finished shard."""
    if result.status == "failed":
        return f"FAILED {result.path}: {result.error}"
    return f"wrote {result.rows} vectors of {result.path}"


def _run(
    shards: list[Shard],
    out: Path,
    model: str | None,
    provenance: dict,
    artifact: tuple | None,
    dimension: int,
    workers: int,
    threads: int,
    batch_size: int,
    options: dict,
    say: Callable[[str], None],
) -> list[ShardResult]:
    """Run the Ray Data job over the pending shards, then verify each one and move it into place."""
    import ray
    import ray.data

    cpus, needed = ray.cluster_resources().get("CPU", 0), workers * (threads - 2 * IO_CPUS)
    if needed > cpus:  # a fixed pool that cannot be placed would wait forever
        raise InputError(
            f"{workers} workers of {threads} thread(s) need {needed:g} CPUs; the Ray cluster has {cpus:g}: "
            "lower --workers or add nodes"
        )
    staging = out / "_staging" / uuid.uuid4().hex[:12]
    expected_dir, data_dir, refused_dir = staging / "expected", staging / "data", staging / "refused"
    expected_dir.mkdir(parents=True)
    refused_dir.mkdir()
    encode_options = {
        "prompt": options["prompt"],
        "normalize": options["normalize"],
        "truncate_dim": options["truncate_dim"],
        "batch_size": batch_size,
    }
    try:
        items = [{"path": str(s.path), "shard": s.name} for s in shards]
        dataset = (
            ray.data.from_items(items, override_num_blocks=len(items))
            .map_batches(
                _shard_rows,
                batch_size=1,
                batch_format="pyarrow",
                num_cpus=IO_CPUS,
                fn_kwargs={
                    "text_field": options["text_field"],
                    "id_field": options["id_field"],
                    "columns": options["columns"],
                    "errors": options["errors"],
                    "prefix_ids": options["prefix_ids"],
                    "expected_dir": str(expected_dir),
                },
            )
            .map_batches(
                EmbedActor,
                fn_constructor_kwargs={
                    "model": model,
                    "backend": provenance["backend"],
                    "threads": threads,
                    "options": encode_options,
                    "expected": provenance,
                    # the driver's graph, once in the object store: every node embeds with these very bytes
                    "artifact": [ray.put(artifact)] if artifact is not None else None,
                    "dimension": options["truncate_dim"] or dimension,
                    "refused_dir": str(refused_dir),
                },
                batch_size=batch_size * 8,
                batch_format="pyarrow",
                concurrency=workers,
                # an actor holds fewer logical CPUs than its threads, so read and write tasks fit beside it
                num_cpus=threads - 2 * IO_CPUS,
            )
        )
        dataset.write_parquet(str(data_dir), partition_cols=["shard"], ray_remote_args={"num_cpus": IO_CPUS})
        return [_finish(shard, staging, out, options, provenance, say) for shard in shards]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):  # another run's staging is still there
            (out / "_staging").rmdir()


def _finish(
    shard: Shard, staging: Path, out: Path, options: dict, provenance: dict, say: Callable[[str], None]
) -> ShardResult:
    """Verify one shard's written rows against what its reader saw; if they match, move it into place."""
    expected_dir, data_dir, refused = staging / "expected", staging / "data", staging / "refused" / f"{shard.name}.json"
    try:
        expected = json.loads((expected_dir / f"{shard.name}.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        expected = {"error": "its read task did not finish (see the Ray logs)"}
    if refused.is_file():  # an actor could not embed with the driver's backend: some of its rows are missing
        expected = json.loads(refused.read_text(encoding="utf-8"))
    if "error" in expected:
        say(f"FAILED {shard.path}: {expected['error']}")
        return ShardResult(shard.name, str(shard.path), "failed", error=expected["error"])
    staged = data_dir / f"shard={shard.name}"
    staged.mkdir(parents=True, exist_ok=True)  # a shard of no rows has no files
    files = sorted(staged.glob("*.parquet"))
    problem = check_rows(shard, read_ids(files), expected["rows"], expected["ids_sha256"])
    if problem is not None:
        say(f"FAILED {shard.path}: {problem}")
        return ShardResult(shard.name, str(shard.path), "failed", error=problem)
    write_manifest(
        staged, shard, options, expected["rows"], expected["ids_sha256"], [f.name for f in files], provenance
    )
    final = out / shard.name
    if final.exists():
        shutil.rmtree(final)  # an unverified leftover of an earlier run
    os.replace(staged, final)
    say(f"wrote {expected['rows']} vectors of {shard.path} to {final}")
    return ShardResult(shard.name, str(shard.path), "written", expected["rows"])
