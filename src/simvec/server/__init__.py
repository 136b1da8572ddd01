"""The HTTP server: an OpenAI-compatible embeddings API plus similarity and collections, on FastAPI."""

from simvec.server.app import create_app
from simvec.server.config import Limits, ServerConfig

__all__ = ["Limits", "ServerConfig", "create_app"]
