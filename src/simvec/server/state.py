"""What every route shares: the config, the model, the batcher, the served collections, metrics and limits."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse

from simvec.encoders import Encoder
from simvec.errors import LimitExceeded, check_unicode
from simvec.server.batching import DynamicBatcher
from simvec.server.collections import CollectionRegistry
from simvec.server.config import ServerConfig
from simvec.server.metrics import Metrics


def error(status: int, message: str, kind: str) -> JSONResponse:
    """The one error body every route answers with: {"error": {"message", "type"}}."""
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)


@dataclass
class ServerState:
    """Built once by `create_app` and kept on `app.state.simvec`; routes get it with `Depends(get_state)`."""

    config: ServerConfig
    encoder: Encoder
    batcher: DynamicBatcher
    registry: CollectionRegistry
    metrics: Metrics

    @property
    def model_names(self) -> set[str]:
        """The names a request may use for the served model (full id, or its last part)."""
        return {self.encoder.model_id, self.encoder.model_id.rsplit("/", 1)[-1]}

    def check_texts(self, texts: list[str], what: str) -> None:
        """Refuse an empty list, too many texts or a text over the character limit, naming the item."""
        limits = self.config.limits
        if not texts:
            raise LimitExceeded(f"{what} must not be empty")
        if len(texts) > limits.max_texts:
            raise LimitExceeded(f"{what} has {len(texts)} items; the limit is {limits.max_texts} (max_texts)", 413)
        for i, text in enumerate(texts):
            if text is not None and len(text) > limits.max_chars:
                raise LimitExceeded(
                    f"{what}[{i}] has {len(text)} characters; the limit is {limits.max_chars} (max_chars)"
                )
            if isinstance(text, str):  # before the text joins a shared model batch
                check_unicode(text, f"{what}[{i}]")

    def check_k(self, k: int) -> None:
        """Refuse a k over the server's limit."""
        if k > self.config.limits.max_k:
            raise LimitExceeded(f"k={k} exceeds the limit of {self.config.limits.max_k} (max_k)")


def get_state(request: Request) -> ServerState:
    """FastAPI dependency: the app's shared state."""
    return request.app.state.simvec
