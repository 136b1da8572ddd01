"""The backend contract and the tokenize -> sort -> batch -> pool loop shared by transformer backends."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from tokenizers import Tokenizer

from simvec.encoders.models import ModelCard
from simvec.encoders.pooling import pool

# Texts are tokenized and length-sorted in chunks this large: sorting a whole corpus at once
# would hold every tokenized text in memory, while chunks this size keep padding near minimal.
SORT_CHUNK = 16_384


@dataclass
class EncodeStats:
    """What one `encode` call did: counts that are never silently dropped."""

    texts: int = 0
    tokens: int = 0
    seconds: float = 0.0
    cache_hits: int = 0  # texts answered by the embedding cache (the model did not run for them)
    tokenize_seconds: float = 0.0  # the part of `seconds` spent in the tokenizer
    # tokens of each text in input order (after truncation), when the backend counted them while embedding
    token_counts: list[int] | None = None
    # positions (in the texts given to `embed`) of the truncated texts, so a cache can remember them
    truncated_rows: list[int] = field(default_factory=list)

    @property
    def truncated(self) -> int:
        """How many texts were longer than the model's maximum sequence length."""
        return len(self.truncated_rows)

    def __repr__(self) -> str:
        return (
            f"EncodeStats(texts={self.texts}, tokens={self.tokens}, truncated={self.truncated}, "
            f"seconds={self.seconds:.3f}, cache_hits={self.cache_hits})"
        )

    @property
    def texts_per_second(self) -> float:
        return self.texts / self.seconds if self.seconds > 0 else 0.0


class Backend(Protocol):
    """Turns texts into pooled (not yet normalised) float32 vectors, in input order."""

    name: str
    fingerprint: str  # name + recipe version: what the embedding cache keys on (vectors differ across these)
    dimension: int

    def embed(
        self, texts: Sequence[str], batch_size: int, on_batch: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, EncodeStats]: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


def load_tokenizer(card: ModelCard) -> Tokenizer:
    """The model's fast tokenizer, truncating at its max sequence length and never padding."""
    tokenizer_file = card.path / "tokenizer.json"
    if tokenizer_file.is_file():
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    else:  # only vocab.txt etc.: let transformers build the fast tokenizer once
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(card.path), local_files_only=True).backend_tokenizer
    # tokenizer.json files often carry fixed padding (all-MiniLM-L6-v2 pads to 128): padding is
    # ours to do per batch, so the shortest batches stay short.
    tokenizer.no_padding()
    tokenizer.enable_truncation(card.max_seq_length)
    return tokenizer


