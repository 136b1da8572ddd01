"""`static`: a model2vec static embedding model distilled from the transformer, cached per model hash.

Distillation (model2vec.distill: one forward pass per vocabulary token, PCA, SIF weighting) runs once,
offline, from the local model directory; inference is a table lookup and a mean (model2vec.StaticModel),
no transformer. Its vectors live in their own space (and have their own dimension), so they are never mixed
with the transformer's: `auto` does not pick it and the embedding cache keys it separately.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from simvec.encoders.artifacts import load_or_build, model_hash
from simvec.encoders.base import EncodeStats
from simvec.encoders.models import ModelCard
from simvec.encoders.optional import require

PCA_DIMS = 256  # model2vec's default: PCA to 256 dimensions loses little and halves the table
STATIC_VERSION = "1"  # bump when the distillation recipe changes


def distill_static(card: ModelCard, out_dir: Path) -> None:
    """model2vec distillation of the model at card.path (a local directory: nothing is downloaded)."""
    distill = require("model2vec.distill", "model2vec[distill]", "static").distill
    distill(model_name=str(card.path), pca_dims=PCA_DIMS).save_pretrained(str(out_dir))


class StaticBackend:
    """model2vec StaticModel inference: tokens -> mean of their (SIF-weighted) static vectors."""

    name = "static"
    fingerprint = f"static-v{STATIC_VERSION}-pca{PCA_DIMS}"

    def __init__(self, card: ModelCard) -> None:
        model2vec = require("model2vec", "model2vec", "static")
        self.card = card
        key = f"{model_hash(card.path)[:24]}-v{STATIC_VERSION}-pca{PCA_DIMS}"
        self.model_dir = load_or_build(
            "static", key, lambda out: distill_static(card, out), f"static distillation of {card.model_id}"
        )
        self.model = model2vec.StaticModel.from_pretrained(str(self.model_dir))
        self.dimension = int(self.model.dim)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text (no special tokens; a static model has no length limit)."""
        return [len(ids) for ids in self.model.tokenize(list(texts))]

    def embed(
        self, texts: Sequence[str], batch_size: int, on_batch: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, EncodeStats]:
        # max_length=None: a bag of tokens has no context window, so nothing is truncated (stats say 0).
        # Token counts are not gathered: that would tokenize twice, and tokenizing is this backend's whole cost.
        started = time.perf_counter()
        step = len(texts) if on_batch is None else max(batch_size, 1024)
        parts = []
        for start in range(0, len(texts), step):
            chunk = list(texts[start : start + step])
            parts.append(
                self.model.encode(
                    chunk, batch_size=batch_size, max_length=None, normalize=False, use_multiprocessing=False
                )
            )
            if on_batch is not None:
                on_batch(len(chunk))
        vectors = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
        return vectors, EncodeStats(texts=len(texts), seconds=time.perf_counter() - started)
