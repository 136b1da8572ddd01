"""Reciprocal rank fusion (Cormack et al., 2009) of several rankings into one.

Written here because it is three lines of arithmetic; the libraries that offer it (ranx) would add
numba and pandas to the dependencies for no gain.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from simvec.errors import InputError

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hashable]], *, weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[Hashable, float]]:
    """Fuse best-first rankings: score(d) = sum_i weight_i / (k + rank_i(d)), ranks from 1; best first.

    Ties keep the order in which items first appear (the first ranking wins).
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise InputError(f"got {len(weights)} weights for {len(rankings)} rankings")
    scores: dict[Hashable, float] = {}
    for ranking, weight in zip(rankings, weights, strict=False):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))
