"""Retrieval evaluation on the BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.

The corpus goes into a `Collection` (document text = title + " " + text) kept in a cache directory,
so its embeddings are computed once: a re-run re-adds the same documents, which the content hash
skips. Metrics come from pytrec_eval (trec_eval's own code): nDCG@10, MRR@10, Recall@100, MAP@100.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pytrec_eval

from simvec.encoders import Encoder
from simvec.encoders.artifacts import cache_dir
from simvec.eval.readers import BeirData, read_beir
from simvec.store import Collection, CollectionError
from simvec.types import MODES, Mode, one_of

EVAL_MODES = (*MODES, "multivector")  # "all" runs MODES; multivector builds a second, larger collection

RUN_DEPTH = 100  # hits kept per query: enough for Recall@100 and MAP@100
# Our metric names -> pytrec_eval measure keys; MRR@10 is recip_rank over runs cut at depth 10.
MEASURES = {"ndcg@10": "ndcg_cut_10", "recall@100": "recall_100", "map@100": "map_cut_100"}


@dataclass
class RetrievalResult:
    """Mean metrics over the judged queries for one search mode."""

    dataset: str
    mode: Mode
    queries: int
    documents: int
    metrics: dict[str, float]
    hnsw_recall_at_10: float | None = None
    # mode "multivector": ndcg@10, recall@100, fde_recall@10 (share of the exact MaxSim top 10 among the FDE
    # candidates), candidates, kind, exact_ndcg@10 (MaxSim over every document)
    multivector: dict[str, object] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def default_cache_dir() -> Path:
    """simvec's cache directory ($SIMVEC_CACHE_DIR, else $XDG_CACHE_HOME/simvec, else ~/.cache/simvec)."""
    return cache_dir()


def collection_for(data: BeirData, cache_dir: Path, encoder: Encoder) -> Path:
    """Where the corpus collection for this dataset, model and backend lives (a digest of all three names it)."""
    # The backend is part of the key: int8 and fp32 graphs give slightly different vectors, and a figure measured
    # with one backend's queries against another's documents would be neither's.
    key = [encoder.model_id, encoder.backend.fingerprint, sorted(data.corpus.items())]
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]
    return cache_dir / "beir" / f"{data.name}-{digest}"


def build_collection(
    data: BeirData,
    path: Path,
    encoder: Encoder,
    *,
    show_progress: bool | None = None,
    multivector: str | None = None,
    batch_size: int = 2000,
) -> Collection:
    """Open (or create) the corpus collection at `path` (multi-vector: "tokens" or "chunks") holding every document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time: a second evaluation of the same dataset waits here, then finds every document stored.
    with open(path.parent / f"{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        collection = (
            Collection.open(path, model=encoder)
            if (path / "collection.db").exists()
            else Collection.create(path, model=encoder, index="flat", multivector=multivector)
        )
        ids = list(data.corpus)
        collection.add([data.corpus[i] for i in ids], ids=ids, batch_size=batch_size, show_progress=show_progress)
    return collection


def milvus_copy(
    native: Collection, path: Path, uri: str | None, encoder: Encoder, batch_size: int = 2000
) -> Collection:
    """The corpus in a Milvus collection at `path` (beside the native one, same digest), from the native collection's
    stored vectors: nothing is embedded again, and a re-run finds every document unchanged (content hash)."""
    with open(path.parent / f"{path.name}.lock", "a") as lock:  # one builder at a time, as in build_collection
        fcntl.flock(lock, fcntl.LOCK_EX)
        collection = None
        if (path / "collection.db").exists():
            try:
                collection = Collection.open(path, model=encoder)
            except CollectionError:  # a stale cache entry (the server was reset, say): built again below
                shutil.rmtree(path)
        if collection is None:
            collection = Collection.create(path, model=encoder, index="flat", backend="milvus", uri=uri)
        ids, vectors = native.matrix()
        texts = [document.text for document in native.get(ids)]
        collection.add(texts, ids=ids, vectors=vectors, batch_size=batch_size)
        collection.refresh()  # flushed, loaded, and the FLAT index checked
    return collection


def evaluate_multivector(
    data: BeirData, path: Path, encoder: Encoder, kind: str, *, show_progress: bool | None = None
) -> RetrievalResult:
    """nDCG@10/Recall@100 of FDE -> MaxSim rerank at the default candidates, and its recall of exact MaxSim's top 10."""
    query_ids = list(data.queries)
    texts = [data.queries[qid] for qid in query_ids]
    with build_collection(
        data, path, encoder, show_progress=show_progress, multivector=kind, batch_size=500
    ) as collection:
        candidates = collection.multivector.candidates
        found = collection.search_batch(texts, max(RUN_DEPTH, candidates))
        exact = collection.search_batch(texts, RUN_DEPTH, exact=True)
    pool = [{h.id for h in hits[:candidates]} for hits in found]
    fde_recall = float(
        np.mean([len({h.id for h in e[:10]} & p) / max(1, min(10, len(e))) for e, p in zip(exact, pool, strict=False)])
    )
    metrics = score_run(data.qrels, trec_run(found, query_ids, RUN_DEPTH))
    exact_metrics = score_run(data.qrels, trec_run(exact, query_ids, RUN_DEPTH))
    result = RetrievalResult(data.name, "multivector", len(query_ids), len(data.corpus), metrics)
    result.multivector = {
        "kind": kind,
        "ndcg@10": metrics["ndcg@10"],
        "recall@100": metrics["recall@100"],
        "fde_recall@10": fde_recall,
        "candidates": candidates,
        "exact_ndcg@10": exact_metrics["ndcg@10"],
        "exact_recall@100": exact_metrics["recall@100"],
    }
    result.extra = {"model": encoder.model_id, "collection": str(path), "exact": False}
    return result


