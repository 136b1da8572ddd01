"""Checks of what callers give a collection, as pure functions: each error names the bad item.

Nothing here touches a database or a model, so every backend (SQLite, Milvus) validates input alike.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Sequence

import numpy as np

from simvec.encoders.encoder import as_text_list
from simvec.encoders.models import ModelCard
from simvec.errors import CodecError, CollectionError, InputError, check_unicode
from simvec.vectors.compression_spec import CompressionSpec, parse_compression

MAX_ID_CHARS = 1_024
# Metadata is for filtering and display. Limits at write time mean whatever was accepted can always be read back:
# JSON nested hundreds of levels deep was stored and then broke every read that returned it.
MAX_METADATA_DEPTH = 32
MAX_METADATA_BYTES = 65_536


def check_positive_int(value: object, name: str, limit: int) -> int:
    """`value` as an int in 1..limit, or a CollectionError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 1 <= value <= limit:
        raise CollectionError(f"{name} must be an integer in 1..{limit:,}, got {value!r}")
    return int(value)


def input_length(texts: Sequence | None, ids: Sequence | None, vectors: Sequence | np.ndarray | None) -> int:
    """The number of documents given, checking that texts, ids and vectors agree."""
    if texts is None and vectors is None:
        raise CollectionError("add needs texts, vectors, or both")
    lengths = {
        name: len(value) for name, value in (("texts", texts), ("ids", ids), ("vectors", vectors)) if value is not None
    }
    if len(set(lengths.values())) > 1:
        raise CollectionError("lengths differ: " + ", ".join(f"{name} has {size}" for name, size in lengths.items()))
    return next(iter(lengths.values()))


def check_texts(texts: Sequence[str] | None, n: int) -> list[str | None]:
    """Texts as a list (None for each document when there are none), checked as the encoder checks them."""
    if texts is None:
        return [None] * n
    try:
        return as_text_list(texts)[0]  # the encoder's own checks, so both name the bad item alike
    except InputError as exc:
        raise CollectionError(str(exc)) from None


def check_ids(ids: Sequence[str] | None, n: int) -> list[str]:
    """Ids as a list of unique non-empty strings (random hex ids when none are given)."""
    if ids is None:
        return [uuid.uuid4().hex for _ in range(n)]
    seen: set[str] = set()
    for i, doc_id in enumerate(ids):
        if not isinstance(doc_id, str) or not doc_id:
            raise CollectionError(f"ids[{i}] must be a non-empty str, got {doc_id!r}")
        if len(doc_id) > MAX_ID_CHARS:
            raise CollectionError(f"ids[{i}] has {len(doc_id):,} characters; the limit is {MAX_ID_CHARS:,}")
        check_unicode(doc_id, f"ids[{i}]")
        if doc_id in seen:
            raise CollectionError(f"duplicate id {doc_id!r} in one add (ids[{i}]); ids must be unique")
        seen.add(doc_id)
    return list(ids)


def encode_metadata(metadata: Sequence[dict | None] | None, ids: list[str]) -> list[str]:
    """Each document's metadata as canonical JSON (sorted keys), checked to be a JSON object with str keys."""
    if metadata is None:
        return ["{}"] * len(ids)
    if isinstance(metadata, dict) or len(metadata) != len(ids):
        raise CollectionError(f"metadata must be a list of {len(ids)} dicts (one per document)")
    return [encode_one_metadata(doc_id, item or {}) for doc_id, item in zip(ids, metadata, strict=True)]


