"""One process-wide `Encoder` per model, shared by `simvec.similarity`, collections, tasks and the CLI."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from simvec.encoders.encoder import Encoder
from simvec.encoders.models import resolve_model


@lru_cache(maxsize=4)
def _load(model_id: str) -> Encoder:
    return Encoder(model_id)


def shared_encoder(model: str | Path | None = None) -> Encoder:
    """The process-wide Encoder for `model` (default: the bundled model), loaded on first use."""
    # Keyed by the card's model id, so "all-MiniLM-L6-v2", None and the full id share one load.
    return _load(resolve_model(model).model_id)
