"""Clustering evaluation: V-measure against gold labels, MTEB's legacy protocol and simvec's own `cluster()`.

MTEB's legacy ClusteringEvaluator: MiniBatchKMeans with k = the number of gold labels, batch_size=500,
n_init="auto", on the raw embeddings; score = sklearn's v_measure_score. AbsTaskClustering reports the mean and
standard deviation over its sets; with one set (Banking77) we report them over seeds instead (random_state=seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from simvec.encoders import Encoder
from simvec.errors import InputError, InputFileError
from simvec.eval.classification import LabelledTexts
from simvec.eval.classification import read_labelled_csv as read_csv
from simvec.tasks.cluster import cluster

MTEB_BATCH_SIZE = 500


@dataclass
class VMeasure:
    """V-measure x100 over seeds: mean, standard deviation, and each seed's score."""

    mean: float
    std: float
    per_seed: list[float]
    k: list[int]

    @classmethod
    def of(cls, scores: Sequence[float], ks: Sequence[int]) -> VMeasure:
        values = np.asarray(scores, dtype=np.float64) * 100
        return cls(float(values.mean()), float(values.std()), [round(float(v), 4) for v in values], list(ks))


@dataclass
class ClusteringEvalResult:
    dataset: str
    texts: int
    labels: int
    mteb_legacy: VMeasure
    simvec_default: VMeasure

    def as_dict(self) -> dict:
        return asdict(self)


def read_labelled_csv(
    data: str | Path, split: str = "test", *, text_column: str = "text", label_column: str | None = None
) -> LabelledTexts:
    """Texts and labels from a CSV file, or from `{split}.csv` in a directory (the Banking77 layout)."""
    path = Path(data)
    if path.is_dir():
        path = path / f"{split}.csv"
    labelled = read_csv(path, text_column=text_column, label_column=label_column)
    if len(labelled.texts) < 2:
        raise InputFileError(str(path), f"needs at least 2 rows to cluster, got {len(labelled.texts)}")
    name = path.parent.name if path.stem in ("train", "test", "dev", "validation") else path.stem
    return replace(labelled, name=f"{name}-{path.stem}")


def mteb_legacy_v_measure(embeddings: np.ndarray, labels: Sequence[str], seed: int) -> float:
    """One run of MTEB's legacy ClusteringEvaluator (scikit-learn, as MTEB calls it)."""
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.metrics import v_measure_score

    model = MiniBatchKMeans(n_clusters=len(set(labels)), batch_size=MTEB_BATCH_SIZE, n_init="auto", random_state=seed)
    return float(v_measure_score(labels, model.fit(embeddings).labels_))


def evaluate_clustering(
    encoder: Encoder,
    data: LabelledTexts,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    embeddings: np.ndarray | None = None,
) -> ClusteringEvalResult:
    """V-measure of MTEB's legacy k-means and of `cluster()` with its defaults (k chosen), over `seeds`."""
    from sklearn.metrics import v_measure_score

    if not seeds:
        raise InputError("give at least one seed")
    vectors = encoder.encode(data.texts) if embeddings is None else embeddings
    k_gold = len(set(data.labels))
    legacy = [mteb_legacy_v_measure(vectors, data.labels, seed) for seed in seeds]
    ours, ks = [], []
    for seed in seeds:
        result = cluster(vectors, seed=seed, n_keywords=0, n_examples=0)
        ours.append(float(v_measure_score(data.labels, result.labels)))
        ks.append(result.k)
    return ClusteringEvalResult(
        data.name, len(data.texts), k_gold, VMeasure.of(legacy, [k_gold] * len(seeds)), VMeasure.of(ours, ks)
    )
