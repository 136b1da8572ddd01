"""Search benchmark: simvec Collection vs raw FAISS on the same vectors, in the same run.

Vectors are synthetic but shaped like text embeddings (unit length, 384-d, clustered around topics
with a low-rank shared component) because uniformly random 384-d vectors have no neighbourhood
structure at all and make every ANN index look broken. Queries come from the same distribution.
Ground truth is exact inner-product search (FAISS IndexFlatIP).

    python benchmarks/search.py            # 1,000,000 vectors
    python benchmarks/search.py --n 100000 # quicker

Reports build time, QPS for single queries (one call per query) and for one batched call,
recall@10 against exact, and resident memory added by the index, for flat and HNSW.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from simvec import Collection
from simvec.index.faiss_index import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M

DIM = 384
K = 10


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def embedding_like(n: int, seed: int, topics: int = 2000, rank: int = 48) -> np.ndarray:
    """Unit vectors: a topic centre + a low-rank shared direction + isotropic noise."""
    rng = np.random.default_rng(12345)  # the same topics and basis for corpus and queries
    centres = rng.standard_normal((topics, DIM)).astype(np.float32)
    basis = rng.standard_normal((rank, DIM)).astype(np.float32) / np.sqrt(rank)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        x = centres[rng.integers(0, topics, m)] * 0.35
        x += rng.standard_normal((m, rank)).astype(np.float32) @ basis
        x += rng.standard_normal((m, DIM)).astype(np.float32) * 0.05
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / K for f, t in zip(found, truth, strict=False)]))


def timed_qps(search_one, queries: np.ndarray, single: int) -> float:
    start = time.perf_counter()
    for q in queries[:single]:
        search_one(q)
    return single / (time.perf_counter() - start)


def raw_faiss(kind: str, corpus: np.ndarray, queries: np.ndarray, truth: np.ndarray, single: int) -> dict:
    before = rss_mb()
    start = time.perf_counter()
    if kind == "flat":
        index = faiss.IndexFlatIP(DIM)
    else:
        index = faiss.IndexHNSWFlat(DIM, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(corpus)
    build = time.perf_counter() - start
    ram = rss_mb() - before
    qps_single = timed_qps(lambda q, idx=index: idx.search(q[None, :], K), queries, single)
    start = time.perf_counter()
    _, found = index.search(queries, K)
    qps_batch = len(queries) / (time.perf_counter() - start)
    del index
    return {
        "build_s": build,
        "qps_single": qps_single,
        "qps_batch": qps_batch,
        "recall": recall_at_k(found, truth),
        "ram_mb": ram,
    }


def collection(
    kind: str, corpus: np.ndarray, queries: np.ndarray, truth: np.ndarray, single: int, directory: Path
) -> dict:
    path = directory / f"bench-{kind}"
    start = time.perf_counter()
    with Collection.create(path, index=kind) as c:
        c.add(ids=[str(i) for i in range(len(corpus))], vectors=corpus, batch_size=10_000)
    ingest = time.perf_counter() - start
    c = Collection.open(path)
    before = rss_mb()
    start = time.perf_counter()
    c.refresh()  # builds the FAISS index from SQLite and saves it beside the database
    build = time.perf_counter() - start
    ram = rss_mb() - before
    qps_single = timed_qps(lambda q: c.search(q, K), queries, single)
    start = time.perf_counter()
    hits = c.search_batch(queries, K)
    qps_batch = len(queries) / (time.perf_counter() - start)
    found = np.array([[int(h.id) for h in row] + [-1] * (K - len(row)) for row in hits])
    disk = sum(p.stat().st_size for p in path.iterdir()) / 2**20
    c.close()
    return {
        "ingest_s": ingest,
        "build_s": build,
        "qps_single": qps_single,
        "qps_batch": qps_batch,
        "recall": recall_at_k(found, truth),
        "ram_mb": ram,
        "disk_mb": disk,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="corpus vectors")
    parser.add_argument("--queries", type=int, default=1000, help="queries for the batch timing and recall")
    parser.add_argument("--single", type=int, default=200, help="queries timed one call at a time")
    parser.add_argument("--kinds", default="flat,hnsw", help="index kinds to run")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the collections are written (default: a temp dir)"
    )
    args = parser.parse_args()

    print(
        f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {os.cpu_count()} CPUs; n={args.n:,}, d={DIM}, "
        f"{args.queries} queries (single-query timing on {args.single}); HNSW M={HNSW_M} efConstruction={HNSW_EF_CONSTRUCTION} efSearch={HNSW_EF_SEARCH}"
    )
    start = time.perf_counter()
    corpus, queries = embedding_like(args.n, seed=1), embedding_like(args.queries, seed=2)
    exact = faiss.IndexFlatIP(DIM)
    exact.add(corpus)
    _, truth = exact.search(queries, K)
    del exact
    print(f"data + exact ground truth: {time.perf_counter() - start:.1f}s")

    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for kind in args.kinds.split(","):
            raw = raw_faiss(kind, corpus, queries, truth, args.single)
            rows.append((kind, "raw FAISS", raw))
            print(f"  {kind} raw FAISS done", flush=True)
            ours = collection(kind, corpus, queries, truth, args.single, Path(tmp))
            rows.append((kind, "simvec Collection", ours))
            print(f"  {kind} Collection done", flush=True)

    print()
    print("| index | engine | ingest s | index build s | QPS single | QPS batch | recall@10 | index RAM MB | disk MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind, engine, r in rows:
        print(
            f"| {kind} | {engine} | {r.get('ingest_s', 0):.1f} | {r['build_s']:.1f} | {r['qps_single']:,.0f} | {r['qps_batch']:,.0f} | "
            f"{r['recall']:.4f} | {r['ram_mb']:,.0f} | {r.get('disk_mb', 0):,.0f} |"
        )
    for kind in args.kinds.split(","):
        raw, ours = (r for k, _, r in rows if k == kind)
        print(
            f"{kind}: Collection QPS vs raw FAISS: single {ours['qps_single'] / raw['qps_single']:.1%}, batch {ours['qps_batch'] / raw['qps_batch']:.1%}"
        )


if __name__ == "__main__":
    main()
