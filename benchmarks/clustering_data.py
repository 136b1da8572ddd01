"""The 100,000-text clustering workload: SciFact abstract sentences plus Banking77 queries repeated with noise.

Deterministic (seeded), so every run of the scale benchmark embeds and clusters the same texts.
"""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

FILLERS = ("hi, ", "hello, ", "please help: ", "quick question: ", "hey ", "urgent: ", "", "")


def scifact_sentences(data: Path) -> list[str]:
    """Every sentence (split after . ! ?) of every SciFact abstract, in corpus order."""
    sentences = []
    with (data / "scifact" / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            for sentence in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]):
                if sentence.strip():
                    sentences.append(sentence.strip())
    return sentences


def banking_texts(data: Path) -> list[str]:
    """Banking77 train + test texts."""
    texts = []
    for split in ("train", "test"):
        with (data / "banking77" / f"{split}.csv").open(encoding="utf-8", newline="") as handle:
            texts.extend(row["text"] for row in csv.DictReader(handle))
    return texts


def noisy(text: str, rng: random.Random) -> str:
    """A perturbed copy: a filler prefix, then one of drop a word, swap two words, double a letter, lowercase."""
    words = text.split()
    op = rng.randrange(4)
    if op == 0 and len(words) > 3:
        del words[rng.randrange(len(words))]
    elif op == 1 and len(words) > 2:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    elif op == 2 and words:
        i = rng.randrange(len(words))
        if words[i]:
            j = rng.randrange(len(words[i]))
            words[i] = words[i][: j + 1] + words[i][j:]
    else:
        words = [w.lower() for w in words]
    return rng.choice(FILLERS) + " ".join(words)


def workload(data: Path, n: int = 100_000, seed: int = 0) -> list[str]:
    """n texts: all SciFact sentences, then Banking77 texts (first as they are, then noisy copies) up to n."""
    rng = random.Random(seed)
    texts = scifact_sentences(data)
    bank = banking_texts(data)
    texts.extend(bank[: n - len(texts)])
    while len(texts) < n:
        texts.append(noisy(rng.choice(bank), rng))
    return [t.replace("\n", " ") for t in texts[:n]]


if __name__ == "__main__":
    import sys

    out = Path(sys.argv[2] if len(sys.argv) > 2 else "clustering-100k.txt")
    out.write_text("\n".join(workload(Path(sys.argv[1]))) + "\n", encoding="utf-8")
    print(f"wrote {out}")
