"""Domain adaptation measured on held-apart queries: readers of judged queries, protocols, base vs adapted metrics.

Protocols (stated in every result):
- "train-split": train on the dataset's `qrels/train.tsv`, evaluate on `qrels/test.tsv` only (queries in both are
  dropped from training);
- "half": no train split (or `adapt_on="half"`): a seeded random half of the test-judged queries trains, the other
  half is evaluated.
Base and adapted metrics are computed on the same test queries with `simvec.eval.retrieval`'s pytrec_eval scorer.

Qrels files: BEIR (`query-id corpus-id score`, header optional) or TREC (`qid 0 docid grade`), tab- or
space-separated. A line naming an unknown query or document is skipped and reported with its file and line
(`strict=True`: the first one stops the run).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Container, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from simvec.encoders import Encoder
from simvec.errors import InputError, InputFileError
from simvec.eval import readers
from simvec.eval.readers import BeirData, read_beir
from simvec.eval.retrieval import RUN_DEPTH, build_collection, collection_for, default_cache_dir, score_run, trec_run
from simvec.sources import read_records
from simvec.store import Collection
from simvec.tasks.adapt import AdapterConfig
from simvec.tasks.finetune import METADATA_FILE, finetune_metadata
from simvec.vectors.similarity import l2_normalize

PROTOCOLS = ("train", "half")
METHODS = ("adapter", "finetuned")


@dataclass
class Judgements:
    """Relevance judgements read from a file, and the lines that were skipped (file:line: why)."""

    qrels: dict[str, dict[str, int]]
    skipped: list[str] = field(default_factory=list)

    def pairs(self) -> int:
        """Number of (query, relevant document) pairs (grade > 0)."""
        return sum(1 for judged in self.qrels.values() for grade in judged.values() if grade > 0)


def read_queries(path: str | Path) -> dict[str, str]:
    """Queries id -> text, read as `simvec.eval.readers.read_queries` reads them (.jsonl with `_id`, .txt, ...)."""
    ids, texts = readers.read_queries(path)
    return dict(zip(ids, texts, strict=True))


def read_corpus(path: str | Path) -> dict[str, str]:
    """Documents from a BEIR corpus.jsonl (`_id`, `title`, `text`): id -> title + " " + text, as `read_beir`."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(str(path), f"no such file ({readers.BEIR_LAYOUT})")
    return {
        doc.id: (str(doc.metadata.get("title") or "") + " " + doc.text).strip()
        for doc in read_records(path, id_field="_id")
    }


def read_judgements(
    path: str | Path,
    *,
    queries: Container[str] | None = None,
    documents: Container[str] | None = None,
    strict: bool = False,
) -> Judgements:
    """Qrels (BEIR or TREC layout); lines naming a query not in `queries` or a document not in `documents` are
    skipped and listed with file and line, or stop the run with `strict`."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(str(path), "no such file (expected qrels: query-id, corpus-id, score per line)")
    qrels: dict[str, dict[str, int]] = {}
    skipped: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line, raw in enumerate(handle, start=1):
            row = raw.split()
            if not row or (line == 1 and row[0] == "query-id"):
                continue
            if len(row) not in (3, 4):
                raise InputFileError(str(path), f"expected 3 (BEIR) or 4 (TREC) fields, got {len(row)}", line)
            qid, doc_id, grade_text = (row[0], row[1], row[2]) if len(row) == 3 else (row[0], row[2], row[3])
            try:
                grade = int(grade_text)
            except ValueError:
                raise InputFileError(str(path), f"score {grade_text!r} is not an integer", line) from None
            problem = None
            if queries is not None and qid not in queries:
                problem = f"unknown query {qid!r}"
            elif documents is not None and doc_id not in documents:
                problem = f"unknown document {doc_id!r}"
            if problem:
                if strict:
                    raise InputFileError(str(path), problem, line)
                skipped.append(f"{path}:{line}: {problem}")
                continue
            qrels.setdefault(qid, {})[doc_id] = grade
    return Judgements(qrels, skipped)


def split_queries(query_ids: list[str], holdout: float, seed: int) -> tuple[list[str], list[str]]:
    """(training ids, held-apart ids): a seeded random `holdout` share of the ids is held apart."""
    if not 0 < holdout < 1:
        raise InputError(f"holdout must be between 0 and 1 (exclusive), got {holdout}")
    shuffled = sorted(query_ids)
    random.Random(seed).shuffle(shuffled)
    n_held = max(1, int(round(holdout * len(shuffled))))
    return sorted(shuffled[n_held:]), sorted(shuffled[:n_held])


def held_apart_metrics(
    collection: Collection, queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]], adapter: object
) -> dict[str, float]:
    """nDCG@10, MRR@10, Recall@100, MAP@100 of the collection's dense search for judged queries, with `adapter`."""
    ids = [qid for qid in qrels if qid in queries]
    if not ids:
        raise InputError("no held-apart query has both a text and a judgement")
    vectors = collection.encoder.encode_queries([queries[q] for q in ids], show_progress=False)
    hits = collection.search_batch(vectors, min(RUN_DEPTH, collection.count()), exact=True, adapter=adapter)
    return score_run({q: dict(qrels[q]) for q in ids}, trec_run(hits, ids, RUN_DEPTH))


