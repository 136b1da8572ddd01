"""Dimension reduction that keeps vectors comparable."""

from __future__ import annotations

import numpy as np


def check_truncate_dim(truncate_dim: int | None, dimension: int) -> int | None:
    """Validate a Matryoshka truncation size against the model dimension."""
    if truncate_dim is None:
        return None
    if isinstance(truncate_dim, bool) or not isinstance(truncate_dim, (int, np.integer)):
        raise TypeError(f"truncate_dim must be an int, got {type(truncate_dim).__name__}")
    if not 0 < truncate_dim <= dimension:
        raise ValueError(f"truncate_dim must be in 1..{dimension} (the model dimension), got {truncate_dim}")
    return int(truncate_dim)


def truncate(embeddings: np.ndarray, truncate_dim: int) -> np.ndarray:
    """Matryoshka truncation: keep the first `truncate_dim` dimensions (a copy, contiguous)."""
    return np.ascontiguousarray(embeddings[..., :truncate_dim])
