"""A collection's relevance calibration: fitted from its own vectors (and judged queries), tied to how it scores.

The math is in `simvec.tasks.relevance`; this module feeds it the collection's data. Noise pseudo-queries are the
first PSEUDO_QUERY_WORDS words of NOISE_QUERIES sampled documents, embedded as queries (a document without text
lends its stored vector); each is scored against every other sampled document.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING

import numpy as np

from simvec.tasks.relevance import MIN_NOISE_DOCUMENTS, NoiseModel, fit_noise

if TYPE_CHECKING:
    from simvec.store.collection import Collection

NOISE_QUERIES = 256
PSEUDO_QUERY_WORDS = 16


def score_fingerprint(collection: Collection) -> str:
    """How the collection computes scores: its compression's name ("none" for float32), rescoring included."""
    spec = collection.compression
    return spec.name if spec is not None else "none"


def model_fingerprint(collection: Collection) -> str:
    """The model id plus a digest of the encoder settings that define the vector space (prompts, pooling, ...)."""
    settings = json.dumps(collection.settings["encoder"], sort_keys=True)
    return f"{collection.model_id}@{hashlib.sha256(settings.encode()).hexdigest()[:12]}"


def fit_collection_noise(collection: Collection, *, seed: int = 0) -> NoiseModel:
    """The collection's noise model from its stored vectors and pseudo-queries made from sampled documents."""
    from simvec.errors import CollectionError

    ids, matrix = collection.matrix()
    if len(ids) < MIN_NOISE_DOCUMENTS:
        raise CollectionError(
            f"collection {collection.path} has {len(ids)} document(s); calibration needs at least {MIN_NOISE_DOCUMENTS}"
        )
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(ids), min(NOISE_QUERIES, len(ids)), replace=False))
    documents = collection.get([ids[i] for i in rows])
    texts = [" ".join(re.findall(r"\S+", doc.text or "")[:PSEUDO_QUERY_WORDS]) for doc in documents]
    queries = matrix[rows].copy()
    with_text = [i for i, text in enumerate(texts) if text]
    if with_text:
        queries[with_text] = collection.encoder.encode_queries(
            [texts[i] for i in with_text], normalize=collection.metric == "cosine", show_progress=False
        )
    return fit_noise(matrix, queries, sources=rows, seed=seed)
