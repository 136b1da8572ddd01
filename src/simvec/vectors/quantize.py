"""Output precisions of `Encoder.encode`, defined exactly as sentence-transformers' `quantize_embeddings`.

int8/uint8 map each dimension's [min, max] calibration range onto 256 buckets; binary/ubinary keep
the sign bit of each dimension, packed 8 per byte (binary is the packed byte offset by -128).
"""

from __future__ import annotations

import numpy as np

from simvec.errors import InputError
from simvec.types import PRECISIONS, Precision, one_of


def check_precision(precision: str) -> Precision:
    """Return `precision` if simvec knows it, else raise a ValueError listing the valid ones."""
    return one_of(precision, PRECISIONS, "precision")


def int8_ranges(calibration: np.ndarray) -> np.ndarray:
    """Per-dimension (min, max) of calibration embeddings, shape (2, dim)."""
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim != 2 or len(calibration) == 0:
        raise InputError("calibration embeddings must be a non-empty (n, dim) matrix")
    return np.vstack((calibration.min(axis=0), calibration.max(axis=0)))


def quantize(
    embeddings: np.ndarray,
    precision: Precision,
    *,
    ranges: np.ndarray | None = None,
    calibration: np.ndarray | None = None,
) -> np.ndarray:
    """Convert float embeddings (n, dim) to `precision`; int8 ranges come from `ranges`, `calibration` or the batch."""
    check_precision(precision)
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if precision == "float32":
        return embeddings
    if precision == "float16":
        return embeddings.astype(np.float16)
    if precision in ("int8", "uint8"):
        if ranges is None:
            ranges = int8_ranges(calibration if calibration is not None else embeddings)
        ranges = np.asarray(ranges, dtype=np.float32)
        if ranges.shape != (2, embeddings.shape[1]):
            raise InputError(f"int8 ranges must have shape (2, {embeddings.shape[1]}), got {ranges.shape}")
        steps = np.maximum((ranges[1] - ranges[0]) / 255, np.finfo(np.float32).tiny)
        # Clip instead of letting out-of-range values wrap around (sentence-transformers wraps).
        buckets = np.clip((embeddings - ranges[0]) / steps, 0, 255)
        return buckets.astype(np.uint8) if precision == "uint8" else (buckets - 128).astype(np.int8)
    bits = np.packbits(embeddings > 0, axis=-1)
    return bits if precision == "ubinary" else (bits.astype(np.int16) - 128).astype(np.int8)