class TokenBackend:
    """Tokenize, sort by token length, batch with per-batch padding, run `forward`, pool."""

    name = "tokens"
    # True for a runtime whose output for a text changes with its padding (OpenVINO's int8 kernels): each text is
    # then padded to a width set by its own length alone (`bucket_widths`) and batched only with texts of that
    # width, so it gets the same vector alone and in any batch.
    bucketed_padding = False

    def __init__(self, card: ModelCard) -> None:
        self.card = card
        self.tokenizer = load_tokenizer(card)
        self.dimension = card.dimension

    @property
    def fingerprint(self) -> str:
        return self.name

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """(batch, tokens) int64 arrays -> (batch, tokens, hidden) token embeddings."""
        raise NotImplementedError

    def _prepare(self, texts: Sequence[str]) -> list[str]:
        return [t.lower() for t in texts] if self.card.do_lower_case else list(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text after truncation, special tokens included."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(self._prepare(texts))]

    def embed(
        self, texts: Sequence[str], batch_size: int, on_batch: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, EncodeStats]:
        started = time.perf_counter()
        stats = EncodeStats(texts=len(texts))
        out = np.empty((len(texts), self.card.dimension), dtype=np.float32)
        counts: list[int] = []
        for chunk_start in range(0, len(texts), SORT_CHUNK):
            tokenize_started = time.perf_counter()
            chunk = self._prepare(texts[chunk_start : chunk_start + SORT_CHUNK])
            encodings = self.tokenizer.encode_batch(chunk)
            lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
            stats.tokenize_seconds += time.perf_counter() - tokenize_started
            counts += lengths.tolist()
            stats.tokens += int(lengths.sum())
            stats.truncated_rows += [chunk_start + i for i, e in enumerate(encodings) if e.overflowing]
            widths = bucket_widths(lengths, self.card.max_seq_length) if self.bucketed_padding else lengths
            for rows in length_batches(widths, batch_size, self.bucketed_padding):
                input_ids, attention_mask = padded_batch(encodings, lengths, rows, int(widths[rows].max()))
                hidden = self.forward(input_ids, attention_mask)
                out[chunk_start + rows] = pool(hidden, attention_mask, self.card.pooling)
                if on_batch is not None:
                    on_batch(len(rows))
        stats.seconds = time.perf_counter() - started
        stats.token_counts = counts
        return out, stats

    def embed_tokens(
        self, texts: Sequence[str], batch_size: int
    ) -> tuple[list[np.ndarray], list[np.ndarray], EncodeStats]:
        """Each text's last hidden state (n_tokens, hidden) float32, unpooled and unnormalised, with a boolean mask
        of its special tokens ([CLS], [SEP]); batched by length like `embed`."""
        started = time.perf_counter()
        stats = EncodeStats(texts=len(texts))
        states: list[np.ndarray] = [np.empty(0)] * len(texts)
        specials: list[np.ndarray] = [np.empty(0, dtype=bool)] * len(texts)
        encodings = self.tokenizer.encode_batch(self._prepare(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        stats.tokens = int(lengths.sum())
        stats.truncated_rows = [i for i, e in enumerate(encodings) if e.overflowing]
        widths = bucket_widths(lengths, self.card.max_seq_length) if self.bucketed_padding else lengths
        for rows in length_batches(widths, batch_size, self.bucketed_padding):
            input_ids, attention_mask = padded_batch(encodings, lengths, rows, int(widths[rows].max()))
            hidden = self.forward(input_ids, attention_mask)
            for j, i in enumerate(rows):  # the attention mask: padding positions are dropped
                states[i] = np.ascontiguousarray(hidden[j, : lengths[i]], dtype=np.float32)
                specials[i] = np.asarray(encodings[i].special_tokens_mask, dtype=bool)
        stats.seconds = time.perf_counter() - started
        return states, specials, stats


def bucket_widths(lengths: np.ndarray, max_length: int) -> np.ndarray:
    """Each text's padded width: the smallest of a few fixed widths (multiples of 8, ~25% apart) that holds it.

    Few widths keep the shapes a runtime sees few (OpenVINO prepares each new input shape once, ~20 ms) and the
    batches full; steps of ~25% bound the padding.
    """
    widths = [8]
    while widths[-1] < max_length:
        widths.append(min(max_length, max(widths[-1] + 8, -(-int(widths[-1] * 1.25) // 8) * 8)))
    return np.asarray(widths, dtype=np.int64)[np.searchsorted(widths, lengths)]


def length_batches(widths: np.ndarray, batch_size: int, one_width: bool = False) -> Iterator[np.ndarray]:
    """Row indices of each batch: widest texts first, at most `batch_size` rows, one width per batch if asked."""
    order = np.argsort(-widths, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(widths[order])) + 1) if one_width else [order]
    for group in groups:
        for start in range(0, len(group), batch_size):
            yield group[start : start + batch_size]


def padded_batch(
    encodings: Sequence, lengths: np.ndarray, rows: np.ndarray, width: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask) of the encodings at `rows`, zero-padded to `width` (default: the longest)."""
    width = width or int(lengths[rows].max())
    input_ids = np.zeros((len(rows), width), dtype=np.int64)
    attention_mask = np.zeros((len(rows), width), dtype=np.int64)
    for j, i in enumerate(rows):
        input_ids[j, : lengths[i]] = encodings[i].ids
        attention_mask[j, : lengths[i]] = 1
    return input_ids, attention_mask
