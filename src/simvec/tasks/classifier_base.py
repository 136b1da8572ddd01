"""What every classifier shares: probabilities over labels, predictions with abstention, temperature fitting.

Probabilities of the cosine-based classifiers (zero-shot, centroid) are a softmax over cosines divided by a
temperature, fitted by maximum likelihood when labelled examples are available.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from simvec.encoders import Encoder
from simvec.errors import InputError, InputTypeError
from simvec.tasks.classify_labels import check_label

# Softmax temperature over cosines when no labelled example is there to fit one: maximum-likelihood fits on
# Banking77's train split for all-MiniLM-L6-v2 give 0.060 (zero-shot, label names) and 0.045 (centroids).
DEFAULT_TEMPERATURE = 0.05
MIN_TEMPERATURE = 0.01


@dataclass(frozen=True)
class Prediction:
    """One text's result: `label` is None when the classifier abstained; `best` is always the top label."""

    label: str | None
    best: str
    probability: float
    runner_up: str
    runner_up_probability: float

    def as_dict(self) -> dict:
        return asdict(self)


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of scores / temperature (shifted by the row maximum, so it never overflows)."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(scores: np.ndarray, targets: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of `targets` under softmax(scores / T)."""
    from scipy.optimize import minimize_scalar

    scores = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(targets))

    def nll(log_t: float) -> float:
        z = scores / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[rows, targets]))

    # bounded in log space, 0.01 to 10: with a few examples that are all classified right the likelihood keeps
    # rising as T -> 0, and 0.01 (a 0.05 cosine lead is already e^5 : 1) stops that certainty short of 1.0
    return float(np.exp(minimize_scalar(nll, bounds=(np.log(MIN_TEMPERATURE), np.log(10.0)), method="bounded").x))


def check_abstain(value: float | None) -> float | None:
    """`abstain_below` checked: None, or a probability margin in [0, 1]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InputError(f"abstain_below must be a number in [0, 1] (a probability margin), got {value!r}")
    return float(value)


def check_targets(labels: Iterable[str], n: int, what: str = "labels") -> list[str]:
    """One valid label per text, as a list."""
    if isinstance(labels, str):
        raise InputTypeError(f"{what} must be a list of labels, one per text, not a single string")
    labels = list(labels)
    if len(labels) != n:
        raise InputError(f"got {n} texts but {len(labels)} {what}")
    for i, label in enumerate(labels):
        check_label(label, f"{what}[{i}]")
    return labels


class Classifier:
    """What both classifiers share: prediction from probabilities, abstention and the encoder."""

    classes_: list[str]
    encoder: Encoder
    abstain_below: float | None

    def predict_proba_vectors(self, vectors: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def embed(self, texts: str | Iterable[str]) -> np.ndarray:
        """Texts as the classifier sees them: (n, dim) query embeddings."""
        items = [texts] if isinstance(texts, str) else texts
        return self.encoder.encode_queries(items)

    def embed_examples(self, texts: str | Iterable[str], labels: Iterable[str]) -> tuple[np.ndarray, list[str]]:
        """Labelled examples for training or calibration: labels checked first (no embedding wasted), then texts
        embedded."""
        items = [texts] if isinstance(texts, str) else list(texts)
        labels = check_targets(labels, len(items))
        return self.embed(items), labels

    def predict_proba(self, texts: str | Iterable[str]) -> np.ndarray:
        """(n, n_labels) probabilities; columns follow `classes_`."""
        return self.predict_proba_vectors(self.embed(texts))

    def predict(self, texts: str | Iterable[str]) -> list[str | None]:
        """The label of each text (None where the classifier abstains)."""
        return [p.label for p in self.classify(texts)]

    def classify(self, texts: str | Iterable[str]) -> list[Prediction]:
        """Label, probability and runner-up of each text."""
        return self.classify_vectors(self.embed(texts))

    def classify_vectors(self, vectors: np.ndarray, abstain_below: float | None = None) -> list[Prediction]:
        """`classify` for texts embedded already (as queries, with this classifier's model)."""
        return self.predictions(self.predict_proba_vectors(vectors), abstain_below)

    def predictions(self, proba: np.ndarray, abstain_below: float | None = None) -> list[Prediction]:
        """Predictions from a probability matrix, abstaining where the best label is not `abstain_below` ahead
        of the runner-up (None: the classifier's own `abstain_below`)."""
        threshold = check_abstain(abstain_below) if abstain_below is not None else self.abstain_below
        order = np.argsort(-proba, axis=1, kind="stable")[:, :2]
        results = []
        for row, (first, second) in zip(proba, order, strict=True):
            best, runner_up = self.classes_[first], self.classes_[second]
            ahead = float(row[first] - row[second])
            label = None if threshold is not None and ahead < threshold else best
            results.append(Prediction(label, best, float(row[first]), runner_up, float(row[second])))
        return results

    def _targets(self, labels: Sequence[str]) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes_)}
        missing = [(i, label) for i, label in enumerate(labels) if label not in index]
        if missing:
            i, label = missing[0]
            raise InputError(f"labels[{i}] {label!r} is not one of this classifier's labels")
        return np.array([index[label] for label in labels])