@dataclass
class AdaptEvaluation:
    """Base and adapted metrics on the same test queries, and how the adaptation was trained."""

    dataset: str
    method: str
    protocol: str
    protocol_description: str
    train_queries: int
    train_pairs: int
    test_queries: int
    documents: int
    base: dict[str, float]
    adapted: dict[str, float]
    truncate_dim: int | None = None
    seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["gain"] = {name: round(self.adapted[name] - self.base[name], 4) for name in self.base}
        return data


def protocol_split(directory: Path, adapt_on: str, seed: int) -> tuple[BeirData, dict[str, dict[str, int]], str, str]:
    """(test data, training qrels, protocol name, description) for `adapt_on` ("train" or "half")."""
    if adapt_on not in PROTOCOLS:
        raise InputError(f"unknown adapt_on {adapt_on!r}; valid: {', '.join(PROTOCOLS)}")
    test = read_beir(directory, "test")
    if adapt_on == "train" and (directory / "qrels" / "train.tsv").is_file():
        train = read_beir(directory, "train")
        overlap = set(train.qrels) & set(test.qrels)
        qrels = {qid: judged for qid, judged in train.qrels.items() if qid not in overlap}
        description = (
            f"trained on qrels/train.tsv ({len(qrels)} queries), evaluated on qrels/test.tsv only "
            f"({len(test.qrels)} queries); {len(overlap)} queries judged in both were dropped from training"
        )
        test.queries = {**test.queries, **{qid: train.queries[qid] for qid in qrels}}
        return test, qrels, "train-split", description
    train_ids, test_ids = split_queries(list(test.qrels), 0.5, seed)
    reason = "no qrels/train.tsv" if adapt_on == "train" else "adapt_on='half' (any train split ignored)"
    description = (
        f"{reason}: a random half of the test-judged queries (seed {seed}, {len(train_ids)} queries) trains, "
        f"the other half ({len(test_ids)} queries) is evaluated"
    )
    qrels = {qid: test.qrels[qid] for qid in train_ids}
    test.qrels = {qid: test.qrels[qid] for qid in test_ids}
    return test, qrels, "half", description


