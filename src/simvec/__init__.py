"""simvec: a local-first engine for text embeddings."""

from __future__ import annotations

from simvec.encoders import DEFAULT_MODEL_ID, Encoder, EncodeStats, ModelCard, shared_encoder
from simvec.errors import (
    CodecError,
    CollectionError,
    CollectionExists,
    CollectionNotFound,
    FilterError,
    InputError,
    InputFileError,
    InputTypeError,
    InvalidText,
    LimitExceeded,
    MissingDependencyError,
    ModelError,
    ModelLoadError,
    SimvecError,
    StorageError,
    Unavailable,
)
from simvec.store import Collection
from simvec.vectors import similarity as _similarity

__version__ = "0.1.0"


def default_encoder(model: str | None = None) -> Encoder:
    """The process-wide Encoder for `model` (default: the bundled model), loaded on first use."""
    return shared_encoder(model)


def similarity(a: str, b: str, *, model: str | None = None, metric: str = "cosine") -> float:
    """Similarity (or distance, for euclidean/manhattan) between two texts."""
    vectors = default_encoder(model).encode([a, b])
    return float(_similarity.pairwise(vectors[:1], vectors[1:], metric)[0, 0])


__all__ = [
    "CodecError",
    "Collection",
    "CollectionError",
    "CollectionExists",
    "CollectionNotFound",
    "DEFAULT_MODEL_ID",
    "EncodeStats",
    "Encoder",
    "FilterError",
    "InputError",
    "InputFileError",
    "InputTypeError",
    "InvalidText",
    "LimitExceeded",
    "MissingDependencyError",
    "ModelCard",
    "ModelError",
    "ModelLoadError",
    "SimvecError",
    "StorageError",
    "Unavailable",
    "default_encoder",
    "similarity",
]
