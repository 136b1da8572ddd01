"""Mining pairs that mean the same: across two sets (bitext style) and within one set (paraphrases).

Scores are plain cosine (`margin="none"`) or LASER's ratio margin (Artetxe & Schwenk 2019, "Margin-based
parallel corpus mining with multilingual sentence embeddings"): the cosine of x and y divided by the mean of
the average cosine of x to its k nearest neighbours in the other set and of y to its k nearest in the first
(k=4). A pair in a dense region, where everything is similar, is discounted; a pair that stands out is not.

`mine_pairs` follows LASER's "max" retrieval: each side's best candidate by score, in both directions, then
best-first one-to-one selection (a text is used in at most one pair). `mine_paraphrases` keeps every pair
among each text's `candidates` nearest others (as sentence-transformers' `paraphrase_mining` does), so a text
may have several paraphrases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from simvec.encoders import Encoder
from simvec.errors import InputError
from simvec.tasks.inputs import embed_or_check
from simvec.tasks.neighbours import knn

MARGINS = ("ratio", "none")
MARGIN_K = 4  # LASER's k
# The best-F1 thresholds on STS-B dev (benchmarks/mining.py); STS-B test is reported in BENCHMARKS.md. Margin
# scores depend on how dense the sets are (LASER used about 1.05 on web-scale bitext): check them on your data.
DEFAULT_THRESHOLDS = {"ratio": 1.26, "none": 0.6}
DEFAULT_CANDIDATES = 10


@dataclass
class MinedPair:
    """Positions of the two texts (in `a` and `b`, or both in the one set), the score and the plain cosine."""

    a: int
    b: int
    score: float
    cosine: float

    def as_dict(self) -> dict:
        return asdict(self)


def check_margin(margin: object) -> str:
    if margin not in MARGINS:
        raise InputError(f"margin must be one of {', '.join(MARGINS)}, got {margin!r}")
    return str(margin)


def check_mining_threshold(threshold: object, margin: str) -> float:
    """Cosine thresholds lie in [-1, 1]; ratio-margin scores are positive (about 1 for an ordinary neighbour)."""
    if threshold is None:
        return DEFAULT_THRESHOLDS[margin]
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float, np.floating))
        or not math.isfinite(threshold)
    ):
        raise InputError(f"threshold must be a finite number, got {threshold!r}")
    if margin == "none" and not -1 <= threshold <= 1:
        raise InputError(f"a cosine threshold must be in [-1, 1], got {threshold}")
    if margin == "ratio" and threshold <= 0:
        raise InputError(
            f"a ratio-margin threshold must be positive (1.0 = as close as an ordinary neighbour), got {threshold}"
        )
    return float(threshold)


def _check_options(k: int, top_n: int | None) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise InputError(f"top_n must be a positive integer or None, got {top_n!r}")


def mine_pairs(
    a: Sequence[str] | np.ndarray,
    b: Sequence[str] | np.ndarray,
    *,
    threshold: float | None = None,
    margin: str = "ratio",
    k: int = MARGIN_K,
    top_n: int | None = None,
    encoder: Encoder | None = None,
) -> list[MinedPair]:
    """One-to-one pairs (index in a, index in b) that mean the same, best first, scoring at least `threshold`.

    `a` and `b` are texts (embedded with `encoder`) or (n, d) vector matrices. The default threshold depends
    on the margin (`DEFAULT_THRESHOLDS`). Either side empty gives no pairs.
    """
    margin = check_margin(margin)
    threshold = check_mining_threshold(threshold, margin)
    _check_options(k, top_n)
    _, x = embed_or_check(a, encoder, "a")
    _, y = embed_or_check(b, encoder, "b")
    if not len(x) or not len(y):
        return []
    if x.shape[1] != y.shape[1]:
        raise InputError(f"a has {x.shape[1]} dimensions, b has {y.shape[1]}")
    width = min(k, len(y)), min(k, len(x))
    x2y_sim, x2y_ind = knn(x, y, width[0])
    y2x_sim, y2x_ind = knn(y, x, width[1])
    x_mean, y_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)

    def best(sim: np.ndarray, ind: np.ndarray, own_mean: np.ndarray, other_mean: np.ndarray) -> tuple:
        scores = sim / ((own_mean[:, None] + other_mean[ind]) / 2) if margin == "ratio" else sim
        pick = scores.argmax(axis=1)
        rows = np.arange(len(sim))
        return ind[rows, pick], scores[rows, pick], sim[rows, pick]

    fwd_b, fwd_score, fwd_cos = best(x2y_sim, x2y_ind, x_mean, y_mean)
    bwd_a, bwd_score, bwd_cos = best(y2x_sim, y2x_ind, y_mean, x_mean)
    pair_a = np.concatenate([np.arange(len(x)), bwd_a])
    pair_b = np.concatenate([fwd_b, np.arange(len(y))])
    scores = np.concatenate([fwd_score, bwd_score])
    cosines = np.concatenate([fwd_cos, bwd_cos])
    used_a, used_b, pairs = set(), set(), []
    for i in np.lexsort((pair_b, pair_a, -scores)):  # best first; ties by position, deterministic
        if scores[i] < threshold:
            break
        ia, ib = int(pair_a[i]), int(pair_b[i])
        if ia in used_a or ib in used_b:
            continue
        used_a.add(ia)
        used_b.add(ib)
        pairs.append(MinedPair(ia, ib, float(scores[i]), float(cosines[i])))
        if top_n is not None and len(pairs) == top_n:
            break
    return pairs


def mine_paraphrases(
    texts: Sequence[str] | np.ndarray,
    *,
    threshold: float | None = None,
    margin: str = "ratio",
    k: int = MARGIN_K,
    candidates: int = DEFAULT_CANDIDATES,
    top_n: int | None = None,
    encoder: Encoder | None = None,
) -> list[MinedPair]:
    """Pairs (i < j) within one set that mean the same, best first, scoring at least `threshold`.

    Each text's `candidates` nearest others are scored (cosine or ratio margin over its k nearest others).
    """
    margin = check_margin(margin)
    threshold = check_mining_threshold(threshold, margin)
    _check_options(k, top_n)
    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
        raise InputError(f"candidates must be a positive integer, got {candidates!r}")
    _, x = embed_or_check(texts, encoder, "texts")
    n = len(x)
    if n < 2:
        return []
    width = min(max(k, candidates) + 1, n)
    sim, ind = knn(x, x, width)
    # drop each text itself (normally its first hit; not always when identical texts tie with it)
    own = ind == np.arange(n)[:, None]
    own[:, -1] |= ~own.any(axis=1)  # no self hit: drop the last instead, keeping width - 1 others
    sim = sim[~own].reshape(n, width - 1)
    ind = ind[~own].reshape(n, width - 1)
    mean = sim[:, : min(k, width - 1)].mean(axis=1)
    rows = np.repeat(np.arange(n), min(candidates, width - 1))
    cols = ind[:, : min(candidates, width - 1)].reshape(-1)
    cos = sim[:, : min(candidates, width - 1)].reshape(-1)
    scores = cos / ((mean[rows] + mean[cols]) / 2) if margin == "ratio" else cos
    first, second = np.minimum(rows, cols), np.maximum(rows, cols)
    keep = scores >= threshold
    first, second, scores, cos = first[keep], second[keep], scores[keep], cos[keep]
    _, unique = np.unique(first * n + second, return_index=True)
    first, second, scores, cos = first[unique], second[unique], scores[unique], cos[unique]
    order = np.lexsort((second, first, -scores))
    if top_n is not None:
        order = order[:top_n]
    return [MinedPair(int(first[i]), int(second[i]), float(scores[i]), float(cos[i])) for i in order]