def _model_fingerprint(model_dir: Path) -> str:
    """A digest of a model directory's files (names, sizes, times): a re-trained model gets a new cache entry."""
    digest = hashlib.sha256(str(model_dir.resolve()).encode())
    for path in sorted(model_dir.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(model_dir)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _dense_metrics(
    collection: Collection,
    query_ids: list[str],
    query_vectors: np.ndarray,
    qrels: dict,
    adapter: object,
    truncate_dim: int | None,
) -> dict[str, float]:
    """Exact dense search metrics; with `truncate_dim`, queries and documents cut to that many dimensions."""
    if truncate_dim is None:
        hits = collection.search_batch(query_vectors, RUN_DEPTH, exact=True, adapter=adapter)
        return score_run(qrels, trec_run(hits, query_ids, RUN_DEPTH))
    # Matryoshka truncation of the stored vectors, scored exactly (what a t<dim> compression searches before rescoring).
    if adapter is not None:
        query_vectors = adapter.apply(query_vectors)
    doc_ids, matrix = collection.matrix()
    docs = l2_normalize(matrix[:, :truncate_dim].copy())
    queries = l2_normalize(np.ascontiguousarray(query_vectors[:, :truncate_dim]))
    run = {}
    for start in range(0, len(queries), 256):
        scores = queries[start : start + 256] @ docs.T
        top = np.argsort(-scores, axis=1)[:, :RUN_DEPTH]
        for row, qid in enumerate(query_ids[start : start + 256]):
            run[qid] = {doc_ids[j]: float(scores[row, j]) for j in top[row]}
    return score_run(qrels, run)


def evaluate_adaptation(
    directory: str | Path,
    *,
    method: str = "adapter",
    finetuned: str | Path | None = None,
    adapt_on: str = "train",
    model: str | Path | None = None,
    config: AdapterConfig | None = None,
    truncate_dim: int | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    show_progress: bool | None = None,
) -> AdaptEvaluation:
    """Base vs adapted dense retrieval (exact search) on a BEIR dataset's test queries, under a stated protocol.

    `method="adapter"` trains a query adapter on the training queries (no document re-embedded);
    `method="finetuned"` evaluates the model directory `finetuned` (re-embedding the corpus with it, cached) and
    refuses a model whose recorded training queries include test queries.
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if method == "finetuned" and finetuned is None:
        raise InputError("method='finetuned' needs the fine-tuned model directory (finetuned=DIR)")
    directory = Path(directory)
    started = time.perf_counter()
    data, train_qrels, protocol, description = protocol_split(directory, adapt_on, seed)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    test_ids = list(data.qrels)
    recorded = (finetune_metadata(finetuned) or {}) if finetuned is not None else {}
    leaked = set(recorded.get("train_query_ids") or ()) & set(test_ids)
    if leaked:  # checked before any model is loaded
        raise InputError(
            f"{finetuned} was fine-tuned on {len(leaked)} of the test queries (e.g. {sorted(leaked)[0]!r}); "
            "evaluate it on queries it was not trained on"
        )
    encoder = Encoder(model)
    test_texts = [data.queries[qid] for qid in test_ids]
    train_pairs = sum(1 for judged in train_qrels.values() for grade in judged.values() if grade > 0)
    extra: dict[str, object] = {"model": encoder.model_id}
    with build_collection(data, collection_for(data, cache, encoder), encoder, show_progress=show_progress) as base:
        base_vectors = encoder.encode_queries(test_texts, show_progress=False)
        base_metrics = _dense_metrics(base, test_ids, base_vectors, data.qrels, None, truncate_dim)
        if method == "adapter":
            trained = base.train_adapter(data.queries, train_qrels, config=config, keep=False)
            adapted = _dense_metrics(base, test_ids, base_vectors, data.qrels, trained.adapter, truncate_dim)
            extra["adapter"] = trained.as_dict()  # its train_pairs exclude the early-stopping slice
    if method == "finetuned":
        model_dir = Path(finetuned)
        tuned = Encoder(model_dir, backend="torch")
        path = cache / "beir" / f"{data.name}-finetuned-{_model_fingerprint(model_dir)}"
        with build_collection(data, path, tuned, show_progress=show_progress) as collection:
            tuned_vectors = tuned.encode_queries(test_texts, show_progress=False)
            adapted = _dense_metrics(collection, test_ids, tuned_vectors, data.qrels, None, truncate_dim)
        extra.update(
            {
                "finetuned": str(model_dir.resolve()),
                "finetune": {k: v for k, v in recorded.items() if k != "train_query_ids"},
            }
        )
        train_pairs = int(recorded.get("pairs") or 0)
        if not recorded:
            description += f"; {model_dir} has no {METADATA_FILE}: what it was trained on is unknown"
    return AdaptEvaluation(
        dataset=data.name,
        method=method,
        protocol=protocol,
        protocol_description=description,
        train_queries=len(train_qrels),
        train_pairs=train_pairs,
        test_queries=len(test_ids),
        documents=len(data.corpus),
        base=base_metrics,
        adapted=adapted,
        truncate_dim=truncate_dim,
        seconds=round(time.perf_counter() - started, 1),
        extra=extra,
    )


def finetune_holdout(
    corpus: dict[str, str],
    queries: dict[str, str],
    held_qrels: dict[str, dict[str, int]],
    base_model: str | Path | None,
    model_dir: str | Path,
    *,
    cache_dir: str | Path | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """(base, fine-tuned) metrics on held-apart queries: the corpus is embedded with each model (cached)."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    data = BeirData("finetune-holdout", corpus, queries, held_qrels)
    results = []
    for encoder, path in (
        (base := Encoder(base_model, cache=True), collection_for(data, cache, base)),
        (Encoder(model_dir, backend="torch"), cache / "beir" / f"finetune-{_model_fingerprint(Path(model_dir))}"),
    ):
        with build_collection(data, path, encoder) as collection:
            results.append(held_apart_metrics(collection, queries, held_qrels, None))
    return results[0], results[1]
