"""Pair classification evaluation, MTEB's PairClassification protocol on cosine similarity.

For labelled pairs (1 = same meaning / duplicate, 0 = not): the average precision of the cosine scores
(scikit-learn), and the best accuracy and best F1 reachable with one threshold, with that threshold
(midpoints between distinct scores, ties never split, as in sentence-transformers' BinaryClassificationEvaluator).
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simvec.encoders import Encoder
from simvec.errors import InputError, InputFileError

LABELS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}


@dataclass
class LabelledPairs:
    """Text pairs with 0/1 labels."""

    name: str
    texts_a: list[str]
    texts_b: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class PairResult:
    """AP, best-threshold accuracy and F1 of cosine similarity (x100, as MTEB reports them) with thresholds."""

    dataset: str
    pairs: int
    positives: int
    ap: float
    accuracy: float
    accuracy_threshold: float
    f1: float
    f1_threshold: float
    precision: float
    recall: float

    def as_dict(self) -> dict:
        return asdict(self)


def read_pairs_tsv(path: str | Path) -> LabelledPairs:
    """Read `text_a <TAB> text_b <TAB> label` lines (a header row naming the columns is skipped)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(str(path), "no such file")
    texts_a, texts_b, labels = [], [], []
    with path.open(encoding="utf-8", newline="") as handle:
        for line, fields in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not fields or fields == [""]:
                continue
            if len(fields) != 3:
                raise InputFileError(
                    str(path), f"expected 3 tab-separated fields (text_a, text_b, label), got {len(fields)}", line
                )
            label = LABELS.get(fields[2].strip().lower())
            if label is None:
                if line == 1 and not texts_a:
                    continue  # a header row
                raise InputFileError(str(path), f"label {fields[2]!r} is not 0 or 1", line)
            texts_a.append(fields[0])
            texts_b.append(fields[1])
            labels.append(label)
    if not labels:
        raise InputFileError(str(path), "no pairs found")
    return LabelledPairs(path.stem, texts_a, texts_b, np.asarray(labels, dtype=np.int64))


def _cut_points(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores sorted descending, the positions ending each run of equal scores, and the thresholds after them."""
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    nxt = np.append(ranked[ends[:-1] + 1], np.nan)
    thresholds = np.where(np.isnan(nxt), ranked[ends], (ranked[ends] + nxt) / 2)
    # a rounded midpoint must not include the next group of scores
    thresholds = np.where(~np.isnan(nxt) & (thresholds == nxt), ranked[ends], thresholds)
    return order, ends, thresholds


def best_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Best accuracy of `score >= threshold` over all thresholds, and that threshold (all-negative included)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    order, ends, thresholds = _cut_points(scores)
    positives_above = np.cumsum(labels[order] == 1)[ends]
    negatives_above = (ends + 1) - positives_above
    accuracy = (positives_above + (labels == 0).sum() - negatives_above) / len(labels)
    best = int(np.argmax(accuracy))
    none = (labels == 0).sum() / len(labels)  # the threshold above every score
    if accuracy[best] <= none:
        return float(none), float(np.nextafter(scores.max(), np.inf))
    return float(accuracy[best]), float(thresholds[best])


def best_f1(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float, float, float]:
    """Best F1 of `score >= threshold`: (f1, precision, recall, threshold)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    order, ends, thresholds = _cut_points(scores)
    correct = np.cumsum(labels[order] == 1)[ends]
    extracted = ends + 1
    total = max(int((labels == 1).sum()), 1)
    precision = correct / extracted
    recall = correct / total
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(correct > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    if f1[best] <= 0:
        return 0.0, 0.0, 0.0, 0.0
    return float(f1[best]), float(precision[best]), float(recall[best]), float(thresholds[best])


def score_pairs(scores: np.ndarray, labels: np.ndarray, name: str = "pairs") -> PairResult:
    """The PairClassification metrics of given similarity scores."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if len(scores) != len(labels) or not len(labels):
        raise InputError(f"need as many scores as labels, at least one; got {len(scores)} and {len(labels)}")
    if not set(np.unique(labels).tolist()) <= {0, 1}:
        raise InputError("labels must be 0 or 1")
    if len(np.unique(labels)) < 2:
        raise InputError("labels must include both positives (1) and negatives (0): AP is undefined otherwise")
    from sklearn.metrics import average_precision_score  # lazy: scikit-learn costs every CLI start ~1 s

    accuracy, accuracy_threshold = best_accuracy(scores, labels)
    f1, precision, recall, f1_threshold = best_f1(scores, labels)
    return PairResult(
        dataset=name,
        pairs=len(labels),
        positives=int(labels.sum()),
        ap=100 * float(average_precision_score(labels, scores)),
        accuracy=100 * accuracy,
        accuracy_threshold=accuracy_threshold,
        f1=100 * f1,
        f1_threshold=f1_threshold,
        precision=100 * precision,
        recall=100 * recall,
    )


def evaluate_pairs(encoder: Encoder, pairs: LabelledPairs) -> PairResult:
    """Embed both sides, score each pair by cosine, and compute the metrics."""
    a = encoder.encode(pairs.texts_a)
    b = encoder.encode(pairs.texts_b)
    cosines = (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return score_pairs(cosines, pairs.labels, pairs.name)
