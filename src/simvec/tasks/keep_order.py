"""Keep policies of dedup: which document of a group is kept (first, longest, shortest, max/min of a field)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simvec.errors import InputError

KEEP_POLICIES = ("first", "longest", "shortest", "max:FIELD", "min:FIELD")


def keep_order(
    keep: str, n: int, texts: Sequence[str] | None = None, metadata: Sequence[dict | None] | None = None
) -> np.ndarray:
    """Rank of each document in keep order (0 is kept first); ties keep input order."""
    if not isinstance(keep, str):
        raise InputError(f"keep must be one of {', '.join(KEEP_POLICIES)}, got {keep!r}")
    position = np.arange(n)
    if keep == "first":
        order = position
    elif keep in ("longest", "shortest"):
        if texts is None:
            raise InputError(f"keep={keep!r} needs the texts; pass texts= with vectors")
        lengths = np.array([len(t) for t in texts])
        order = np.lexsort((position, -lengths if keep == "longest" else lengths))
    elif keep.startswith(("max:", "min:")) and len(keep) > 4:
        name = keep[4:]
        if metadata is None:
            raise InputError(f"keep={keep!r} needs metadata (one dict per document)")
        if len(metadata) != n:
            raise InputError(f"metadata has {len(metadata)} items but there are {n} documents")
        values = [(item or {}).get(name) for item in metadata]
        present = [v for v in values if v is not None]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
        if not numeric and not all(isinstance(v, str) for v in present):
            kinds = sorted({type(v).__name__ for v in present})
            raise InputError(f"metadata field {name!r} must be all numbers or all strings, got {', '.join(kinds)}")
        by_value: dict[object, list[int]] = {}
        for i, value in enumerate(values):
            if value is not None:
                by_value.setdefault(value, []).append(i)
        # largest (max:) or smallest (min:) value first, ties in input order, documents without the field last
        ranked = [i for value in sorted(by_value, reverse=keep.startswith("max:")) for i in by_value[value]]
        order = np.asarray(ranked + [i for i in range(n) if values[i] is None], dtype=np.int64)
    else:
        raise InputError(f"unknown keep policy {keep!r}; valid: {', '.join(KEEP_POLICIES)}")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank
