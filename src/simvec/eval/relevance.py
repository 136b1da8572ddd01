"""Relevance-filter evaluation on BEIR data: does `min_relevance` return the relevant set better than a fixed cosine cutoff?

For each evaluated query the dense top `depth` hits (exact search) are filtered two ways:

- calibrated: hits whose calibrated relevance is at least `min_relevance` (0.5: "more likely relevant than not");
- fixed cutoff: hits whose raw score is at least the single cutoff that maximised mean per-query F1 on the
  calibration queries (what users do today: pick one cosine threshold);
- tuned: hits whose calibrated relevance reaches the relevance threshold that maximised F1 on the calibration
  queries (F1 rewards returning a likely hit even below P = 0.5, so its best threshold is lower; reported beside
  the 0.5 row, which is what `min_relevance=0.5` means: "more likely relevant than not").

Each returned set gets precision, recall and F1 against the query's relevant documents (qrels grade > 0), averaged
over queries; an empty returned set scores 0 for a query with relevant documents. BEIR qrels list only relevant
documents, so every unjudged document counts as not relevant (precision is a lower bound).

Calibration data: `--calibrate-on OTHER_BEIR_DIR` (learn the map on another dataset: the honest test), or else the
evaluated dataset's queries split in two seeded halves, calibrating on one and evaluating on the other. Either way
the evaluated collection's own noise model (fitted without labels) supplies the query-specific noise z.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from simvec.encoders import Encoder
from simvec.errors import InputError
from simvec.eval.readers import BeirData, read_beir
from simvec.eval.retrieval import build_collection, collection_for, default_cache_dir
from simvec.store import Collection
from simvec.store.calibration import fit_collection_noise, query_words, score_fingerprint
from simvec.tasks.relevance import (
    DEFAULT_FEATURES,
    METHODS,
    Calibration,
    best_fixed_cutoff,
    check_min_relevance,
    fit_labelled,
    labels_for,
    set_metrics,
)

DEPTH = 100  # hits searched per query: the largest set either filter can return


@dataclass
class RelevanceResult:
    """Mean per-query precision/recall/F1 of the calibrated filter and of the best fixed cutoff."""

    dataset: str
    calibrated_on: str
    method: str
    min_relevance: float
    queries: int
    calibration_queries: int
    calibrated: dict[str, float]
    fixed_cutoff: dict[str, float]
    tuned: dict[str, float]
    noise: dict[str, float]
    returned: dict[str, float]
    calibration_error: float
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Run:
    """One collection's dense top-`depth` hits for a list of queries."""

    query_vectors: np.ndarray
    words: list[int]
    ids: list[list[str]]
    scores: list[np.ndarray]
    relevant: list[set[str]]


def _run(collection: Collection, data: BeirData, query_ids: list[str], encoder: Encoder, depth: int) -> _Run:
    texts = [data.queries[q] for q in query_ids]
    vectors = encoder.encode_queries(texts, show_progress=False)
    hits = collection.search_batch(vectors, depth, exact=True)
    return _Run(
        vectors,
        [query_words(text) for text in texts],
        [[h.id for h in row] for row in hits],
        [np.array([h.score for h in row], dtype=np.float64) for row in hits],
        [{doc for doc, grade in data.qrels[q].items() if grade > 0} for q in query_ids],
    )


def _mean_metrics(returned: list[list[str]], relevant: list[set[str]]) -> dict[str, float]:
    rows = np.array([set_metrics(r, rel) for r, rel in zip(returned, relevant, strict=True)])
    return {"precision": float(rows[:, 0].mean()), "recall": float(rows[:, 1].mean()), "f1": float(rows[:, 2].mean())}


def _filter(run: _Run, keep: list[np.ndarray]) -> list[list[str]]:
    return [[doc for doc, ok in zip(ids, mask, strict=True) if ok] for ids, mask in zip(run.ids, keep, strict=True)]


