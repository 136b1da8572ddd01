"""Text -> vectors: model resolution, backends and the `Encoder` front."""

from simvec.encoders.base import EncodeStats
from simvec.encoders.cache import EmbeddingCache
from simvec.encoders.encoder import Encoder
from simvec.encoders.models import DEFAULT_MODEL_ID, ModelCard, resolve_model
from simvec.encoders.shared import shared_encoder

__all__ = [
    "DEFAULT_MODEL_ID",
    "EmbeddingCache",
    "EncodeStats",
    "Encoder",
    "ModelCard",
    "resolve_model",
    "shared_encoder",
]