def trec_run(results: list[list], query_ids: list[str], depth: int) -> dict[str, dict[str, float]]:
    """{qid: {docid: score}} from hit lists, keeping the first `depth` hits of each query."""
    return {
        qid: {hit.id: float(hit.score) for hit in hits[:depth]} for qid, hits in zip(query_ids, results, strict=False)
    }


def ranked_run(
    query_ids: Sequence[str], doc_ids: Sequence[str], scores: np.ndarray, positions: np.ndarray
) -> dict[str, dict[str, float]]:
    """{qid: {docid: score}} from ranked rows of (scores, positions in `doc_ids`); a negative position is no hit."""
    return {
        qid: {str(doc_ids[p]): float(s) for s, p in zip(row_scores, row_positions, strict=True) if p >= 0}
        for qid, row_scores, row_positions in zip(query_ids, scores, positions, strict=True)
    }


def score_run(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean nDCG@10, MRR@10, Recall@100 and MAP@100 over the queries in qrels, with pytrec_eval.

    A query with no hits counts as 0 (pytrec_eval would otherwise leave it out of the mean).
    """
    judged = qrels
    full = pytrec_eval.RelevanceEvaluator(judged, set(MEASURES.values())).evaluate(run)
    cut = {qid: dict(sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))[:10]) for qid, hits in run.items()}
    mrr = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"}).evaluate(cut)
    n = len(judged)
    metrics = {name: sum(full.get(qid, {}).get(key, 0.0) for qid in judged) / n for name, key in MEASURES.items()}
    metrics["mrr@10"] = sum(mrr.get(qid, {}).get("recip_rank", 0.0) for qid in judged) / n
    return {name: metrics[name] for name in ("ndcg@10", "mrr@10", "recall@100", "map@100")}


def hnsw_recall_at_10(collection_path: Path, encoder: Encoder, query_vectors: np.ndarray, exact: list[list]) -> float:
    """Mean overlap of HNSW's top 10 with exact search's top 10, same query vectors, default settings."""
    with Collection.open(collection_path, model=encoder, index="hnsw") as approximate:
        found = approximate.search_batch(query_vectors, 10)
    overlaps = [
        len({h.id for h in a} & {h.id for h in e[:10]}) / max(1, min(10, len(e)))
        for a, e in zip(found, exact, strict=False)
    ]
    return float(np.mean(overlaps))


def evaluate_retrieval(
    directory: str | Path,
    *,
    modes: tuple[Mode, ...] = ("dense",),
    model: str | Path | Encoder | None = None,
    split: str = "test",
    cache_dir: str | Path | None = None,
    show_progress: bool | None = None,
    multivector: str = "tokens",
    backend: str = "native",
    uri: str | None = None,
) -> list[RetrievalResult]:
    """Evaluate each search mode on a BEIR dataset; dense mode also reports HNSW recall@10 vs exact.

    Mode "multivector" builds a multi-vector collection of the corpus (`multivector`: "tokens" or "chunks") and
    reports FDE -> MaxSim search (see `evaluate_multivector`). `backend="milvus"` searches a Milvus copy of the
    corpus (FLAT index, so dense search is exact; `uri`: a server, default a Milvus Lite file in the cache) filled
    from the native collection's cached vectors; HNSW recall@10 is then not measured.
    """
    one_of(backend, ("native", "milvus"), "backend")
    if backend == "native" and uri is not None:
        raise CollectionError("uri is for backend='milvus'")
    for mode in modes:
        one_of(mode, EVAL_MODES, "mode")
    one_of(multivector, ("tokens", "chunks"), "multivector kind")
    data = read_beir(directory, split)
    encoder = model if isinstance(model, Encoder) else Encoder(model)
    path = collection_for(data, Path(cache_dir) if cache_dir else default_cache_dir(), encoder)
    query_ids = list(data.queries)
    texts = [data.queries[qid] for qid in query_ids]
    results = []
    if "multivector" in modes:
        mv_path = path.with_name(f"{path.name}-multivector-{multivector}")
        results.append(evaluate_multivector(data, mv_path, encoder, multivector, show_progress=show_progress))
        modes = tuple(m for m in modes if m != "multivector")
        if not modes:
            return results
    collection = build_collection(data, path, encoder, show_progress=show_progress)
    if backend == "milvus":
        with collection:
            where = "" if uri is None else "-" + hashlib.sha256(uri.encode()).hexdigest()[:10]  # a copy per URI
            collection = milvus_copy(collection, path.with_name(f"{path.name}-milvus{where}"), uri, encoder)
    with collection:
        query_vectors = encoder.encode_queries(texts, show_progress=False)
        for mode in modes:
            if mode == "dense":
                hits = collection.search_batch(query_vectors, RUN_DEPTH, exact=True)
            else:
                hits = collection.search_batch(texts, RUN_DEPTH, mode=mode)
            result = RetrievalResult(
                data.name,
                mode,
                len(query_ids),
                len(data.corpus),
                score_run(data.qrels, trec_run(hits, query_ids, RUN_DEPTH)),
            )
            if mode == "dense" and backend == "native":
                result.hnsw_recall_at_10 = hnsw_recall_at_10(path, encoder, query_vectors, hits)
            result.extra = {
                "model": encoder.model_id,
                "collection": str(collection.path),
                "exact": mode == "dense",
                "backend": collection.settings.get("backend") or "native",
            }
            results.append(result)
    return results