def _relevance(calibration: Calibration, run: _Run, n_documents: int) -> list[np.ndarray]:
    return [
        calibration.relevance(
            scores[None, :], run.query_vectors[i : i + 1], n_documents=n_documents, query_words=run.words[i : i + 1]
        )[0]
        for i, scores in enumerate(run.scores)
    ]


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Mean |P(relevant) - observed rate| over equal-width probability bins, weighted by their share of hits."""
    which = np.minimum((probabilities * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(probabilities[inside].mean() - labels[inside].mean())
    return float(error)


def split_queries(query_ids: list[str], seed: int) -> tuple[list[str], list[str]]:
    """The queries shuffled with `seed` and cut in two halves: (calibration, evaluation)."""
    order = np.random.default_rng(seed).permutation(len(query_ids))
    half = len(query_ids) // 2
    return [query_ids[i] for i in sorted(order[:half])], [query_ids[i] for i in sorted(order[half:])]


def evaluate_relevance(
    directory: str | Path,
    *,
    calibrate_on: str | Path | None = None,
    model: str | Path | Encoder | None = None,
    method: str = "logistic",
    features: Sequence[str] = DEFAULT_FEATURES,
    min_relevance: float = 0.5,
    split: str = "test",
    seed: int = 0,
    depth: int = DEPTH,
    cache_dir: str | Path | None = None,
    show_progress: bool | None = None,
) -> RelevanceResult:
    """Per-query P/R/F1 of `min_relevance` filtering vs the best fixed cutoff, calibrated on other queries."""
    if method not in METHODS[1:]:
        raise InputError(f"unknown method {method!r}; labelled methods: {', '.join(METHODS[1:])}")
    min_relevance = check_min_relevance(min_relevance)
    encoder = model if isinstance(model, Encoder) else Encoder(model)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    data = read_beir(directory, split)
    other = read_beir(calibrate_on, split) if calibrate_on is not None else None  # bad paths fail before embedding
    with build_collection(data, collection_for(data, cache, encoder), encoder, show_progress=show_progress) as target:
        noise = fit_collection_noise(target, seed=seed)
        if other is None:
            calibration_ids, evaluation_ids = split_queries(list(data.queries), seed)
            calibration_run = _run(target, data, calibration_ids, encoder, depth)
            calibrated_on = f"{data.name} (seeded half, seed {seed})"
        else:
            evaluation_ids = list(data.queries)
            other_path = collection_for(other, cache, encoder)
            with build_collection(other, other_path, encoder, show_progress=show_progress) as source:
                source_noise = fit_collection_noise(source, seed=seed)
                calibration_ids = list(other.queries)
                calibration_run = _run(source, other, calibration_ids, encoder, depth)
            calibrated_on = other.name
        if not evaluation_ids or not calibration_ids:
            raise InputError(f"{data.name}: too few judged queries to calibrate on one set and evaluate on another")
        # The labelled map is learned on the calibration queries, with the noise of the collection they searched.
        learned = fit_labelled(
            calibration_run.scores,
            labels_for(calibration_run.ids, calibration_run.relevant),
            calibration_run.query_vectors,
            noise if other is None else source_noise,
            method=method,
            features=features,
        )
        cutoff, _ = best_fixed_cutoff(calibration_run.scores, calibration_run.ids, calibration_run.relevant)
        # The relevance threshold with the best F1 on the calibration queries: min_relevance chosen like the cutoff.
        fitted = Calibration(
            method,
            encoder.model_id,
            encoder.dimension,
            "cosine",
            "",
            0,
            noise if other is None else source_noise,
            *learned,
        )
        in_sample = _relevance(fitted, calibration_run, 0)
        best_threshold, _ = best_fixed_cutoff(in_sample, calibration_run.ids, calibration_run.relevant)
        evaluation = _run(target, data, evaluation_ids, encoder, depth)
        n_documents = len(target)
        fingerprint = score_fingerprint(target)
    # On the evaluated collection its own noise (no labels) gives each query's z.
    calibration = Calibration(
        method, encoder.model_id, encoder.dimension, "cosine", fingerprint, n_documents, noise, *learned
    )
    unlabelled = Calibration("noise", encoder.model_id, encoder.dimension, "cosine", fingerprint, n_documents, noise)
    relevance = _relevance(calibration, evaluation, n_documents)
    noise_relevance = _relevance(unlabelled, evaluation, n_documents)
    calibrated_sets = _filter(evaluation, [r >= min_relevance for r in relevance])
    cutoff_sets = _filter(evaluation, [s >= cutoff for s in evaluation.scores])
    noise_sets = _filter(evaluation, [r >= min_relevance for r in noise_relevance])
    tuned_sets = _filter(evaluation, [r >= best_threshold for r in relevance])
    flat = np.concatenate(relevance)
    truth = np.concatenate(
        [[doc in rel for doc in ids] for ids, rel in zip(evaluation.ids, evaluation.relevant, strict=True)]
    ).astype(np.float64)
    return RelevanceResult(
        dataset=data.name,
        calibrated_on=calibrated_on,
        method=method,
        min_relevance=min_relevance,
        queries=len(evaluation_ids),
        calibration_queries=len(calibration_ids),
        calibrated=_mean_metrics(calibrated_sets, evaluation.relevant),
        fixed_cutoff={"cutoff": cutoff, **_mean_metrics(cutoff_sets, evaluation.relevant)},
        tuned={"min_relevance": best_threshold, **_mean_metrics(tuned_sets, evaluation.relevant)},
        noise=_mean_metrics(noise_sets, evaluation.relevant),
        returned={
            "calibrated": float(np.mean([len(s) for s in calibrated_sets])),
            "fixed_cutoff": float(np.mean([len(s) for s in cutoff_sets])),
            "tuned": float(np.mean([len(s) for s in tuned_sets])),
            "noise": float(np.mean([len(s) for s in noise_sets])),
            "relevant": float(np.mean([len(r) for r in evaluation.relevant])),
        },
        calibration_error=expected_calibration_error(flat, truth),
        extra={
            "model": encoder.model_id,
            "features": learned[0].get("features") if method == "logistic" else ["score"],
            "depth": depth,
            "documents": n_documents,
            "seed": seed,
        },
    )
