"""Classification on embeddings, the public entry point: few-shot / supervised `EmbeddingClassifier` here, and
`ZeroShotClassifier` (label embeddings, `simvec.tasks.zero_shot`) re-exported.

`EmbeddingClassifier` learns from examples embedded as queries: logistic regression, k nearest neighbours, or
nearest centroid with an optional label-embedding prior. Shared prediction and abstention are in
`simvec.tasks.classifier_base`, saving and loading in `simvec.tasks.classifier_files`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from simvec.encoders import Encoder, shared_encoder
from simvec.errors import InputError, ModelError
from simvec.tasks.centroids import PRIOR_WEIGHTS, loo_accuracy, loo_scores
from simvec.tasks.classifier_base import (
    DEFAULT_TEMPERATURE,
    Classifier,
    Prediction,
    check_abstain,
    check_targets,
    fit_temperature,
    softmax,
)
from simvec.tasks.classifier_files import METHODS, read_arrays, read_config, saved_model, write_classifier
from simvec.tasks.classify_labels import LabelSpec
from simvec.tasks.zero_shot import ZeroShotClassifier
from simvec.vectors.similarity import l2_normalize

__all__ = ["METHODS", "EmbeddingClassifier", "Prediction", "ZeroShotClassifier", "saved_model"]


class EmbeddingClassifier(Classifier):
    """A classifier trained on embedded examples: `method` "logreg" (scikit-learn logistic regression),
    "knn" (FAISS exact inner-product neighbours, similarity-weighted votes) or "centroid" (nearest class
    centroid by cosine).

    With method="centroid", `labels` (names or {label: descriptions}, as for `ZeroShotClassifier`) start each
    centroid at its label embedding, counted as `prior_weight` examples (default 1: the label is worth one
    example; "auto" picks it by leave-one-out accuracy when every label has 2 or more examples); examples then
    move it. Labels with no example keep their prior.
    """

    def __init__(
        self,
        method: str = "logreg",
        *,
        encoder: Encoder | None = None,
        labels: LabelSpec | None = None,
        template: str | Sequence[str] = "{}",
        prior_weight: float | str = 1.0,
        k: int = 5,
        C: float = 1.0,
        max_iter: int = 1000,
        random_state: int | None = 42,
        abstain_below: float | None = None,
    ) -> None:
        if method not in METHODS:
            raise InputError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
        if labels is not None and method != "centroid":
            raise InputError("labels= (a label-embedding prior) is used by method='centroid' only")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(f"k must be a positive int, got {k!r}")
        if prior_weight != "auto" and not (isinstance(prior_weight, (int, float)) and prior_weight >= 0):
            raise InputError(f"prior_weight must be 'auto' or a number >= 0, got {prior_weight!r}")
        self.method = method
        self.encoder = encoder if encoder is not None else shared_encoder()
        self.prior = ZeroShotClassifier(labels, encoder=self.encoder, template=template) if labels else None
        self.prior_weight = prior_weight
        self.k, self.C, self.max_iter, self.random_state = k, C, max_iter, random_state
        self.abstain_below = check_abstain(abstain_below)
        self.classes_: list[str] = []
        self.temperature = DEFAULT_TEMPERATURE
        self.params: dict[str, np.ndarray] = {}
        self._index = None

    def __repr__(self) -> str:
        state = f"{len(self.classes_)} labels" if self.classes_ else "not fitted"
        return f"EmbeddingClassifier(method={self.method!r}, {state}, model={self.encoder.model_id!r})"

    # ---- training --------------------------------------------------------------------------------

    def fit(self, texts: Iterable[str], labels: Iterable[str]) -> EmbeddingClassifier:
        """Embed `texts` and fit on them; returns self."""
        return self.fit_vectors(*self.embed_examples(texts, labels))

    def fit_vectors(self, vectors: np.ndarray, labels: Sequence[str]) -> EmbeddingClassifier:
        """Fit on texts embedded already (query embeddings of this classifier's model); returns self."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.encoder.dimension:
            raise InputError(f"vectors must have shape (n, {self.encoder.dimension}), got {vectors.shape}")
        labels = check_targets(labels, len(vectors))
        seen = sorted(set(labels))
        prior_classes = self.prior.classes_ if self.prior is not None else []
        if len(set(seen) | set(prior_classes)) < 2:
            raise InputError(f"training data must have at least 2 distinct labels, got {len(seen)}: {seen}")
        self.classes_ = prior_classes + [c for c in seen if c not in set(prior_classes)]
        targets = self._targets(labels)
        self._index = None
        if self.method == "logreg":
            self._fit_logreg(vectors, targets)
        elif self.method == "knn":
            self.params = {"vectors": l2_normalize(vectors), "targets": targets.astype(np.int64)}
        else:
            self._fit_centroids(vectors, targets)
        return self

    def _fit_logreg(self, vectors: np.ndarray, targets: np.ndarray) -> None:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        if len(np.unique(targets)) < 2:
            raise InputError("logistic regression needs examples of at least 2 labels")

        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
        # one BLAS thread: lbfgs on a few thousand rows is many small matrix products, which multi-threaded BLAS
        # makes slower (12x measured on a busy 2-core machine: 5.3 s vs 0.42 s for Banking77's 616 x 384 x 77)
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            # max_iter is a budget (MTEB's protocol uses 100); not converging within it is expected, not news
            warnings.simplefilter("ignore", ConvergenceWarning)
            # few-shot data (one example per label) is what this is for, not a regression target
            warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
            model.fit(vectors, targets)
        # keep sklearn's parameters over our class order (sklearn sorts the targets it saw)
        coef = np.zeros((len(self.classes_), vectors.shape[1]))
        intercept = np.zeros(len(self.classes_))
        if model.coef_.shape[0] == 1:  # binary: sklearn stores one row for the positive class
            coef[model.classes_[1]], intercept[model.classes_[1]] = model.coef_[0], model.intercept_[0]
            coef[model.classes_[0]], intercept[model.classes_[0]] = 0.0, 0.0
        else:
            coef[model.classes_], intercept[model.classes_] = model.coef_, model.intercept_
        self.params = {"coef": coef, "intercept": intercept}

    def _fit_centroids(self, vectors: np.ndarray, targets: np.ndarray) -> None:
        n_labels, unit = len(self.classes_), l2_normalize(vectors).astype(np.float64)
        sums = np.zeros((n_labels, unit.shape[1]))
        np.add.at(sums, targets, unit)
        prior = np.zeros_like(sums)
        if self.prior is not None:
            prior[: len(self.prior.classes_)] = self.prior.label_vectors
        if self.prior is None:
            weights = [0.0]
        else:
            weights = [1.0] if self.prior_weight == "auto" else [float(self.prior_weight)]
            # leave-one-out is biased with one example (its label's centroid is the prior alone): keep 1 then
            counts = np.bincount(targets, minlength=n_labels)
            if self.prior_weight == "auto" and counts[counts > 0].min() >= 2:
                weights = PRIOR_WEIGHTS
        best = max(weights, key=lambda w: loo_accuracy(unit, targets, sums + w * prior))
        self.prior_weight_ = best
        scores, valid = loo_scores(unit, targets, sums + best * prior)
        if valid.any() and len(np.unique(targets[valid])) > 1:
            self.temperature = fit_temperature(scores[valid], targets[valid])
        self.params = {"centroids": l2_normalize((sums + best * prior).astype(np.float32))}

    # ---- prediction ------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not self.classes_:
            raise InputError("this classifier is not fitted: call fit(texts, labels) or load(path) first")

    def predict_proba_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """(n, n_labels) probabilities for embedded texts; columns follow `classes_`."""
        self._check_fitted()
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if vectors.shape[1] != self.encoder.dimension:
            raise InputError(f"vectors must have {self.encoder.dimension} dimensions, got {vectors.shape[1]}")
        if self.method == "logreg":
            logits = vectors.astype(np.float64) @ self.params["coef"].T + self.params["intercept"]
            return softmax(logits, 1.0)
        if self.method == "centroid":
            return softmax(l2_normalize(vectors) @ self.params["centroids"].T, self.temperature)
        return self._knn_proba(l2_normalize(vectors))

    def _knn_proba(self, vectors: np.ndarray) -> np.ndarray:
        import faiss

        if self._index is None:
            self._index = faiss.IndexFlatIP(vectors.shape[1])
            self._index.add(np.ascontiguousarray(self.params["vectors"], dtype=np.float32))
        k = min(self.k, self._index.ntotal)
        sims, neighbours = self._index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        votes = np.zeros((len(vectors), len(self.classes_)))
        # similarity-weighted votes (clipped above 0, so an opposite neighbour never counts against a label)
        weights = np.clip(sims, 1e-6, None)
        np.add.at(
            votes, (np.repeat(np.arange(len(vectors)), k), self.params["targets"][neighbours].ravel()), weights.ravel()
        )
        return votes / votes.sum(axis=1, keepdims=True)

    # ---- persistence -----------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the classifier to a directory: classifier.json (model, labels, settings) + arrays.npz."""
        self._check_fitted()
        path = Path(path)
        config = {
            "method": self.method,
            "model": self.encoder.model_id,
            "dimension": self.encoder.dimension,
            "labels": self.classes_,
            "temperature": self.temperature,
            "k": self.k,
            "C": self.C,
            "max_iter": self.max_iter,
            "prior_weight": getattr(self, "prior_weight_", None),
            "abstain_below": self.abstain_below,
        }
        write_classifier(path, config, self.params)
        return path

    @classmethod
    def load(cls, path: str | Path, *, encoder: Encoder | None = None) -> EmbeddingClassifier:
        """Read a directory written by `save`; refuses an encoder of another model than the one it was fitted with."""
        path = Path(path)
        config = read_config(path)
        if encoder is None:
            encoder = shared_encoder(config["model"])
        if encoder.model_id != config["model"] or encoder.dimension != config["dimension"]:
            raise ModelError(
                f"classifier {path} was fitted with model {config['model']!r} ({config['dimension']} dimensions); "
                f"it cannot be used with model {encoder.model_id!r} ({encoder.dimension} dimensions)"
            )
        classifier = cls(config["method"], encoder=encoder, k=config["k"], C=config["C"], max_iter=config["max_iter"])
        classifier.classes_ = list(config["labels"])
        classifier.temperature = float(config["temperature"])
        classifier.abstain_below = check_abstain(config.get("abstain_below"))
        classifier.params = read_arrays(path, config)
        return classifier
