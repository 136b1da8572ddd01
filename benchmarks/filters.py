"""Filtered search benchmark (issue 18): simvec vs chromadb, sqlite-vec, LanceDB and Qdrant's local mode, one run.

    pip install -e '.[bench]'        # the peers (benchmark-only dependencies)
    python benchmarks/filters.py --n 100000 --queries 200

The same `--n` x 384 vectors (uniformly random directions, as in the issue's table) with two metadata fields:
`year` (25 values) and `topic` (50 values). Conditions: unfiltered, ~10% (5 topics), ~2% (one topic), ~0.1% (one
topic and one year). Per store and condition: p50/p99 single-query latency (one call per query, after one warm-up
query per condition), recall@10 against exact filtered brute force (numpy over the same vectors), and the store's
bytes on disk. Also simvec's HNSW collection vs raw FAISS on the same HNSW graph (the collection's own index file)
for unfiltered queries, as QPS.

simvec rows are measured twice: "cold" clears the collection's filter cache before every query (each query pays the
metadata-index lookup), "cached" keeps it (a repeated filter, the case the cache is for). Built stores are kept in
`--workdir` and reused when they hold `--n` documents (building 100k HNSW takes minutes on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from simvec import Collection
from simvec.index import VectorIndex

DIM = 384
K = 10
TOPICS = 50
YEARS = 25
CONDITIONS = ("unfiltered", "~10%", "~2%", "~0.1%")
RESULTS = Path(__file__).parent / "results"


def dataset(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit vectors, year, topic number) — the draw order is fixed, so a kept collection matches it."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    years, topics = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    for i in range(n):
        years[i] = 2000 + int(rng.integers(YEARS))
        topics[i] = int(rng.integers(TOPICS))
    return vectors, years, topics


def queries(count: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    out = rng.standard_normal((count, DIM)).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def masks(years: np.ndarray, topics: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "unfiltered": np.ones(len(years), dtype=bool),
        "~10%": topics < 5,
        "~2%": topics == 3,
        "~0.1%": (topics == 3) & (years == 2010),
    }


def truth(vectors: np.ndarray, mask: np.ndarray, qs: np.ndarray) -> list[set[int]]:
    """Exact filtered top-K per query (cosine = inner product on unit vectors)."""
    rows = np.flatnonzero(mask)
    scores = qs @ vectors[rows].T
    top = np.argsort(-scores, axis=1)[:, :K]
    return [set(rows[t].tolist()) for t in top]


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def percentile_ms(times: list[float], q: float) -> float:
    return 1000 * float(np.percentile(times, q))


# ---- stores: build(directory, vectors, years, topics) -> search(query, condition) -> labels ------------------------


def simvec_store(kind: str, cached: bool) -> Callable:
    filters = {
        "unfiltered": None,
        "~10%": {"topic": {"$in": [f"t{t}" for t in range(5)]}},
        "~2%": {"topic": "t3"},
        "~0.1%": {"topic": "t3", "year": 2010},
    }

    def build(directory: Path, vectors, years, topics) -> Callable:
        path = directory / f"simvec-{kind}"
        if (path / "collection.db").exists():
            collection = Collection.open(path)
            if collection.count() != len(vectors):
                collection.close()
                shutil.rmtree(path)
        if not (path / "collection.db").exists():
            collection = Collection.create(path, index=kind)
            metadata = [{"year": int(y), "topic": f"t{t}"} for y, t in zip(years, topics, strict=True)]
            collection.add([f"doc {i}" for i in range(len(vectors))], vectors=vectors, metadata=metadata,
                           batch_size=10_000)  # fmt: skip
        collection.refresh()

        def search(query: np.ndarray, condition: str) -> list[int]:
            if not cached:
                collection.derived.filters = type(collection.derived.filters)()
            hits = collection.search(query, K, filter=filters[condition])
            return [int(h.text.split()[1]) for h in hits]

        search.path, search.collection = path, collection
        return search

    return build


def chroma_build(directory: Path, vectors, years, topics) -> Callable:
    import chromadb

    path = directory / "chroma"
    shutil.rmtree(path, ignore_errors=True)
    client = chromadb.PersistentClient(path=str(path))
    collection = client.create_collection("bench", metadata={"hnsw:space": "cosine"})
    step = 5000
    for start in range(0, len(vectors), step):
        stop = min(start + step, len(vectors))
        collection.add(
            ids=[str(i) for i in range(start, stop)],
            embeddings=vectors[start:stop],
            metadatas=[{"year": int(years[i]), "topic": f"t{topics[i]}"} for i in range(start, stop)],
        )
    wheres = {
        "unfiltered": None,
        "~10%": {"topic": {"$in": [f"t{t}" for t in range(5)]}},
        "~2%": {"topic": "t3"},
        "~0.1%": {"$and": [{"topic": "t3"}, {"year": 2010}]},
    }

    def search(query: np.ndarray, condition: str) -> list[int]:
        found = collection.query(query_embeddings=[query], n_results=K, where=wheres[condition], include=[])
        return [int(i) for i in found["ids"][0]]

    search.path = path
    return search


def sqlite_vec_build(directory: Path, vectors, years, topics) -> Callable:
    import apsw
    import sqlite_vec

    path = directory / "sqlite-vec"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    conn = apsw.Connection(str(path / "vec.db"))
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.execute(
        f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{DIM}] distance_metric=cosine, topic text, year integer)"
    )
    with conn:
        conn.executemany(
            "INSERT INTO v(rowid, embedding, topic, year) VALUES (?, ?, ?, ?)",
            [(i + 1, vectors[i].tobytes(), f"t{topics[i]}", int(years[i])) for i in range(len(vectors))],
        )
    wheres = {
        "unfiltered": ("", ()),
        "~10%": (" AND topic IN ('t0', 't1', 't2', 't3', 't4')", ()),
        "~2%": (" AND topic = ?", ("t3",)),
        "~0.1%": (" AND topic = ? AND year = ?", ("t3", 2010)),
    }

    def search(query: np.ndarray, condition: str) -> list[int]:
        where, params = wheres[condition]
        rows = conn.execute(
            f"SELECT rowid FROM v WHERE embedding MATCH ? AND k = {K}{where}", (query.tobytes(), *params)
        ).fetchall()
        return [row[0] - 1 for row in rows]

    search.path = path
    return search


def lance_build(directory: Path, vectors, years, topics) -> Callable:
    import lancedb
    import pyarrow as pa

    path = directory / "lancedb"
    shutil.rmtree(path, ignore_errors=True)
    db = lancedb.connect(str(path))
    table = db.create_table(
        "bench",
        pa.table(
            {
                "id": pa.array(np.arange(len(vectors))),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
                "year": pa.array(years),
                "topic": pa.array([f"t{t}" for t in topics]),
            }
        ),
    )
    wheres = {
        "unfiltered": None,
        "~10%": "topic IN ('t0', 't1', 't2', 't3', 't4')",
        "~2%": "topic = 't3'",
        "~0.1%": "topic = 't3' AND year = 2010",
    }

    def search(query: np.ndarray, condition: str) -> list[int]:
        request = table.search(query).distance_type("cosine").limit(K).select(["id"])
        if wheres[condition]:
            request = request.where(wheres[condition], prefilter=True)
        return request.to_arrow()["id"].to_pylist()

    search.path = path
    return search


def qdrant_build(directory: Path, vectors, years, topics) -> Callable:
    from qdrant_client import QdrantClient, models

    path = directory / "qdrant"
    shutil.rmtree(path, ignore_errors=True)
    client = QdrantClient(path=str(path))
    client.create_collection("bench", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    step = 5000
    for start in range(0, len(vectors), step):
        stop = min(start + step, len(vectors))
        client.upload_collection(
            "bench",
            vectors=vectors[start:stop],
            payload=[{"year": int(years[i]), "topic": f"t{topics[i]}"} for i in range(start, stop)],
            ids=list(range(start, stop)),
        )
    topic = models.FieldCondition(key="topic", match=models.MatchValue(value="t3"))
    filters = {
        "unfiltered": None,
        "~10%": models.Filter(
            must=[models.FieldCondition(key="topic", match=models.MatchAny(any=[f"t{t}" for t in range(5)]))]
        ),
        "~2%": models.Filter(must=[topic]),
        "~0.1%": models.Filter(must=[topic, models.FieldCondition(key="year", match=models.MatchValue(value=2010))]),
    }

    def search(query: np.ndarray, condition: str) -> list[int]:
        found = client.query_points("bench", query=query, query_filter=filters[condition], limit=K)
        return [int(p.id) for p in found.points]

    search.path = path
    return search


STORES = {
    "simvec HNSW (cached filter)": simvec_store("hnsw", cached=True),
    "simvec HNSW (cold filter)": simvec_store("hnsw", cached=False),
    "simvec flat (cold filter)": simvec_store("flat", cached=False),
    "chromadb": chroma_build,
    "sqlite-vec (brute force)": sqlite_vec_build,
    "LanceDB (no index)": lance_build,
    "Qdrant local mode": qdrant_build,
}


def measure(
    search: Callable, qs: np.ndarray, expected: dict[str, list[set[int]]], budget_s: float, min_queries: int
) -> dict[str, dict[str, float]]:
    """Latency and recall per condition; a store slower than `budget_s` per condition stops after `min_queries`."""
    out = {}
    for condition in CONDITIONS:
        search(qs[0], condition)  # warm-up
        times, recalls = [], []
        began = time.perf_counter()
        for query, wanted in zip(qs, expected[condition], strict=True):
            if len(times) >= min_queries and time.perf_counter() - began > budget_s:
                break
            started = time.perf_counter()
            found = search(query, condition)
            times.append(time.perf_counter() - started)
            recalls.append(len(set(found) & wanted) / max(len(wanted), 1))
        out[condition] = {
            "p50_ms": round(percentile_ms(times, 50), 3),
            "p99_ms": round(percentile_ms(times, 99), 3),
            "recall@10": round(float(np.mean(recalls)), 4),
            "queries": len(times),
        }
    return out


def raw_faiss_ratio(search: Callable, qs: np.ndarray) -> dict[str, float]:
    """Unfiltered QPS of the simvec HNSW collection vs raw FAISS on the same graph and efSearch (128)."""
    index = VectorIndex.load(search.path / "index-hnsw.faiss")
    inner = faiss.downcast_index(index.index.index)
    params = faiss.SearchParametersHNSW(efSearch=128)
    timings = {"raw": [], "simvec": []}
    for _ in range(2):  # interleaved, so both see the same machine load
        for query in qs:
            started = time.perf_counter()
            inner.search(query[None], K, params=params)
            timings["raw"].append(time.perf_counter() - started)
        for query in qs:
            started = time.perf_counter()
            search(query, "unfiltered")
            timings["simvec"].append(time.perf_counter() - started)
    raw_qps, simvec_qps = 1 / float(np.mean(timings["raw"])), 1 / float(np.mean(timings["simvec"]))
    return {
        "raw_faiss_qps": round(raw_qps, 1),
        "simvec_qps": round(simvec_qps, 1),
        "ratio": round(simvec_qps / raw_qps, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--budget-s", type=float, default=30.0, help="per store and condition, after --min-queries")
    parser.add_argument("--min-queries", type=int, default=20)
    parser.add_argument("--output", type=Path, help="JSON results (default: benchmarks/results/filters-N.json)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/simvec-filters-bench"))
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated subset of: " + ", ".join(STORES))
    args = parser.parse_args()
    directory = args.workdir / str(args.n)
    directory.mkdir(parents=True, exist_ok=True)
    vectors, years, topics = dataset(args.n)
    qs = queries(args.queries)
    condition_masks = masks(years, topics)
    expected = {name: truth(vectors, mask, qs) for name, mask in condition_masks.items()}
    raw_bytes = vectors.nbytes
    output = args.output or RESULTS / f"filters-{args.n}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    report = {"n": args.n, "queries": args.queries, "matching": {c: int(m.sum()) for c, m in condition_masks.items()}}
    results = {}
    for name in args.stores.split(","):
        started = time.perf_counter()
        search = STORES[name](directory, vectors, years, topics)
        build_s = time.perf_counter() - started
        results[name] = {"build_s": round(build_s, 1), "disk_mb": round(disk_bytes(search.path) / 1e6, 1)}
        results[name].update(measure(search, qs, expected, args.budget_s, args.min_queries))
        if name.startswith("simvec HNSW (cached"):
            report["hnsw_vs_raw_faiss"] = raw_faiss_ratio(search, qs)
        if hasattr(search, "collection"):
            results[name]["bytes_per_document"] = search.collection.info()["bytes_per_document"]
        print(name, json.dumps(results[name]), flush=True)
        report["results"] = results  # written after every store, so a long run keeps what it measured
        output.write_text(json.dumps(report, indent=2) + "\n")
    report["raw_vector_mb"] = round(raw_bytes / 1e6, 1)
    with open("/proc/loadavg") as load:
        report["loadavg"] = load.read().split()[:3]
    print(f"\n{args.n:,} x {DIM} vectors, {args.queries} queries; matching: {report['matching']}; "
          f"load average {' '.join(report['loadavg'])}")  # fmt: skip
    print("| store | " + " | ".join(f"{c} p50 / p99 ms (recall@10)" for c in CONDITIONS) + " | disk MB |")
    print("|---|" + "---:|" * (len(CONDITIONS) + 1))
    for name, row in results.items():
        cells = [f"{row[c]['p50_ms']:.2f} / {row[c]['p99_ms']:.2f} ({row[c]['recall@10']:.3f})" for c in CONDITIONS]
        print(f"| {name} | " + " | ".join(cells) + f" | {row['disk_mb']} |")
    if "hnsw_vs_raw_faiss" in report:
        print("HNSW unfiltered vs raw FAISS (same graph, efSearch 128):", report["hnsw_vs_raw_faiss"])
    output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
