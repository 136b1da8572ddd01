"""Classification on embeddings: zero-shot with label embeddings, and few-shot / supervised classifiers.

Texts to classify are embedded as queries and label descriptions as documents (the model card's prompts), so
models with asymmetric prompts put both in the space they were trained for. Probabilities of the cosine-based
classifiers (zero-shot, centroid) are a softmax over cosines divided by a temperature, fitted by maximum
likelihood when labelled examples are available.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from simvec.encoders import Encoder, shared_encoder
from simvec.errors import InputError, InputFileError, InputTypeError, ModelError
from simvec.tasks.classify_labels import (
    LabelSpec,
    check_label,
    check_templates,
    label_descriptions,
    label_texts,
)
from simvec.vectors.similarity import l2_normalize

METHODS = ("logreg", "knn", "centroid")
# Softmax temperature over cosines when no labelled example is there to fit one: maximum-likelihood fits on
# Banking77's train split for all-MiniLM-L6-v2 give 0.060 (zero-shot, label names) and 0.045 (centroids).
DEFAULT_TEMPERATURE = 0.05
MIN_TEMPERATURE = 0.01
PRIOR_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # candidates for prior_weight="auto"
CONFIG_FILE, ARRAYS_FILE, FORMAT = "classifier.json", "arrays.npz", "simvec-classifier/1"


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
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InputError(f"abstain_below must be a number in [0, 1] (a probability margin), got {value!r}")
    return float(value)


def _check_targets(labels: Iterable[str], n: int, what: str = "labels") -> list[str]:
    if isinstance(labels, str):
        raise InputTypeError(f"{what} must be a list of labels, one per text, not a single string")
    labels = list(labels)
    if len(labels) != n:
        raise InputError(f"got {n} texts but {len(labels)} {what}")
    for i, label in enumerate(labels):
        check_label(label, f"{what}[{i}]")
    return labels


class _Classifier:
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


class ZeroShotClassifier(_Classifier):
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
        """The texts embedded for the labels (as documents) and the label index of each."""
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
            self.set_label_text_vectors(self.encoder.encode_documents(texts))
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
        items = [texts] if isinstance(texts, str) else list(texts)
        return self.calibrate_vectors(self.embed(items), _check_targets(labels, len(items)))

    def calibrate_vectors(self, vectors: np.ndarray, labels: Sequence[str]) -> ZeroShotClassifier:
        """`calibrate` for texts embedded already."""
        targets = self._targets(_check_targets(labels, len(vectors)))
        if len(targets) == 0:
            raise InputError("calibrate needs at least one labelled example")
        self.temperature = fit_temperature(self.scores_vectors(vectors), targets)
        return self


def label_means(vectors: np.ndarray, owners: np.ndarray, n_labels: int) -> np.ndarray:
    """Normalised mean vector of each group (`owners[i]` is the group of row i)."""
    sums = np.zeros((n_labels, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, owners, vectors)
    return l2_normalize(sums.astype(np.float32))


class EmbeddingClassifier(_Classifier):
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
        items = [texts] if isinstance(texts, str) else list(texts)
        labels = _check_targets(labels, len(items))
        return self.fit_vectors(self.embed(items), labels)

    def fit_vectors(self, vectors: np.ndarray, labels: Sequence[str]) -> EmbeddingClassifier:
        """Fit on texts embedded already (query embeddings of this classifier's model); returns self."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.encoder.dimension:
            raise InputError(f"vectors must have shape (n, {self.encoder.dimension}), got {vectors.shape}")
        labels = _check_targets(labels, len(vectors))
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
        path.mkdir(parents=True, exist_ok=True)
        config = {
            "format": FORMAT,
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
        from simvec.atomic import atomic_write

        atomic_write(path / ARRAYS_FILE, lambda handle: np.savez(handle, **self.params))
        atomic_write(path / CONFIG_FILE, lambda handle: handle.write(json.dumps(config, indent=2).encode()))
        return path

    @classmethod
    def load(cls, path: str | Path, *, encoder: Encoder | None = None) -> EmbeddingClassifier:
        """Read a directory written by `save`; refuses an encoder of another model than the one it was fitted with."""
        path = Path(path)
        config = _read_config(path)
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
        classifier.params = _read_arrays(path, config)
        return classifier


def saved_model(path: str | Path) -> str:
    """The model a saved classifier was fitted with (to build its encoder before loading it)."""
    return _read_config(Path(path))["model"]


def loo_scores(unit: np.ndarray, targets: np.ndarray, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of each example to every centroid, its own class's centroid computed without it.

    `sums` are the unnormalised centroids (prior + examples). Returns the scores and which rows are valid
    (a class whose only evidence is the left-out example has no centroid then).
    """
    norms = np.linalg.norm(sums, axis=1)
    scores = unit @ (sums / np.where(norms > 0, norms, 1.0)[:, None]).T
    own = sums[targets] - unit
    own_norm = np.linalg.norm(own, axis=1)
    valid = own_norm > 1e-9
    rows = np.arange(len(targets))
    scores[rows, targets] = np.where(valid, np.einsum("ij,ij->i", unit, own) / np.where(valid, own_norm, 1.0), -2.0)
    scores[:, norms == 0] = -2.0  # labels with no evidence at all can't be predicted
    return scores, valid


def loo_accuracy(unit: np.ndarray, targets: np.ndarray, sums: np.ndarray) -> float:
    """Leave-one-out accuracy of nearest-centroid classification."""
    scores, _ = loo_scores(unit, targets, sums)
    return float(np.mean(scores.argmax(axis=1) == targets))


def _read_config(path: Path) -> dict:
    file = path / CONFIG_FILE
    if not path.is_dir():
        raise InputFileError(str(path), "no such classifier directory")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(
            str(file), "missing: not a saved classifier directory (see EmbeddingClassifier.save)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(str(file), f"damaged classifier settings ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise InputFileError(str(file), f"not a simvec classifier (expected format {FORMAT!r})")
    expected = {"method": str, "model": str, "dimension": int, "labels": list, "temperature": (int, float), "k": int}
    for key, kind in expected.items():
        if not isinstance(config.get(key), kind):
            raise InputFileError(str(file), f"damaged classifier settings: {key!r} is missing or has the wrong type")
    if config["method"] not in METHODS:
        raise InputFileError(str(file), f"damaged classifier settings: unknown method {config['method']!r}")
    config.setdefault("C", 1.0)
    config.setdefault("max_iter", 1000)
    return config


def _read_arrays(path: Path, config: dict) -> dict[str, np.ndarray]:
    file = path / ARRAYS_FILE
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise InputFileError(str(file), "missing: the classifier's fitted parameters are not there") from None
    except Exception as exc:  # numpy raises several types for a truncated or foreign file
        raise InputFileError(str(file), f"damaged fitted parameters ({type(exc).__name__}: {exc})") from None
    n, dim = len(config["labels"]), config["dimension"]
    shapes = {
        "logreg": {"coef": (n, dim), "intercept": (n,)},
        "centroid": {"centroids": (n, dim)},
        "knn": {"vectors": (None, dim), "targets": (None,)},
    }[config["method"]]
    for name, shape in shapes.items():
        array = arrays.get(name)
        if (
            array is None
            or array.ndim != len(shape)
            or any(s is not None and s != a for s, a in zip(shape, array.shape, strict=True))
        ):
            raise InputFileError(str(file), f"damaged fitted parameters: {name!r} is missing or has the wrong shape")
    if config["method"] == "knn":
        targets = arrays["targets"]
        if len(targets) != len(arrays["vectors"]) or len(targets) == 0 or targets.min() < 0 or targets.max() >= n:
            raise InputFileError(str(file), "damaged fitted parameters: neighbour labels do not match the label set")
    return arrays
