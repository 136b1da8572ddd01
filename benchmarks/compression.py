"""First-stage binary search vs float32 exact search on 1M vectors, measured in the same run.

Vectors are the embedding-like synthetic ones of benchmarks/search.py (unit length, 384-d, topic clusters).
float32 exact is FAISS IndexFlatIP (what a flat collection searches); the binary first stage is simvec's
`CodeIndex` over sign bits (FAISS IndexBinaryFlat, 48 bytes/vector). Rounds alternate between the two so load
drift on a shared machine hits both alike; the reported ratio is the median of the per-round ratios. Recall@10
against exact is given for the first stage alone and after rescoring 10x candidates with int8 vectors from a
memory-mapped file (the default two-stage search of a binary collection).

    python benchmarks/compression.py                 # 1,000,000 vectors
    python benchmarks/compression.py --n 200000      # quicker
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from search import DIM, K, embedding_like, recall_at_k  # benchmarks/search.py: same synthetic vectors
from simvec.index.compressed import CodeIndex, RescoreStore, rescore
from simvec.vectors.compression_spec import parse_compression


def timed(search, queries: np.ndarray, single: int) -> tuple[float, float]:
    """(batch QPS over all queries in one call, QPS one query per call over the first `single`)."""
    start = time.perf_counter()
    search(queries)
    batch = len(queries) / (time.perf_counter() - start)
    start = time.perf_counter()
    for q in queries[:single]:
        search(q[None, :])
    return batch, single / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="corpus vectors")
    parser.add_argument("--queries", type=int, default=200, help="queries per batch timing and for recall")
    parser.add_argument("--single", type=int, default=20, help="queries timed one call at a time")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds")
    parser.add_argument("--threads", type=int, default=1, help="FAISS threads (1: no OpenMP spinning on a shared box)")
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)

    corpus, queries = embedding_like(args.n, seed=1), embedding_like(args.queries, seed=2)
    labels = np.arange(1, args.n + 1, dtype=np.int64)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(corpus)
    _, truth = flat.search(queries, K)
    start = time.perf_counter()
    binary = CodeIndex.build(parse_compression("binary", dimension=DIM), "ip", DIM, labels, corpus)
    build = time.perf_counter() - start

    contenders = {
        "float32 exact (IndexFlatIP)": lambda q: flat.search(q, K),
        "binary first stage (CodeIndex, Hamming)": lambda q: binary.search(q, K),
    }
    rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, search in contenders.items():
            rounds[name].append(timed(search, queries, args.single))

    _, first = binary.search(queries, K)
    with tempfile.TemporaryDirectory() as directory:
        store = RescoreStore.write(Path(directory) / "rescore-int8.vec", "int8", labels, corpus, generation=0)
        _, candidates = binary.search(queries, K * 10)
        _, rescored = rescore(
            queries, candidates, K, "ip", lambda wanted: store.vectors(wanted, lambda missing: corpus[missing - 1])
        )

    print(
        f"{args.n:,} vectors x {DIM} dims, {args.queries} queries (batch) / {args.single} single, {args.rounds} rounds, {args.threads} FAISS thread(s)"
    )
    print(f"binary codes built in {build:.1f} s; RAM: float32 {4 * DIM} B/vector, binary {DIM // 8} B/vector")
    print(f"{'index':42} {'batch QPS':>10} {'single QPS':>11} {'recall@10':>10}")
    recall = {
        "float32 exact (IndexFlatIP)": 1.0,
        "binary first stage (CodeIndex, Hamming)": recall_at_k(first - 1, truth),
    }
    for name in contenders:
        batch, single = statistics.median(r[0] for r in rounds[name]), statistics.median(r[1] for r in rounds[name])
        print(f"{name:42} {batch:10,.0f} {single:11,.1f} {recall[name]:10.3f}")
    print(
        f"{'binary x10 candidates + int8 rescoring (mmap)':42} {'':>10} {'':>11} {recall_at_k(rescored - 1, truth):10.3f}"
    )
    names = list(contenders)
    ratios = [(b[0] / f[0], b[1] / f[1]) for f, b in zip(rounds[names[0]], rounds[names[1]], strict=False)]
    print(
        f"binary / float32 QPS, median of per-round ratios: batch {statistics.median(r[0] for r in ratios):.1f}x, "
        f"single query {statistics.median(r[1] for r in ratios):.1f}x (target >= 10x)"
    )


if __name__ == "__main__":
    main()
