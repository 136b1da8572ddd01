"""Zero-shot classification: cosine of query-embedded texts to document-embedded label descriptions.

Texts to classify are embedded as queries and label descriptions as documents (the model card's prompts), so
models with asymmetric prompts put both in the space they were trained for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from simvec.encoders import Encoder, shared_encoder
from simvec.errors import InputError
from simvec.tasks.classifier_base import (
    DEFAULT_TEMPERATURE,
    Classifier,
    Prediction,
    check_abstain,
    check_targets,
    fit_temperature,
    softmax,
)
from simvec.tasks.classify_labels import LabelSpec, check_templates, label_descriptions, label_texts
from simvec.vectors.similarity import l2_normalize


class ZeroShotClassifier(Classifier):
    """Classify texts by cosine to label embeddings, with no training data.

    `labels`: names (`card_arrival` is embedded as "card arrival") or {label: description or [descriptions]};
    `descriptions` adds descriptions to names given as a list. A label's vector is the normalised mean of the
    embeddings of `template` (one or several, each with a `{}`) filled with each of its descriptions.
    `predict_proba` is a softmax over cosines with `temperature` (fitted by `calibrate`); `abstain_below`
    makes `predict` return None when the best label's probability is less than that far ahead of the next, and
    `min_similarity` when the best label's cosine is below it ("none of these": probabilities are relative to
    the labels given, so a text about none of them can still favour one clearly).
    """

    def __init__(
        self,
        labels: LabelSpec,
        *,
        encoder: Encoder | None = None,
        template: str | Sequence[str] = "{}",
        descriptions: Mapping[str, str | Sequence[str]] | None = None,
        temperature: float | None = None,
        abstain_below: float | None = None,
        min_similarity: float | None = None,
    ) -> None:
        self.descriptions = label_descriptions(labels, descriptions)
        self.templates = check_templates(template)
        self.classes_ = list(self.descriptions)
        self.encoder = encoder if encoder is not None else shared_encoder()
        if temperature is not None and not (isinstance(temperature, (int, float)) and temperature > 0):
            raise InputError(f"temperature must be a positive number, got {temperature!r}")
        self.temperature = float(temperature) if temperature is not None else DEFAULT_TEMPERATURE
        self.abstain_below = check_abstain(abstain_below)
        if min_similarity is not None and not (isinstance(min_similarity, (int, float)) and -1 <= min_similarity <= 1):
            raise InputError(f"min_similarity must be a cosine in [-1, 1], got {min_similarity!r}")
        self.min_similarity = min_similarity
        self._label_vectors: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"ZeroShotClassifier({len(self.classes_)} labels, model={self.encoder.model_id!r})"

    def label_texts(self) -> tuple[list[str], list[int]]:
        """The texts embedded for the labels (as documents, in fp32: `Encoder.for_few_texts`) and each one's label."""
        return label_texts(self.descriptions, self.templates)

    def set_label_text_vectors(self, vectors: np.ndarray) -> None:
        """Give the embeddings of `label_texts()` (e.g. computed by a server's batcher)."""
        texts, owners = self.label_texts()
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(texts), self.encoder.dimension):
            raise InputError(f"expected label text vectors of shape {(len(texts), self.encoder.dimension)}")
        self._label_vectors = label_means(vectors, np.asarray(owners), len(self.classes_))

    @property
    def label_vectors(self) -> np.ndarray:
        """(n_labels, dim) unit vectors, one per label."""
        if self._label_vectors is None:
            texts, _ = self.label_texts()
            self.set_label_text_vectors(self.encoder.for_few_texts().encode_documents(texts))
        return self._label_vectors

    def scores_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """(n, n_labels) cosines between embedded texts and the labels."""
        return np.atleast_2d(vectors) @ self.label_vectors.T

    def predict_proba_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """(n, n_labels) probabilities for embedded texts."""
        return softmax(self.scores_vectors(vectors), self.temperature)

    def classify_vectors(self, vectors: np.ndarray, abstain_below: float | None = None) -> list[Prediction]:
        """`classify` for embedded texts; also abstains where no label reaches `min_similarity`."""
        scores = self.scores_vectors(vectors)
        results = self.predictions(softmax(scores, self.temperature), abstain_below)
        if self.min_similarity is None:
            return results
        return [
            replace(r, label=None) if best < self.min_similarity else r
            for r, best in zip(results, scores.max(axis=1), strict=True)
        ]

    def calibrate(self, texts: Iterable[str], labels: Iterable[str]) -> ZeroShotClassifier:
        """Fit the temperature on a few labelled examples (maximum likelihood); returns self."""
        return self.calibrate_vectors(*self.embed_examples(texts, labels))

    def calibrate_vectors(self, vectors: np.ndarray, labels: Sequence[str]) -> ZeroShotClassifier:
        """`calibrate` for texts embedded already."""
        targets = self._targets(check_targets(labels, len(vectors)))
        if len(targets) == 0:
            raise InputError("calibrate needs at least one labelled example")
        self.temperature = fit_temperature(self.scores_vectors(vectors), targets)
        return self


def label_means(vectors: np.ndarray, owners: np.ndarray, n_labels: int) -> np.ndarray:
    """Normalised mean vector of each group (`owners[i]` is the group of row i)."""
    sums = np.zeros((n_labels, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, owners, vectors)
    return l2_normalize(sums.astype(np.float32))