def encode_one_metadata(doc_id: str, item: object) -> str:
    """One document's metadata as canonical JSON, or a CollectionError naming the document."""
    if not isinstance(item, dict) or not all(isinstance(key, str) for key in item):
        raise CollectionError(f"metadata of id {doc_id!r} must be a dict with str keys, got {item!r:.100}")
    depth = nesting_depth(item)
    if depth > MAX_METADATA_DEPTH:
        raise CollectionError(
            f"metadata of id {doc_id!r} is nested {'more than 1,000' if depth == math.inf else depth} levels deep; "
            f"the limit is {MAX_METADATA_DEPTH}"
        )
    try:
        encoded = json.dumps(item, ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise CollectionError(f"metadata of id {doc_id!r} is not JSON-serialisable: {exc}") from None
    check_unicode(encoded, f"metadata of id {doc_id!r}")  # SQLite stores UTF-8: a lone surrogate cannot be kept
    size = len(encoded.encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise CollectionError(
            f"metadata of id {doc_id!r} is {size:,} bytes as JSON; the limit is {MAX_METADATA_BYTES:,} bytes"
        )
    return encoded


def nesting_depth(value: object, give_up: int = 1_000) -> float:
    """How many dicts/lists deep `value` nests (a flat dict is 1); inf beyond `give_up`, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list):
            continue
        if depth > give_up:
            return math.inf
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def check_vectors(
    vectors: np.ndarray | Sequence, dimension: int, metric: str, owner: str, name: str = "vectors"
) -> np.ndarray:
    """Vectors as a float32 (n, dimension) matrix (unit-length for cosine); errors name the bad row and `owner`."""
    rows = vectors if isinstance(vectors, np.ndarray) else list(vectors)
    for i, row in enumerate(rows if not isinstance(rows, np.ndarray) or rows.ndim != 2 else ()):
        if np.ndim(row) != 1 or len(row) != dimension:
            raise CollectionError(f"{name}[{i}] has shape {np.shape(row)}; {owner} expects ({dimension},) vectors")
    try:
        # float64 while checking and normalising: in float32 the squares of [1e20]*384 overflow (the vector became
        # all zeros) and those of [1e-25]*384 underflow (it was refused as all zeros).
        matrix = np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CollectionError(f"{name} are not numeric: {exc}") from None
    if matrix.shape[1] != dimension:
        raise CollectionError(f"{name} have dimension {matrix.shape[1]}; {owner} expects {dimension}")
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad):
        raise CollectionError(f"{name}[{bad[0]}] contains NaN or inf ({len(bad)} bad row(s) in all)")
    if metric == "cosine":
        zero = np.flatnonzero(~matrix.any(axis=1))
        if len(zero):
            raise CollectionError(f"{name}[{zero[0]}] is all zeros; cosine similarity needs a non-zero vector")
        # scale by the largest magnitude first, so the norm is finite however large or small the entries are
        matrix /= np.abs(matrix).max(axis=1, keepdims=True)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix.astype(np.float32)
    too_large = np.flatnonzero((np.abs(matrix) > np.finfo(np.float32).max).any(axis=1))
    if len(too_large):
        raise CollectionError(f"{name}[{too_large[0]}] has values beyond float32's range (±3.4e38)")
    return matrix.astype(np.float32)


def check_weights(weights: Sequence[float] | None, mode: str) -> None:
    """Hybrid weights are two finite non-negative numbers (dense, keyword), and only for mode='hybrid'."""
    if weights is not None and (
        mode != "hybrid"
        or len(weights) != 2
        or not all(isinstance(w, int | float) and math.isfinite(w) and w >= 0 for w in weights)
    ):
        raise CollectionError(
            f"weights must be two finite non-negative numbers (dense, keyword), for mode='hybrid'; got {weights!r}"
        )


def plan_upsert(
    ids: list[str], hashes: list[str], meta_json: list[str], existing: dict[str, tuple[str, str]]
) -> tuple[list[int], list[int]]:
    """(positions whose content is new or changed, positions where only the metadata changed)."""
    fresh = [i for i, doc_id in enumerate(ids) if existing.get(doc_id, (None,))[0] != hashes[i]]
    meta_only = [
        i
        for i, doc_id in enumerate(ids)
        if doc_id in existing and existing[doc_id][0] == hashes[i] and existing[doc_id][1] != meta_json[i]
    ]
    return fresh, meta_only


def content_hashes(texts: Sequence[str | None], vectors: np.ndarray | None) -> list[str]:
    """A hash of each document's content: its text, and its vector when one was given explicitly."""
    hashes = []
    for i, text in enumerate(texts):
        digest = hashlib.sha256((text or "").encode())
        if vectors is not None:
            digest.update(b"\0" + vectors[i].tobytes())
        hashes.append(digest.hexdigest())
    return hashes


# Encoder settings that define the vector space; the backend (torch, onnx) deliberately is not one.
IDENTITY_KEYS = ("model", "dimension", "max_seq_length", "pooling", "normalize", "prompts")


def model_identity(card: ModelCard) -> dict[str, object]:
    """The encoder settings that define a vector space (the backend deliberately is not one)."""
    described = card.describe()
    return {key: described[key] for key in IDENTITY_KEYS}


def check_model(stored: dict, card: ModelCard, owner: str) -> None:
    """Refuse a model whose identity differs from the stored one, naming every differing setting."""
    given = model_identity(card)
    diff = [key for key in IDENTITY_KEYS if stored.get(key) != given.get(key)]
    if diff:
        both = "; ".join(f"{key}: collection has {stored.get(key)!r}, model has {given.get(key)!r}" for key in diff)
        raise CollectionError(f"model {card.model_id!r} does not match {owner} ({both})")


def compression_spec(
    compression: str | dict | CompressionSpec | None,
    dimension: int,
    index: str,
    rescore: str | None,
    multiplier: int | None,
) -> CompressionSpec | None:
    """The validated spec (None for plain float32 search), as a CollectionError listing the valid choices."""
    if compression is None and rescore is None and multiplier is None:
        return None
    try:
        spec = parse_compression(compression, dimension=dimension, rescore=rescore, rescore_multiplier=multiplier)
    except CodecError as exc:
        raise CollectionError(str(exc)) from None
    if spec.is_identity:
        return None
    if index not in ("auto", "flat"):
        raise CollectionError(
            f"compressed collections scan their codes exhaustively; index must be 'auto' or 'flat', got {index!r}"
        )
    return spec
