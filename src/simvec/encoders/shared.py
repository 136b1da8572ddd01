"""One process-wide `Encoder` per (model, backend), shared by `simvec.similarity`, collections, tasks and the CLI."""

from __future__ import annotations

import threading
from pathlib import Path

from simvec.encoders.encoder import Encoder
from simvec.encoders.models import resolve_model

MAX_SHARED = 4  # encoders kept loaded at once; the least recently used goes first
_loaded: dict[tuple[str, str], Encoder] = {}
_lock = threading.Lock()


def shared_encoder(model: str | Path | None = None, backend: str = "auto") -> Encoder:
    """The process-wide Encoder for `model` (default: the bundled model) on `backend`, loaded on first use."""
    # Keyed by the card's model id, so "all-MiniLM-L6-v2", None and the full id share one load.
    model_id = resolve_model(model).model_id
    # One lock for lookups and loads: two threads asking for the same encoder load it once.
    with _lock:
        encoder = _loaded.pop((model_id, backend), None) or _auto_on(model_id, backend)
        if encoder is None:
            encoder = Encoder(model_id, backend=backend)
        _loaded[(model_id, backend)] = encoder  # (re)inserted last: the most recently used
        while len(_loaded) > MAX_SHARED:
            del _loaded[next(iter(_loaded))]
        return encoder


def _auto_on(model_id: str, backend: str) -> Encoder | None:
    """The shared `auto` encoder of the model if it already runs `backend` (no second load of the same runtime)."""
    found = _loaded.get((model_id, "auto"))
    return found if found is not None and backend != "auto" and found.backend.name == backend else None


def clear_shared() -> None:
    """Forget every shared encoder (tests; a process that wants its memory back)."""
    with _lock:
        _loaded.clear()
