"""Server settings and request limits (every limit is enforced and named in the error it produces)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from simvec.errors import InputError


@dataclass(frozen=True)
class Limits:
    """Per-request limits; exceeding one gives 413 (body size) or 422 naming the limit."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_texts: int = 2048  # texts per embeddings request, documents per upsert, pairs per similarity call
    max_chars: int = 20_000  # characters per text (the model reads at most its first 256 tokens)
    max_k: int = 1000
    max_batch: int = 256  # texts per model batch formed by the dynamic batcher
    max_wait_ms: float = 5.0  # how long the batcher waits for more requests before running a batch
    max_batch_tokens: int = 16_384  # tokens per model batch (an upper bound counted from characters)
    max_queue: int = 4096  # texts waiting for the model; beyond this requests get 429 with Retry-After


@dataclass(frozen=True)
class ServerConfig:
    """What `simvec serve` was started with."""

    collections_dir: Path = Path("collections")
    model: str | None = None
    api_keys: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    open_metrics: bool = False  # serve /metrics without a key even when keys are set (for a scraper on loopback)

    def __post_init__(self) -> None:
        for i, key in enumerate(self.api_keys):
            if not isinstance(key, str) or not key.strip():
                raise InputError(f"API key {i + 1} is empty: an empty key would let every request in; give a real key")


def read_api_keys(path: str | Path) -> tuple[str, ...]:
    """One key per line; blank lines and lines starting with # are ignored."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    keys = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not keys:
        raise InputError(f"{path}: no API keys found (one key per line)")
    return keys
