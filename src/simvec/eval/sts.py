"""Semantic textual similarity (STS) evaluation: readers for STS-B and SemEval STS12-16, and scoring.

The protocol is MTEB's: cosine similarity of the two sentence embeddings against the gold score,
Spearman and Pearson correlation (scipy), reported x100; plus a seeded paired-bootstrap 95% CI.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from simvec.errors import InputError, InputFileError
from simvec.vectors.similarity import paired

STSB_SPLITS = ("train", "dev", "test")
SEMEVAL_YEARS = ("STS12", "STS13", "STS14", "STS15", "STS16")


class TextEncoder(Protocol):
    """What STS scoring needs: simvec's `Encoder`, or a benchmark's wrapper around another library."""

    def encode(self, texts: list[str], batch_size: int = ...) -> np.ndarray: ...


@dataclass
class STSPairs:
    """Sentence pairs with gold similarity scores."""

    name: str
    sentences1: list[str]
    sentences2: list[str]
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


@dataclass
class STSResult:
    """Correlations x100 with 95% bootstrap intervals."""

    dataset: str
    pairs: int
    spearman: float
    spearman_ci: tuple[float, float]
    pearson: float
    pearson_ci: tuple[float, float]

    def as_dict(self) -> dict:
        return asdict(self)


def _score(text: str, path: Path, line: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputFileError(str(path), f"score {text.strip()!r} is not a number", line) from None


def read_stsb(directory: str | Path, split: str = "test") -> STSPairs:
    """Read `sts-{split}.csv` (tab-separated, first 7 fields, no quoting) from an STS-B directory."""
    if split not in STSB_SPLITS:
        raise InputError(f"unknown STS-B split {split!r}; valid splits: {', '.join(STSB_SPLITS)}")
    path = Path(directory) / f"sts-{split}.csv"
    if not path.is_file():
        raise InputFileError(str(path), "no such file (expected the STS-B layout sts-{train,dev,test}.csv)")
    first, second, gold = [], [], []
    with path.open(encoding="utf-8", newline="") as handle:
        for line_number, fields in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if len(fields) < 7:
                raise InputFileError(
                    str(path), f"expected at least 7 tab-separated fields, got {len(fields)}", line_number
                )
            gold.append(_score(fields[4], path, line_number))
            first.append(fields[5])
            second.append(fields[6])
    return STSPairs(f"STSBenchmark-{split}", first, second, np.asarray(gold, dtype=np.float64))


def _lines(path: Path) -> list[str]:
    # split on "\n" only: str.splitlines would also split inside sentences on rare separators
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_semeval_pair(input_file: Path, gold_file: Path, name: str) -> STSPairs:
    """Read one SemEval STS set: input lines `s1<TAB>s2[...]`, gold lines aligned; empty gold = unscored."""
    first, second, gold = [], [], []
    inputs, golds = _lines(input_file), _lines(gold_file)
    if len(inputs) != len(golds):
        raise InputFileError(str(gold_file), f"has {len(golds)} lines but {input_file.name} has {len(inputs)}")
    for line_number, (pair, score) in enumerate(zip(inputs, golds, strict=False), start=1):
        if not score.strip():
            continue
        fields = pair.split("\t")
        if len(fields) < 2:
            raise InputFileError(str(input_file), "expected two tab-separated sentences", line_number)
        gold.append(_score(score, gold_file, line_number))
        first.append(fields[0])
        second.append(fields[1])
    return STSPairs(name, first, second, np.asarray(gold, dtype=np.float64))


def read_semeval_year(directory: str | Path) -> STSPairs:
    """All scored pairs of one SemEval year folder (e.g. STS12), concatenated as MTEB does.

    Sets whose input file is absent (STS13 SMT is not distributed) are skipped.
    """
    directory = Path(directory)
    gold_files = sorted(p for p in directory.glob("*.gs.*.txt") if not p.name.endswith(".gs.ALL.txt"))
    if not gold_files:
        raise InputFileError(str(directory), "no SemEval gold files (*.gs.<set>.txt) found")
    parts = []
    for gold_file in gold_files:
        input_file = gold_file.with_name(gold_file.name.replace(".gs.", ".input."))
        if input_file.is_file():
            parts.append(read_semeval_pair(input_file, gold_file, gold_file.stem))
    return STSPairs(
        directory.name,
        [s for p in parts for s in p.sentences1],
        [s for p in parts for s in p.sentences2],
        np.concatenate([p.scores for p in parts]),
    )


def read_sts_dir(directory: str | Path, split: str = "test") -> list[STSPairs]:
    """Detect the layout: an STS-B folder, one SemEval year, or a folder of SemEval years."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputFileError(str(directory), "no such directory")
    if (directory / f"sts-{split}.csv").is_file():
        return [read_stsb(directory, split)]
    years = [directory / y for y in SEMEVAL_YEARS if (directory / y).is_dir()]
    if years:
        return [read_semeval_year(y) for y in years]
    if any(directory.glob("*.gs.*.txt")):
        return [read_semeval_year(directory)]
    raise InputFileError(
        str(directory), f"not an STS dataset: expected sts-{split}.csv (STS-B) or SemEval STS*.gs.*/STS*.input.* files"
    )


def correlations(predicted: np.ndarray, gold: np.ndarray, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Spearman and Pearson x100 with paired-bootstrap 95% percentile intervals (scipy)."""
    from scipy import stats  # lazy: scipy.stats costs every CLI start ~0.7 s

    predicted, gold = np.asarray(predicted, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    out = {}
    for name, fn in (("spearman", stats.spearmanr), ("pearson", stats.pearsonr)):
        point = float(fn(predicted, gold).statistic) * 100
        boot = stats.bootstrap(
            (predicted, gold),
            lambda x, y, fn=fn: fn(x, y).statistic,
            paired=True,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=0.95,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        ci = boot.confidence_interval
        out[name] = point
        out[f"{name}_ci"] = (float(ci.low) * 100, float(ci.high) * 100)
    return out


def cosine_scores(encoder: TextEncoder, pairs: STSPairs, batch_size: int = 64) -> np.ndarray:
    """Cosine similarity of each pair's embeddings (each distinct sentence embedded once)."""
    unique = list(dict.fromkeys(pairs.sentences1 + pairs.sentences2))
    position = {s: i for i, s in enumerate(unique)}
    vectors = encoder.encode(unique, batch_size=batch_size)
    first = vectors[[position[s] for s in pairs.sentences1]]
    second = vectors[[position[s] for s in pairs.sentences2]]
    return paired(first, second, "cosine")


def evaluate_sts(encoder: TextEncoder, pairs: STSPairs, n_resamples: int = 1000, seed: int = 0) -> STSResult:
    """Embed the pairs with `encoder` and score them."""
    scores = cosine_scores(encoder, pairs)
    return STSResult(dataset=pairs.name, pairs=len(pairs), **correlations(scores, pairs.scores, n_resamples, seed))
