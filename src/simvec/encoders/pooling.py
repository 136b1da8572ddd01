"""Pooling token embeddings into one vector per text: pure numpy, shared by every backend.

Written here rather than taken from sentence-transformers so that backends without torch
(ONNX Runtime) pool exactly like the reference; the formulas are those of
`sentence_transformers.models.Pooling`.
"""

from __future__ import annotations

import numpy as np

from simvec.errors import ModelError


def pool(token_embeddings: np.ndarray, attention_mask: np.ndarray, mode: str) -> np.ndarray:
    """Pool (batch, tokens, dim) embeddings under a (batch, tokens) mask into (batch, dim) float32."""
    mask = attention_mask.astype(token_embeddings.dtype)[..., None]
    if mode == "cls":
        pooled = token_embeddings[:, 0]
    elif mode in ("mean", "mean_sqrt_len"):
        summed = (token_embeddings * mask).sum(axis=1)
        counts = np.maximum(mask.sum(axis=1), 1e-9)
        pooled = summed / (np.sqrt(counts) if mode == "mean_sqrt_len" else counts)
    elif mode == "max":
        pooled = np.where(mask > 0, token_embeddings, -1e9).max(axis=1)
    elif mode == "lasttoken":
        last = np.maximum(attention_mask.sum(axis=1) - 1, 0)
        pooled = token_embeddings[np.arange(len(last)), last]
    else:
        raise ModelError(f"unknown pooling mode {mode!r}")
    return np.ascontiguousarray(pooled, dtype=np.float32)
