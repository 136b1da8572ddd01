"""Input checks shared by the pair-finding tasks (dedup, mine): thresholds, ids, texts or vectors."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from simvec.encoders import Encoder, shared_encoder
from simvec.errors import InputError, InputTypeError
from simvec.tasks.neighbours import unit_rows


def check_threshold(value: object, name: str = "threshold") -> float:
    """A similarity threshold in (0, 1]; errors name the parameter and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value):
        raise InputError(f"{name} must be a number in (0, 1], got {value!r}")
    if not 0 < value <= 1:
        raise InputError(f"{name} must be in (0, 1], got {value}")
    return float(value)


def check_ids(ids: Sequence[object] | None, n: int, name: str = "ids") -> list[str]:
    """Ids as strings (default "0".."n-1"); the same length as the input, non-empty and unique."""
    if ids is None:
        return [str(i) for i in range(n)]
    if isinstance(ids, str):
        raise InputTypeError(f"{name} must be a sequence of ids, got a str")
    ids = list(ids)
    if len(ids) != n:
        raise InputError(f"{name} has {len(ids)} items but there are {n} documents")
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(ids):
        if raw is None or raw == "":
            raise InputError(f"{name}[{i}] is empty")
        doc_id = str(raw)
        if doc_id in seen:
            raise InputError(f"duplicate id {doc_id!r}: {name}[{seen[doc_id]}] and {name}[{i}]")
        seen[doc_id] = i
        out.append(doc_id)
    return out


def embed_or_check(
    items: Sequence[str] | np.ndarray, encoder: Encoder | None, name: str = "texts"
) -> tuple[list[str] | None, np.ndarray]:
    """(texts or None, unit vectors) from texts (embedded with `encoder`) or from an (n, d) vector matrix."""
    if isinstance(items, np.ndarray) and items.dtype.kind in "fiu":
        return None, unit_rows(items, name)
    if isinstance(items, str):
        raise InputTypeError(f"{name} must be a sequence of texts or an (n, d) array of vectors, got one str")
    texts = list(items)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(f"{name}[{i}] is {type(text).__name__}, expected str")
    if not texts:
        return [], np.zeros((0, 0), dtype=np.float32)
    encoder = encoder or shared_encoder()
    return texts, unit_rows(encoder.encode(texts), name)
