"""Long documents and multi-vector retrieval on SciFact: truncation vs chunks vs token late interaction vs MUVERA.

    python benchmarks/multivector.py --data ../shared/data/scifact [--json benchmarks/results/multivector-scifact.json]

All on the full corpus (title + " " + text) with the default model, in one run:
  - quality (pytrec_eval nDCG@10, Recall@100): single vector (truncated at 256 tokens, as today), chunked MaxP
    (= exact MaxSim of the query vector over the chunk vectors), exact MaxSim (Chamfer) over token vectors, and
    FDE -> exact MaxSim rerank at several candidate counts;
  - the paper's candidate measurement: the share of the exact MaxSim top-10 that the first stage's candidates hold,
    as a function of the number of candidates, for FDE search and for the single-vector heuristic (every token vector
    indexed in FAISS, candidates = the union of the documents of each query token's nearest token vectors);
  - the Pearson correlation of FDE inner products with Chamfer similarity, per query over all documents;
  - memory per document and query latency; txtai's MUVERA (the anchor) on the same token vectors.
Token and chunk vectors are cached (float16) under ~/.cache/simvec/bench-multivector, so re-runs skip the model.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import faiss
import numpy as np

from simvec import Encoder
from simvec.encoders.artifacts import cache_dir
from simvec.encoders.chunking import Chunker
from simvec.eval.readers import read_beir
from simvec.eval.retrieval import ranked_run, score_run
from simvec.vectors.fde import FDEConfig, document_fde, query_fde
from simvec.vectors.late_interaction import maxsim_matrix

CANDIDATES = (10, 20, 50, 100, 200, 500, 1000)
TOKEN_HITS = (1, 2, 5, 10, 20, 50, 100)  # single-vector heuristic: nearest token vectors per query token
FDE_GRID = (  # (num_repetitions, num_simhash_projections, projection_dimension)
    (20, 5, 16),
    (20, 4, 32),
    (20, 3, 32),
    (10, 4, 16),
    (40, 4, 16),
)


def stacked(sets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sets])]).astype(np.int64)
    return np.concatenate(sets).astype(np.float16), offsets


def cached(path: Path, make):
    if path.exists():
        data = np.load(path)
        return data["vectors"], data["offsets"]
    vectors, offsets = make()
    np.savez(path, vectors=vectors, offsets=offsets)
    return vectors, offsets


def top(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, axis=1)


def run_of(query_ids, doc_ids, scores, depth=100):
    positions = top(scores, depth)
    return ranked_run(query_ids, doc_ids, np.take_along_axis(scores, positions, axis=1), positions)


def recall_of_truth(candidates: list[np.ndarray], truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(c.tolist()) & set(t.tolist())) / len(t) for c, t in zip(candidates, truth, strict=False)])
    )


def rerank(candidates: list[np.ndarray], exact: np.ndarray) -> np.ndarray:
    """Exact MaxSim over the candidates only (others -inf): what FDE -> rerank returns."""
    out = np.full_like(exact, -np.inf)
    for q, c in enumerate(candidates):
        out[q, c] = exact[q, c]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    data = read_beir(args.data)
    doc_ids, query_ids = list(data.corpus), list(data.queries)
    docs, queries = [data.corpus[i] for i in doc_ids], [data.queries[q] for q in query_ids]
    encoder = Encoder()
    store = cache_dir() / "bench-multivector"
    store.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"documents": len(docs), "queries": len(queries), "backend": encoder.backend.name}
    quality: dict[str, dict[str, float]] = {}

    started = time.perf_counter()

    def make_tokens():
        # One pass of the model: mean pooling of the raw states (specials in) is exactly the single vector
        # (tests/test_multivector.py checks it), and the states without [CLS]/[SEP], normalised, are the token vectors.
        raw = encoder.encode_document_tokens(docs, special_tokens=True, normalize=False, batch_size=16)
        single = np.stack([r.mean(axis=0) for r in raw])
        sets = [r[1:-1] / np.linalg.norm(r[1:-1], axis=1, keepdims=True) for r in raw]
        del raw
        token_vectors, token_offsets = stacked(sets)
        np.save(store / "single.npy", single / np.linalg.norm(single, axis=1, keepdims=True))
        return token_vectors, token_offsets

    token_vectors, token_offsets = cached(store / "tokens.npz", make_tokens)
    single = np.load(store / "single.npy")
    query_single = encoder.encode_queries(queries)
    truncated = sum(n >= encoder.max_seq_length for n in encoder.count_tokens(docs))
    report["truncated_documents"] = int(truncated)
    quality["single vector (truncated)"] = score_run(data.qrels, run_of(query_ids, doc_ids, query_single @ single.T))

    chunker = Chunker(encoder.card)
    spans = chunker.spans(docs)
    report["chunks"] = sum(len(s) for s in spans)

    def make_chunks():
        # A document's first chunk holds the same 254 tokens as its truncated text, so its vector is the single
        # vector; only the later chunks of long documents go through the model.
        later = [doc[a:b] for doc, doc_spans in zip(docs, spans, strict=True) for a, b in doc_spans[1:]]
        later_vectors = iter(encoder.encode_documents(later, batch_size=16))
        rows = [np.stack([single[i], *(next(later_vectors) for _ in s[1:])]) for i, s in enumerate(spans)]
        return stacked(rows)

    chunk_vectors, chunk_offsets = cached(store / "chunks.npz", make_chunks)
    maxp = maxsim_matrix(query_single, np.arange(len(queries) + 1), chunk_vectors, chunk_offsets)
    quality["chunked MaxP (256/32 tokens)"] = score_run(data.qrels, run_of(query_ids, doc_ids, maxp))

    query_tokens = encoder.encode_query_tokens(queries)
    query_stacked = np.concatenate(query_tokens)
    query_offsets = np.concatenate([[0], np.cumsum([len(t) for t in query_tokens])])
    report["encode_seconds_or_cached"] = round(time.perf_counter() - started, 1)
    report["tokens_per_document"] = float(np.diff(token_offsets).mean())

    t0 = time.perf_counter()
    exact = maxsim_matrix(query_stacked, query_offsets, token_vectors, token_offsets)
    report["exact_maxsim_ms_per_query"] = round(1000 * (time.perf_counter() - t0) / len(queries), 1)
    quality["exact MaxSim, tokens"] = score_run(data.qrels, run_of(query_ids, doc_ids, exact))
    truth = top(exact, 10)

    # The single-vector heuristic: all token vectors in one FAISS index.
    index = faiss.IndexFlatIP(token_vectors.shape[1])
    index.add(np.asarray(token_vectors, np.float32))
    owner = np.repeat(np.arange(len(docs)), np.diff(token_offsets))
    t0 = time.perf_counter()
    _, hits = index.search(query_stacked, max(TOKEN_HITS))
    token_search_ms = 1000 * (time.perf_counter() - t0) / len(queries)
    del index
    heuristic = []
    for per_token in TOKEN_HITS:
        candidates = [
            np.unique(owner[hits[query_offsets[q] : query_offsets[q + 1], :per_token]]) for q in range(len(queries))
        ]
        heuristic.append(
            {
                "token_hits": per_token,
                "candidates": float(np.mean([len(c) for c in candidates])),
                "recall@10_of_exact": recall_of_truth(candidates, truth),
                "ndcg@10": score_run(data.qrels, run_of(query_ids, doc_ids, rerank(candidates, exact)))["ndcg@10"],
            }
        )
    report["single_vector_heuristic"] = heuristic
    report["token_search_ms_per_query"] = round(token_search_ms, 1)

    # FDE grid: FDE search -> exact rerank, recall of the exact top-10 by candidates.
    sets = [
        np.asarray(token_vectors[a:b], np.float32) for a, b in zip(token_offsets[:-1], token_offsets[1:], strict=False)
    ]
    fde_rows = []
    for reps, k_sim, proj in FDE_GRID:
        config = FDEConfig(384, reps, k_sim, proj, fill_empty_partitions=True)
        t0 = time.perf_counter()
        doc_fde = document_fde(sets, config)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        q_fde = query_fde(query_tokens, config)
        fde_scores = q_fde @ doc_fde.T
        search_ms = 1000 * (time.perf_counter() - t0) / len(queries)
        correlation = float(np.mean([np.corrcoef(f, e)[0, 1] for f, e in zip(fde_scores, exact, strict=False)]))
        order = top(fde_scores, max(CANDIDATES))
        by_candidates = {}
        for c in CANDIDATES:
            candidates = list(order[:, :c])
            by_candidates[c] = {
                "recall@10_of_exact": recall_of_truth(candidates, truth),
                "ndcg@10": score_run(data.qrels, run_of(query_ids, doc_ids, rerank(candidates, exact)))["ndcg@10"],
            }
        fde_rows.append(
            {
                "num_repetitions": reps,
                "num_simhash_projections": k_sim,
                "projection_dimension": proj,
                "dimension": config.output_dimension,
                "build_seconds": round(build, 1),
                "fde_search_ms_per_query": round(search_ms, 2),
                "pearson_fde_vs_chamfer": correlation,
                "fde_only_ndcg@10": score_run(data.qrels, run_of(query_ids, doc_ids, fde_scores))["ndcg@10"],
                "by_candidates": by_candidates,
            }
        )
        print(json.dumps(fde_rows[-1]), flush=True)
        del doc_fde
    report["fde"] = fde_rows

    # txtai's MUVERA (the anchor) on the same vectors at the paper's default (no fill_empty_partitions there).
    try:
        from txtai.models.pooling.muvera import Muvera

        muvera = Muvera(repetitions=20, hashes=5, projection=16, seed=1)
        t0 = time.perf_counter()
        txtai_docs = muvera(sets, "data")
        txtai_build = time.perf_counter() - t0
        txtai_scores = muvera(query_tokens, "query") @ txtai_docs.T
        ours = document_fde(sets[:50], FDEConfig(384, 20, 5, 16, fill_empty_partitions=False))
        order = top(txtai_scores, max(CANDIDATES))
        report["txtai"] = {
            "build_seconds": round(txtai_build, 1),
            "max_abs_difference_to_simvec_without_fill": float(np.abs(ours - txtai_docs[:50]).max()),
            "pearson_fde_vs_chamfer": float(
                np.mean([np.corrcoef(f, e)[0, 1] for f, e in zip(txtai_scores, exact, strict=False)])
            ),
            "by_candidates": {c: recall_of_truth(list(order[:, :c]), truth) for c in CANDIDATES},
        }
    except ImportError as exc:
        report["txtai"] = f"not installed: {exc}"

    report["quality"] = quality
    report["bytes_per_document"] = {
        "single vector float32": 384 * 4,
        "chunk vectors float16": float(np.diff(chunk_offsets).mean() * 384 * 2),
        "token vectors float16": float(np.diff(token_offsets).mean() * 384 * 2),
        **{f"FDE {r['dimension']} float32": r["dimension"] * 4 for r in fde_rows},
    }
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
