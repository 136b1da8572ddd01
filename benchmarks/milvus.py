"""Milvus Lite vs the native collection on the same vectors (issue 14), one run, each store in its own process.

    python benchmarks/milvus.py --n 50000 --queries 300

Vectors: SciFact's corpus vectors from the cached native evaluation collection (`simvec eval retrieval --data
.../scifact` builds it), tiled to `--n` with Gaussian noise (each copy = a corpus vector + N(0, 0.35^2) per
dimension, renormalised), so the set keeps SciFact's cluster structure at any size. Queries: SciFact's test
queries, embedded with the default model. Metadata: `bucket` = i % 50 (one value: 2% of the documents) and `rare`
= i % 1000 (0.1%).

Per store: ingest (create + add in batches of 1,000 + refresh: index built, flushed, loaded), single-query QPS
(one call per query, k=10), recall@10 against exact numpy search, the same for the 2% and 0.1% filters, bytes on
disk per vector, and RAM per vector measured as the growth of the process' resident memory from before the
collection is created to after every search (each store runs in a fresh process, so nothing else is counted).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simvec import Collection, Encoder
from simvec.eval.readers import read_beir
from simvec.eval.retrieval import collection_for, default_cache_dir

K = 10
DATA = Path(os.environ.get("SIMVEC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "scifact"
RESULTS = Path(__file__).parent / "results"
# name -> Collection.create options
STORES = {
    "native flat (exact)": {"index": "flat"},
    "native hnsw": {"index": "hnsw"},
    "native int8 (flat codes)": {"index": "flat", "compression": "int8", "rescore": "none"},
    "milvus FLAT": {"backend": "milvus", "index": "flat"},
    "milvus HNSW": {"backend": "milvus", "index": "hnsw"},
    "milvus HNSW_SQ (int8)": {"backend": "milvus", "index": "hnsw", "compression": "int8", "rescore": "none"},
    "milvus IVF_SQ8 (int8)": {"backend": "milvus", "index": "flat", "compression": "int8", "rescore": "none"},
}
FILTERS = {"unfiltered": None, "2%": {"bucket": 7}, "0.1%": {"rare": 7}}


def rss_bytes() -> int:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def dataset(n: int, encoder: Encoder) -> tuple[np.ndarray, np.ndarray]:
    """(n corpus-like vectors, SciFact query vectors): the draw is seeded, so every process gets the same set."""
    data = read_beir(DATA)
    with Collection.open(collection_for(data, default_cache_dir(), encoder)) as cached:
        _, corpus = cached.matrix()
    rng = np.random.default_rng(0)
    picks = np.arange(n) % len(corpus)
    vectors = corpus[picks] + (picks != np.arange(n))[:, None] * rng.normal(0, 0.35, (n, corpus.shape[1]))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = encoder.encode_queries(list(data.queries.values()), show_progress=False)
    return vectors, queries


def truth(vectors: np.ndarray, queries: np.ndarray, allowed: np.ndarray) -> list[set[int]]:
    index = np.flatnonzero(allowed)
    scores = queries @ vectors[index].T
    top = np.argsort(-scores, axis=1)[:, :K]
    return [set(index[row].tolist()) for row in top]


def measure(name: str, n: int, count: int, workdir: Path) -> dict:
    """Build one store and measure it (run in a child process)."""
    encoder = Encoder()
    vectors, queries = dataset(n, encoder)
    queries = queries[:count]
    ids = [str(i) for i in range(n)]
    metadata = [{"bucket": i % 50, "rare": i % 1000} for i in range(n)]
    path = workdir / "c"
    before = rss_bytes()
    started = time.perf_counter()
    collection = Collection.create(path, model=encoder, **STORES[name])
    collection.add(ids=ids, vectors=vectors, metadata=metadata, batch_size=1000)
    collection.refresh()
    ingest = time.perf_counter() - started
    row = {"store": name, "n": n, "ingest_s": round(ingest, 2), "ingest_per_s": round(n / ingest)}
    masks = {
        "unfiltered": np.ones(n, bool),
        "2%": np.arange(n) % 50 == 7,
        "0.1%": np.arange(n) % 1000 == 7,
    }
    for label, filter in FILTERS.items():
        expected = truth(vectors, queries, masks[label])
        collection.search(queries[0], k=K, filter=filter)  # warm-up
        found, started = [], time.perf_counter()
        for query in queries:
            found.append({int(h.id) for h in collection.search(query, k=K, filter=filter)})
        elapsed = time.perf_counter() - started
        recall = np.mean([len(f & e) / len(e) for f, e in zip(found, expected, strict=True)])
        row[f"qps {label}"] = round(len(queries) / elapsed, 1)
        row[f"recall@10 {label}"] = round(float(recall), 4)
    row["ram_bytes_per_vector"] = round((rss_bytes() - before) / n)
    collection.close()
    row["disk_bytes_per_vector"] = round(disk_bytes(path) / n)
    row["options"] = STORES[name]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated names (default: all)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: measure this store, print JSON
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory(prefix="simvec-milvus-bench-") as workdir:
            print(json.dumps(measure(args.one, args.n, args.queries, Path(workdir))))
        return
    rows = []
    for name in args.stores.split(","):
        done = subprocess.run(
            [sys.executable, __file__, "--n", str(args.n), "--queries", str(args.queries), "--one", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    load = os.getloadavg()
    columns = ["store", "ingest_s", "ingest_per_s"]
    columns += [f"{m} {label}" for label in FILTERS for m in ("qps", "recall@10")]
    columns += ["ram_bytes_per_vector", "disk_bytes_per_vector"]
    print(
        f"n={args.n:,} vectors (SciFact corpus, tiled with noise), {args.queries} SciFact queries, k={K}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"milvus-{args.n}.json"
    out.write_text(json.dumps({"n": args.n, "queries": args.queries, "load": load, "rows": rows}, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
