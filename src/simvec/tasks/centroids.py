"""Nearest-centroid classification math: leave-one-out scores and accuracy, used to fit the label-prior weight."""

from __future__ import annotations

import numpy as np

PRIOR_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # candidates for prior_weight="auto"


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
