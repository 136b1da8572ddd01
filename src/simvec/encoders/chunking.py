"""Splitting long texts into overlapping chunks the model reads whole, with the model's own tokenizer.

A chunk is a character span (start, end) of the text, so a hit can point at the passage that matched. "tokens"
cuts every `max_tokens - 2` tokens (the model adds [CLS] and [SEP]) with `overlap` tokens shared by neighbours;
"sentences" packs whole sentences up to the same budget and repeats the last sentences of a chunk, up to `overlap`
tokens, at the start of the next (a sentence longer than the budget is cut by tokens).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from simvec.encoders.base import load_tokenizer
from simvec.encoders.models import ModelCard
from simvec.errors import InputError

ChunkBy = Literal["tokens", "sentences"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
MIN_CHUNK_TOKENS = 8


@dataclass(frozen=True)
class ChunkingConfig:
    """How documents are chunked: at most `max_tokens` per chunk (special tokens included), `overlap` shared."""

    max_tokens: int = 256
    overlap: int = 32
    by: ChunkBy = "tokens"

    @classmethod
    def parse(cls, given: ChunkingConfig | dict | None, model_max: int) -> ChunkingConfig:
        """A checked config from a dict of some of its fields (None: the defaults, capped at the model's maximum)."""
        if isinstance(given, ChunkingConfig):
            given = given.as_dict()
        if given is None:
            given = {"max_tokens": min(cls.max_tokens, model_max)}
        if not isinstance(given, dict):
            raise InputError(f"chunking must be a dict like {{'max_tokens': 256, 'overlap': 32}}, got {given!r}")
        unknown = sorted(set(given) - {"max_tokens", "overlap", "by"})
        if unknown:
            raise InputError(f"unknown chunking options {unknown}; valid: max_tokens, overlap, by")
        config = cls(**given)
        for name, value in (("max_tokens", config.max_tokens), ("overlap", config.overlap)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"chunking {name} must be a non-negative integer, got {value!r}")
        if not MIN_CHUNK_TOKENS <= config.max_tokens <= model_max:
            raise InputError(
                f"chunking max_tokens must be {MIN_CHUNK_TOKENS}..{model_max} (the model's maximum), "
                f"got {config.max_tokens}"
            )
        if config.overlap >= config.max_tokens - 2:
            raise InputError(
                f"chunking overlap ({config.overlap}) must be smaller than the chunk's "
                f"{config.max_tokens - 2} text tokens (max_tokens {config.max_tokens} minus [CLS] and [SEP])"
            )
        if config.by not in ("tokens", "sentences"):
            raise InputError(f"chunking by must be 'tokens' or 'sentences', got {config.by!r}")
        return config

    def as_dict(self) -> dict[str, object]:
        """The JSON form (a collection stores it)."""
        return asdict(self)


class Chunker:
    """Character spans of each text's chunks, counted in the model's tokens."""

    def __init__(self, card: ModelCard, config: ChunkingConfig | dict | None = None) -> None:
        self.config = ChunkingConfig.parse(config, card.max_seq_length)
        self.tokenizer = load_tokenizer(card)
        self.tokenizer.no_truncation()
        self.lower = card.do_lower_case

    def spans(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        """For each text, its chunks as (start, end) character offsets, in order; an empty text is an InputError."""
        prepared = [t.lower() if self.lower else t for t in texts]
        encodings = self.tokenizer.encode_batch(prepared, add_special_tokens=False)
        out = []
        for i, (text, encoding) in enumerate(zip(texts, encodings, strict=True)):
            offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
            if not len(offsets):
                raise InputError(f"texts[{i}] has no tokens to chunk: {text!r:.40}")
            if self.config.by == "tokens":
                out.append(self._by_tokens(offsets))
            else:
                out.append(self._by_sentences(text, offsets))
        return out

    @property
    def budget(self) -> int:
        return self.config.max_tokens - 2  # [CLS] and [SEP] take two of the model's positions

    def _by_tokens(self, offsets: np.ndarray) -> list[tuple[int, int]]:
        step = self.budget - self.config.overlap
        spans = []
        for start in range(0, len(offsets), step):
            stop = min(start + self.budget, len(offsets))
            spans.append((int(offsets[start, 0]), int(offsets[stop - 1, 1])))
            if stop == len(offsets):
                break
        return spans

    def _by_sentences(self, text: str, offsets: np.ndarray) -> list[tuple[int, int]]:
        bounds = [0, *(m.end() for m in _SENTENCE_END.finditer(text)), len(text)]
        # each sentence as a range of token positions (a token belongs to the sentence where it starts)
        firsts = np.searchsorted(offsets[:, 0], bounds[:-1], side="left")
        sentences = [(int(a), int(b)) for a, b in zip(firsts, [*firsts[1:], len(offsets)], strict=True) if b > a]
        pieces = []  # sentences, those longer than the budget cut into budget-sized token runs
        for a, b in sentences:
            pieces += [(s, min(s + self.budget, b)) for s in range(a, b, self.budget)]
        spans, chunk = [], []
        for piece in pieces:
            if chunk and piece[1] - chunk[0][0] > self.budget:
                spans.append((int(offsets[chunk[0][0], 0]), int(offsets[chunk[-1][1] - 1, 1])))
                keep = []  # the trailing sentences that fit in `overlap` tokens start the next chunk
                for prev in reversed(chunk):
                    if piece[1] - prev[0] > self.budget or chunk[-1][1] - prev[0] > self.config.overlap:
                        break
                    keep.insert(0, prev)
                chunk = keep
            chunk.append(piece)
        spans.append((int(offsets[chunk[0][0], 0]), int(offsets[chunk[-1][1] - 1, 1])))
        return spans
