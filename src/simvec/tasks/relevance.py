"""Calibrated relevance: turn a raw similarity score into "how relevant is this hit", from vectors and scores only.

Two calibrations, one serialisable `Calibration`:

- **Noise** (no labels, `fit_noise`). A query's scores against unrelated documents have a mean and spread that
  depend on the query: `mu_q = q . m` and `sigma_q^2 = q^T C q`, with `m` and `C` the documents' mean and covariance
  (kept as its top `NOISE_RANK` principal components plus an isotropic remainder). A score is first standardised to
  `z = (score - mu_q) / sigma_q`; the distribution of `z` over (pseudo-query, other document) pairs is the
  collection's noise, per query length band (LENGTH_BANDS: short queries have heavier tails) and pooled, stored as
  quantiles at log-spaced tail probabilities down to the level where TAIL_POINTS pairs remain, with an exponential
  tail fitted to those pairs for scores beyond every measured one. A hit's
  relevance is then `exp(-N * P(noise z >= z))`: the probability that none of the N documents of the collection
  reaches this score by chance (a BLAST-style E-value, `E = N * P`, turned into a probability). Under pure noise
  the best hit's relevance is uniform on [0, 1], so `min_relevance=0.95` lets through a chance best hit for about 5%
  of queries that have nothing relevant. It is *not* a probability of relevance.
- **Labelled** (`fit_labelled`). With judged queries, a monotone map from the score and query features (as the
  Cosine Adapter paper, arXiv 2408.04887, maps cosine per query: here the query's noise `z` and the gap to its best
  hit) to P(relevant): logistic regression (Platt scaling; default, stable with few judgements) or isotonic
  regression on the score alone. Training pairs are each
  query's top hits, labelled relevant when judged relevant; unjudged documents count as not relevant.

Relevance never decreases as a hit's score rises for a given query. The calibration records the model, dimension,
metric and compression it was fitted under, so a store can refuse it once its scores mean something else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from simvec.errors import InputError

CALIBRATION_VERSION = 1
METHODS = ("noise", "logistic", "isotonic")
NOISE_RANK = 64  # principal components of the document covariance kept exactly; the rest as their mean variance
TAIL_POINTS = 200  # the measured noise distribution is trusted down to the tail probability with this many pairs
QUANTILE_POINTS = 201  # stored quantiles of the noise z, at log-spaced tail probabilities
MAX_NOISE_DOCUMENTS = 20_000  # documents sampled for the moments and the noise pairs
LENGTH_BANDS = ((1, 3), (4, 7), (8, 15), (16, None))  # query length bands (words): short queries have heavier tails
MIN_NOISE_DOCUMENTS = 2
# score: the raw similarity; noise_z: how many of the query's own chance standard deviations it stands above the
# query's chance mean; top_gap: score minus the best score of the same query's hits (<= 0). The last two are
# query features (cf. the Cosine Adapter): the same cosine means more for a query whose scores run low. top_gap is
# opt-in: it learns that a query's best hit is usually relevant, true of benchmark queries (each has a relevant
# document) but not of a query with nothing relevant, whose best hit it would then call relevant too.
LOGISTIC_FEATURES = ("score", "noise_z", "top_gap")
DEFAULT_FEATURES = ("score", "noise_z")


def in_band(words: int, band: tuple[int, int | None]) -> bool:
    """Whether a query of `words` words falls in the (inclusive) band."""
    return band[0] <= words and (band[1] is None or words <= band[1])


@dataclass
class NoiseTail:
    """The noise z distribution of one query-length band: quantiles at log-spaced tail probabilities, then a tail."""

    words: tuple[int, int | None]  # the band's query length in words, inclusive (None: no upper end)
    levels: np.ndarray  # tail probabilities P(noise z >= quantile), from 1 down (log-spaced)
    quantiles: np.ndarray  # noise z at those tail probabilities, ascending
    tail_scale: float  # beyond quantiles[-1]: P(z >= t) = levels[-1] * exp(-(t - quantiles[-1]) / tail_scale)
    pairs: int  # (pseudo-query, document) pairs it was measured on

    def survival(self, z: np.ndarray) -> np.ndarray:
        """P(noise z >= z): log-interpolated between measured quantiles, the fitted exponential tail beyond them."""
        body = np.exp(np.interp(z, self.quantiles, np.log(self.levels), left=0.0))
        tail = self.levels[-1] * np.exp(-np.maximum(z - self.quantiles[-1], 0.0) / self.tail_scale)
        return np.where(z > self.quantiles[-1], tail, body)

    def covers(self, words: int) -> bool:
        return in_band(words, self.words)

    def as_dict(self) -> dict:
        return {
            "words": list(self.words),
            "levels": self.levels.tolist(),
            "quantiles": self.quantiles.tolist(),
            "tail_scale": self.tail_scale,
            "pairs": self.pairs,
        }

    @classmethod
    def from_dict(cls, data: dict) -> NoiseTail:
        return cls(
            words=(int(data["words"][0]), None if data["words"][1] is None else int(data["words"][1])),
            levels=np.asarray(data["levels"], dtype=np.float64),
            quantiles=np.asarray(data["quantiles"], dtype=np.float64),
            tail_scale=float(data["tail_scale"]),
            pairs=int(data["pairs"]),
        )

    @classmethod
    def fit(cls, z: np.ndarray, words: tuple[int, int | None]) -> NoiseTail:
        """Quantiles of the pooled noise z down to the level with TAIL_POINTS pairs left, and the tail beyond."""
        noise = np.sort(z)
        deepest = min(1.0, max(TAIL_POINTS / len(noise), 1.0 / len(noise)))
        levels = np.geomspace(1.0, deepest, QUANTILE_POINTS) if deepest < 1.0 else np.array([1.0, 0.5])
        quantiles = np.maximum.accumulate(np.quantile(noise, 1.0 - levels))
        excess = noise[noise > quantiles[-1]] - quantiles[-1]
        # Beyond every measured pair: an exponential (Gumbel-domain) tail, whose maximum-likelihood scale is the mean
        # excess over the threshold; fitted to the last TAIL_POINTS pairs, it only extrapolates a short way.
        scale = float(excess.mean()) if len(excess) and excess.mean() > 0 else 1e-3
        return cls(words, levels, quantiles, scale, len(noise))


@dataclass
class NoiseModel:
    """The collection's chance-score distribution: document moments, and the noise z tails (pooled + per band)."""

    mean: np.ndarray  # (d,) mean document vector
    components: np.ndarray  # (r, d) top principal directions of the documents
    variances: np.ndarray  # (r,) their variances
    residual_variance: float  # mean variance of the remaining directions
    tails: list[NoiseTail]  # tails[0]: every pseudo-query pooled (for vector queries); then one per length band

    @property
    def pairs(self) -> int:
        return self.tails[0].pairs if self.tails else 0

    def moments(self, query_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of each query's score against a random document of the collection."""
        q = np.asarray(query_vectors, dtype=np.float64)
        projected = q @ self.components.T.astype(np.float64)
        explained = (projected**2 * self.variances).sum(axis=1)
        rest = np.maximum((q**2).sum(axis=1) - (projected**2).sum(axis=1), 0.0) * self.residual_variance
        return q @ self.mean.astype(np.float64), np.sqrt(np.maximum(explained + rest, 1e-12))

    def z(self, scores: np.ndarray, query_vectors: np.ndarray) -> np.ndarray:
        """Scores (n_queries, k) as noise standard deviations above each query's own chance mean."""
        mu, sigma = self.moments(query_vectors)
        return (np.asarray(scores, dtype=np.float64) - mu[:, None]) / sigma[:, None]

    def tail_for(self, words: int | None) -> NoiseTail:
        """The band of a query of `words` words (the pooled tail when unknown, e.g. a vector query)."""
        if words is not None:
            for tail in self.tails[1:]:
                if tail.covers(words):
                    return tail
        return self.tails[0]

    def survival(self, z: np.ndarray, query_words: Sequence[int | None] | None = None) -> np.ndarray:
        """P(noise z >= z) per row of z (one query each), in the query's length band."""
        z = np.asarray(z, dtype=np.float64)
        words = [None] * len(z) if query_words is None else list(query_words)
        return np.stack([self.tail_for(w).survival(row) for w, row in zip(words, z, strict=True)]) if len(z) else z

    def as_dict(self) -> dict:
        return {
            "mean": self.mean.tolist(),
            "components": self.components.tolist(),
            "variances": self.variances.tolist(),
            "residual_variance": self.residual_variance,
            "tails": [tail.as_dict() for tail in self.tails],
        }

    @classmethod
    def from_dict(cls, data: dict) -> NoiseModel:
        arrays = {key: np.asarray(data[key], dtype=np.float32) for key in ("mean", "components", "variances")}
        return cls(
            **arrays,
            residual_variance=float(data["residual_variance"]),
            tails=[NoiseTail.from_dict(tail) for tail in data["tails"]],
        )


@dataclass
class Calibration:
    """A fitted score -> relevance map, tied to the vector space (model, dimension, metric, compression) it was fit in.

    `relevance(scores, query_vectors)` gives each hit's relevance in [0, 1]; `method` says what it means: "noise"
    (no labels: probability that no unrelated document reaches the score by chance) or "logistic"/"isotonic"
    (labelled: P(relevant)).
    """

    method: str
    model: str
    dimension: int
    metric: str
    compression: str  # the store's fingerprint of how scores are computed ("none", "int8", "pq32+int8", ...)
    n_documents: int  # collection size when fitted (the noise method's N unless a current size is given)
    noise: NoiseModel
    mapping: dict = field(default_factory=dict)  # labelled map: logistic coefficients or isotonic breakpoints
    stats: dict = field(default_factory=dict)  # what it was fitted on: queries, pairs, positives
    version: int = CALIBRATION_VERSION

    def relevance(
        self,
        scores: np.ndarray | Sequence[Sequence[float]],
        query_vectors: np.ndarray,
        *,
        n_documents: int | None = None,
        query_words: Sequence[int | None] | None = None,
    ) -> np.ndarray:
        """Relevance in [0, 1] of each score; `scores` is (n_queries, k), `query_vectors` (n_queries, dimension).

        A row of `scores` is one query's hits including its best one (the logistic map compares each hit with it).

        `n_documents`: the collection's current size (default: its size when fitted); `query_words`: each query's
        length in words, for the noise method's length bands (None: the pooled noise).
        """
        scores = np.asarray(scores, dtype=np.float64)
        query_vectors = np.asarray(query_vectors, dtype=np.float32)
        if scores.ndim == 1:
            scores = scores[None, :]
        if query_vectors.ndim == 1:
            query_vectors = query_vectors[None, :]
        if query_vectors.shape != (len(scores), self.dimension):
            raise InputError(
                f"query_vectors must have shape ({len(scores)}, {self.dimension}) (one per row of scores), "
                f"got {query_vectors.shape}"
            )
        if scores.size == 0:
            return scores.copy()
        if self.method == "noise":
            n = self.n_documents if n_documents is None else n_documents
            return np.exp(-max(n, 1) * self.noise.survival(self.noise.z(scores, query_vectors), query_words))
        if self.method == "isotonic":
            return np.interp(scores, self.mapping["x"], self.mapping["y"])
        features = _features(scores, query_vectors, self.noise, self.mapping["features"])
        standard = (features - np.asarray(self.mapping["center"])) / np.asarray(self.mapping["scale"])
        logit = standard @ np.asarray(self.mapping["coef"]) + self.mapping["intercept"]
        return 1.0 / (1.0 + np.exp(-logit))

    def as_dict(self) -> dict:
        """A JSON-ready dict (floats and lists only)."""
        data = asdict(self)
        data["noise"] = self.noise.as_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        """Rebuild a calibration from `as_dict` output; refuses another format version."""
        if not isinstance(data, dict) or data.get("version") != CALIBRATION_VERSION:
            found = data.get("version") if isinstance(data, dict) else type(data).__name__
            raise InputError(f"calibration format version {found!r} is not supported (expected {CALIBRATION_VERSION})")
        fields = {key: data[key] for key in cls.__dataclass_fields__ if key in data and key != "noise"}
        return cls(**fields, noise=NoiseModel.from_dict(data["noise"]))

    def summary(self) -> dict:
        """What a user wants to see: method, what it is tied to, and what it was fitted on (no arrays)."""
        return {
            "method": self.method,
            "model": self.model,
            "dimension": self.dimension,
            "metric": self.metric,
            "compression": self.compression,
            "n_documents": self.n_documents,
            "noise_pairs": self.noise.pairs,
            **self.stats,
        }


def check_min_relevance(value: object) -> float:
    """`min_relevance` as a float in [0, 1], or an InputError naming the bad value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise InputError(f"min_relevance must be a number in [0, 1] (a relevance, not a cosine), got {value!r}")
    return float(value)


def fit_noise(
    documents: np.ndarray,
    queries: np.ndarray,
    *,
    sources: Sequence[int] | None = None,
    query_words: Sequence[int] | None = None,
    seed: int = 0,
) -> NoiseModel:
    """Fit the noise model from document vectors and pseudo-query vectors.

    `sources[i]` is the row of `documents` that pseudo-query i was made from (excluded from its noise pairs,
    -1 for none); `query_words[i]` its length in words, which sorts it into a LENGTH_BANDS band (short queries
    have heavier noise tails). At most MAX_NOISE_DOCUMENTS documents, sampled with `seed`, are used.
    """
    documents = np.asarray(documents, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    if documents.ndim != 2 or len(documents) < MIN_NOISE_DOCUMENTS:
        raise InputError(
            f"calibration needs at least {MIN_NOISE_DOCUMENTS} documents, got {len(documents) if documents.ndim == 2 else 0}"
        )
    if queries.ndim != 2 or queries.shape[1] != documents.shape[1] or not len(queries):
        raise InputError(f"pseudo-queries must be an (n, {documents.shape[1]}) matrix with n >= 1, got {queries.shape}")
    sources = np.full(len(queries), -1) if sources is None else np.asarray(sources, dtype=np.int64)
    rng = np.random.default_rng(seed)
    keep = np.arange(len(documents))
    if len(documents) > MAX_NOISE_DOCUMENTS:
        keep = np.sort(rng.choice(len(documents), MAX_NOISE_DOCUMENTS, replace=False))
    sample = documents[keep].astype(np.float64)
    mean = sample.mean(axis=0)
    # The covariance's eigen-decomposition via SVD of the centred sample (numpy: no hand-written linear algebra).
    _, singular, vt = np.linalg.svd(sample - mean, full_matrices=False)
    eigen = singular**2 / max(len(sample) - 1, 1)
    rank = min(NOISE_RANK, len(eigen))
    dim = documents.shape[1]
    residual = float(eigen[rank:].sum() / max(dim - rank, 1)) if dim > rank else 0.0
    model = NoiseModel(
        mean=mean.astype(np.float32),
        components=vt[:rank].astype(np.float32),
        variances=eigen[:rank].astype(np.float32),
        residual_variance=residual,
        tails=[],
    )
    z = model.z(queries.astype(np.float64) @ sample.T, queries)
    position = {int(row): i for i, row in enumerate(keep)}
    mask = np.ones_like(z, dtype=bool)
    for i, source in enumerate(sources):
        if int(source) in position:
            mask[i, position[int(source)]] = False
    if mask.sum() < 2:
        raise InputError("calibration needs at least two (pseudo-query, other document) pairs; add documents")
    model.tails.append(NoiseTail.fit(z[mask], (0, None)))
    if query_words is not None:
        words = np.asarray(query_words)
        for band in LENGTH_BANDS:
            rows = np.array([in_band(int(w), band) for w in words])
            if rows.any() and mask[rows].sum() >= 2:
                model.tails.append(NoiseTail.fit(z[rows][mask[rows]], band))
    return model


def _features(scores: np.ndarray, query_vectors: np.ndarray, noise: NoiseModel, names: Sequence[str]) -> np.ndarray:
    columns = {
        "score": lambda: scores,
        "noise_z": lambda: noise.z(scores, query_vectors),
        "top_gap": lambda: scores - np.nanmax(scores, axis=-1, keepdims=True),
    }
    return np.stack([columns[name]() for name in names], axis=-1)


def fit_labelled(
    scores: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    query_vectors: np.ndarray,
    noise: NoiseModel,
    *,
    method: str = "logistic",
    features: Sequence[str] = DEFAULT_FEATURES,
) -> tuple[dict, dict]:
    """Fit P(relevant | score, query features) on each query's hits; returns (mapping, stats) for a Calibration.

    `scores[i]` and `labels[i]` (1 relevant, 0 not) are query i's hits. "logistic" drops a feature whose
    coefficient comes out negative and refits, so relevance never falls as the score rises.
    """
    if method not in ("logistic", "isotonic"):
        raise InputError(f"unknown labelled calibration method {method!r}; valid: logistic, isotonic")
    unknown = [name for name in features if name not in LOGISTIC_FEATURES]
    if unknown or not features or len(set(features)) != len(features):
        raise InputError(
            f"features must be distinct names from {', '.join(LOGISTIC_FEATURES)}; got {', '.join(features) or 'none'}"
        )
    if len(scores) != len(labels) or len(scores) != len(query_vectors):
        raise InputError(
            f"scores, labels and query_vectors must have one entry per query: {len(scores)}, {len(labels)}, "
            f"{len(query_vectors)}"
        )
    rows = [i for i, s in enumerate(scores) if len(s)]
    if not rows:
        raise InputError("no hits to calibrate on: every query returned nothing")
    flat_scores = np.concatenate([np.asarray(scores[i], dtype=np.float64) for i in rows])
    flat_labels = np.concatenate([np.asarray(labels[i], dtype=np.int64) for i in rows])
    positives = int(flat_labels.sum())
    if positives == 0 or positives == len(flat_labels):
        raise InputError(
            f"calibration needs both relevant and non-relevant hits; got {positives} relevant of {len(flat_labels)} "
            "(are the qrels' document ids the collection's ids?)"
        )
    stats = {"queries": len(rows), "pairs": len(flat_labels), "relevant_pairs": positives}
    # scikit-learn is imported where it is used: importing it costs every CLI start about a second
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(
            flat_scores, flat_labels
        )
        return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}, stats
    asked = list(features)
    table = np.concatenate(
        [
            _features(np.asarray(scores[i], dtype=np.float64)[None, :], query_vectors[i : i + 1], noise, asked)[0]
            for i in rows
        ]
    )
    names = list(asked)
    while True:
        x = table[:, [asked.index(name) for name in names]]
        center, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-12)
        fit = LogisticRegression(C=1.0, max_iter=1000).fit((x - center) / scale, flat_labels)
        coef = fit.coef_[0]
        negative = [name for name, c in zip(names, coef, strict=True) if c < 0]
        if not negative or len(names) == 1:
            break
        names = [name for name in names if name not in negative]
    if coef[0] < 0:  # a single remaining feature with a negative slope: the scores carry no usable signal
        raise InputError("the judged hits' scores do not rise with relevance; cannot fit a monotone calibration")
    stats["dropped_features"] = [name for name in asked if name not in names]  # negative weight: dropped
    mapping = {
        "features": names,
        "center": center.tolist(),
        "scale": scale.tolist(),
        "coef": coef.tolist(),
        "intercept": float(fit.intercept_[0]),
    }
    return mapping, stats


def labels_for(hit_ids: Sequence[Sequence[str]], relevant: Sequence[set[str]]) -> list[np.ndarray]:
    """1/0 per hit: relevant when the query's judgements call it relevant (unjudged documents count as 0)."""
    return [np.array([doc in rel for doc in ids], dtype=np.int64) for ids, rel in zip(hit_ids, relevant, strict=True)]


def set_metrics(returned: Sequence[str], relevant: set[str]) -> tuple[float, float, float]:
    """Precision, recall and F1 of a returned set against the relevant set (an empty set scores 0; 0/0 is 0)."""
    hits = len(set(returned) & relevant)
    precision = hits / len(returned) if returned else 0.0
    recall = hits / len(relevant) if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def best_fixed_cutoff(
    scores: Sequence[np.ndarray], hit_ids: Sequence[Sequence[str]], relevant: Sequence[set[str]]
) -> tuple[float, float]:
    """The single score cutoff maximising mean per-query F1 of the hits at or above it; returns (cutoff, F1).

    Every distinct score is a candidate; per query F1 = 2 * relevant returned / (returned + relevant), so all
    candidates are scored at once from each query's sorted scores and running count of relevant hits.
    """
    nonempty = [np.asarray(s, dtype=np.float64) for s in scores if len(s)]
    if not nonempty:
        raise InputError("no hits to choose a cutoff from")
    candidates = np.unique(np.concatenate(nonempty))
    total = np.zeros(len(candidates))
    for ids, row, rel in zip(hit_ids, scores, relevant, strict=True):
        row = np.asarray(row, dtype=np.float64)
        if not len(row) or not rel:
            continue  # F1 is 0 at every cutoff
        order = np.argsort(row, kind="stable")  # ascending
        ascending = row[order]
        flags = np.array([ids[i] in rel for i in order], dtype=np.float64)
        found_at_or_above = np.concatenate([np.cumsum(flags[::-1])[::-1], [0.0]])  # index j: hits ascending[j:]
        start = np.searchsorted(ascending, candidates, side="left")  # first hit >= cutoff
        returned = len(row) - start
        total += 2 * found_at_or_above[start] / (returned + len(rel))
    mean_f1 = total / len(scores)
    best = len(candidates) - 1 - int(np.argmax(mean_f1[::-1]))  # the highest cutoff among the best
    return float(candidates[best]), float(mean_f1[best])
