"""The lexical check of dedup: character 5-gram Jaccard similarity of two normalised texts.

Texts are case-folded with punctuation and whitespace collapsed, so the check tells "the same text,
reformatted" from "a different text on the same topic".
"""

from __future__ import annotations

import re

import numpy as np

SHINGLE = 5


def normalise_text(text: str) -> str:
    """Case-folded, every run of non-word characters one space: what reformatting does not change."""
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def shingles(text: str, size: int = SHINGLE) -> np.ndarray:
    """Sorted unique 64-bit hashes of the character `size`-grams of the normalised text."""
    codes = np.frombuffer(normalise_text(text).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < size:
        return np.unique(codes.sum(keepdims=True)) if len(codes) else np.zeros(0, np.uint64)
    hashes = np.zeros(len(codes) - size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):  # polynomial rolling hash modulo 2**64: overflow is the modulo
        for j in range(size):
            hashes = hashes * np.uint64(1_000_003) + codes[j : len(codes) - size + 1 + j]
    return np.unique(hashes)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique shingle arrays (1.0 for two empty texts)."""
    if not len(a) and not len(b):
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


# Exact Jaccard on the candidate pairs the embeddings propose, by hand: MinHash (datasketch) estimates Jaccard
# to find candidates among all pairs, which the neighbour graph already does; here only a few pairs need it.
class LexicalScores:
    """Jaccard of document pairs by input position, shingles and pairs computed once."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self._shingles: dict[int, np.ndarray] = {}
        self._pairs: dict[tuple[int, int], float] = {}

    def of(self, i: int) -> np.ndarray:
        if i not in self._shingles:
            self._shingles[i] = shingles(self.texts[i])
        return self._shingles[i]

    def score(self, i: int, j: int) -> float:
        key = (i, j) if i < j else (j, i)
        if key not in self._pairs:
            self._pairs[key] = jaccard(self.of(i), self.of(j))
        return self._pairs[key]
