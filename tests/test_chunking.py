"""Chunking long texts with the model's tokenizer: spans, token budgets, overlap, sentences, errors."""

from __future__ import annotations

import pytest

from simvec.encoders import resolve_model
from simvec.encoders.chunking import Chunker, ChunkingConfig
from simvec.errors import InputError

SENTENCES = [
    "Aspirin lowers the risk of a first heart attack in some adults.",
    "It also raises the risk of bleeding in the stomach.",
    "Doctors weigh both before they recommend it!",
    "Is a daily low dose worth it for people over seventy?",
    "Large trials published in 2018 found little benefit and more bleeding.",
]
TEXT = " ".join(SENTENCES * 3)


@pytest.fixture(scope="module")
def card():
    return resolve_model(None)


def tokens_of(chunker: Chunker, text: str) -> list[int]:
    return chunker.tokenizer.encode(text, add_special_tokens=False).ids


def test_token_chunks_fit_the_budget_overlap_and_cover_the_text(card):
    chunker = Chunker(card, {"max_tokens": 32, "overlap": 8})
    spans = chunker.spans([TEXT, "short"])
    all_tokens = tokens_of(chunker, TEXT)
    assert spans[1] == [(0, 5)]
    chunks = [tokens_of(chunker, TEXT[a:b]) for a, b in spans[0]]
    assert all(len(c) <= 30 for c in chunks)  # 32 minus [CLS] and [SEP]
    assert spans[0][0][0] == 0 and spans[0][-1][1] == len(TEXT.rstrip())
    # consecutive chunks start 30 - 8 = 22 tokens apart, so they share 8 tokens
    assert len(chunks) == 1 + -(-(len(all_tokens) - 30) // 22)
    for left, right in zip(chunks, chunks[1:], strict=False):
        assert left[-8:] == right[:8]


def test_sentence_chunks_start_at_sentences_and_repeat_the_last_one(card):
    chunker = Chunker(card, {"max_tokens": 40, "overlap": 16, "by": "sentences"})
    spans = chunker.spans([TEXT])[0]
    starts = {TEXT.index(s) for s in SENTENCES}
    assert len(spans) > 3
    for a, b in spans:
        assert TEXT[a:b].split(" ")[0] in {s.split(" ")[0] for s in SENTENCES}
        assert len(tokens_of(chunker, TEXT[a:b])) <= 38
    assert any(a in starts and a > 0 for a, _ in spans)
    # overlap: a chunk starts inside the previous one (its last sentence, at most 16 tokens, is repeated)
    assert any(next_a < b for (_, b), (next_a, _) in zip(spans, spans[1:], strict=False))
    long_sentence = "word " * 100
    assert len(chunker.spans([long_sentence])[0]) >= 3  # a sentence longer than the budget is cut by tokens


def test_bad_chunking_options(card):
    with pytest.raises(InputError, match=r"overlap \(254\) must be smaller than the chunk's 254 text tokens"):
        Chunker(card, {"max_tokens": 256, "overlap": 254})
    with pytest.raises(InputError, match="max_tokens must be 8..256"):
        Chunker(card, {"max_tokens": 512})
    with pytest.raises(InputError, match=r"unknown chunking options \['size'\]"):
        Chunker(card, {"size": 10})
    with pytest.raises(InputError, match="by must be 'tokens' or 'sentences'"):
        Chunker(card, {"by": "words"})
    with pytest.raises(InputError, match=r"texts\[1\] has no tokens to chunk"):
        Chunker(card).spans(["fine", ""])
    assert ChunkingConfig.parse(None, 128).max_tokens == 128  # the default is capped at the model's maximum
