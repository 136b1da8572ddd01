"""Dimension reduction that keeps vectors comparable: Matryoshka truncation and PCA / whitening.

Both combine with any codec in `simvec.vectors.codecs`: reduce first, then encode the reduced vectors.
"""

from __future__ import annotations

import faiss
import numpy as np

from simvec.errors import InputError, InputTypeError
from simvec.vectors.similarity import l2_normalize


def check_truncate_dim(truncate_dim: int | None, dimension: int) -> int | None:
    """Validate a Matryoshka truncation size against the model dimension."""
    if truncate_dim is None:
        return None
    if isinstance(truncate_dim, bool) or not isinstance(truncate_dim, (int, np.integer)):
        raise InputTypeError(f"truncate_dim must be an int, got {type(truncate_dim).__name__}")
    if not 0 < truncate_dim <= dimension:
        raise InputError(f"truncate_dim must be in 1..{dimension} (the model dimension), got {truncate_dim}")
    return int(truncate_dim)


def truncate(embeddings: np.ndarray, truncate_dim: int, *, renormalize: bool = False) -> np.ndarray:
    """Matryoshka truncation: keep the first `truncate_dim` dimensions (a copy, contiguous), optionally unit-length."""
    out = np.ascontiguousarray(embeddings[..., :truncate_dim], dtype=np.float32)
    return l2_normalize(out) if renormalize else out


class Affine:
    """y = (x - mean) @ matrix: a fitted linear map (PCA, whitening, ITQ/OPQ rotations) kept as numpy arrays."""

    def __init__(self, mean: np.ndarray, matrix: np.ndarray) -> None:
        self.mean = np.ascontiguousarray(mean, dtype=np.float32)
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)  # (d_in, d_out)

    @classmethod
    def from_faiss(cls, transform: faiss.VectorTransform, d_in: int) -> Affine:
        """Capture a trained FAISS affine transform (PCAMatrix, ITQMatrix, OPQMatrix) by probing it."""
        zero = transform.apply(np.zeros((1, d_in), dtype=np.float32))
        matrix = transform.apply(np.eye(d_in, dtype=np.float32)) - zero
        # y = x @ M + zero = (x - mean) @ M with mean solving -mean @ M = zero (least squares; exact if M has full rank)
        mean = -np.linalg.lstsq(matrix.T, zero[0], rcond=None)[0]
        return cls(mean, matrix)

    def then(self, other: Affine) -> Affine:
        """This map followed by `other` (whose mean must be zero, as rotations fitted on centred data are)."""
        return Affine(self.mean, self.matrix @ other.matrix)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((np.asarray(x, dtype=np.float32) - self.mean) @ self.matrix)

    def invert(self, y: np.ndarray) -> np.ndarray:
        """Map back with the pseudo-inverse (exact for rotations; a projection for PCA to fewer dimensions)."""
        return np.asarray(y, dtype=np.float32) @ np.linalg.pinv(self.matrix) + self.mean

    @property
    def dim_out(self) -> int:
        return int(self.matrix.shape[1])


def fit_pca(vectors: np.ndarray, dim: int, *, whiten: bool = False) -> Affine:
    """PCA to `dim` dimensions (FAISS PCAMatrix); `whiten` scales each component to unit variance."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or not 0 < dim <= vectors.shape[1]:
        raise InputError(f"PCA needs an (n, d) matrix and 1 <= dim <= d; got shape {vectors.shape} and dim {dim}")
    if len(vectors) < max(2, dim):  # FAISS PCAMatrix finds at most n components from n vectors
        raise InputError(f"PCA to {dim} dimensions needs at least {max(2, dim)} training vectors, got {len(vectors)}")
    pca = faiss.PCAMatrix(vectors.shape[1], dim, -0.5 if whiten else 0.0)
    pca.train(vectors)
    return Affine(faiss.vector_to_array(pca.mean), faiss.vector_to_array(pca.A).reshape(dim, -1).T)
