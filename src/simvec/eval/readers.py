"""Readers for evaluation inputs in the BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.

Every bad row is an `InputFileError` naming the file and line; nothing is skipped silently.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from simvec.errors import InputFileError

BEIR_LAYOUT = "expected the BEIR layout: corpus.jsonl, queries.jsonl, qrels/test.tsv"


@dataclass
class BeirData:
    """A BEIR dataset: documents (id -> text), queries (id -> text) with judgements, qrels (qid -> {docid: grade})."""

    name: str
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _existing(path: Path, hint: str) -> Path:
    if not path.is_file():
        raise InputFileError(str(path), f"no such file ({hint})")
    return path


def _jsonl(path: Path, hint: str = BEIR_LAYOUT) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON-lines file."""
    with _existing(path, hint).open(encoding="utf-8") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InputFileError(str(path), f"invalid JSON: {exc.msg}", line) from None
            if not isinstance(row, dict):
                raise InputFileError(str(path), f"expected a JSON object, got {type(row).__name__}", line)
            yield line, row


def _field(row: dict, name: str, path: Path, line: int) -> str:
    if name not in row:
        raise InputFileError(str(path), f"missing field {name!r}", line)
    return str(row[name])


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Relevance judgements {query id: {document id: grade}} from a BEIR qrels .tsv (optional header row)."""
    path = _existing(Path(path), BEIR_LAYOUT)
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or (line == 1 and row[0] == "query-id"):
                continue
            if len(row) != 3:
                raise InputFileError(str(path), f"expected 3 tab-separated fields, got {len(row)}", line)
            try:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
            except ValueError:
                raise InputFileError(str(path), f"score {row[2]!r} is not an integer", line) from None
    return qrels


def read_queries(path: str | Path) -> tuple[list[str], list[str]]:
    """(ids, texts) from .jsonl ({"_id" or "id", "text"}; no id: the line number) or text, a query per line."""
    path = Path(path)
    ids, texts = [], []
    if path.suffix.lower() == ".jsonl":
        for line, row in _jsonl(path, "expected queries as .jsonl or .txt"):
            ids.append(str(row.get("_id", row.get("id", line))))
            texts.append(_field(row, "text", path, line))
        return ids, texts
    with _existing(path, "expected queries as .jsonl or .txt").open(encoding="utf-8") as handle:
        for line, raw in enumerate(handle, start=1):
            if raw.strip():
                ids.append(str(line))
                texts.append(raw.strip())
    return ids, texts


def read_beir(directory: str | Path, split: str = "test") -> BeirData:
    """Read a BEIR dataset (document text = title + " " + text); only the queries judged in qrels/<split>.tsv."""
    directory = Path(directory)
    qrels = read_qrels(directory / "qrels" / f"{split}.tsv")
    corpus_path, queries_path = directory / "corpus.jsonl", directory / "queries.jsonl"
    corpus = {
        _field(row, "_id", corpus_path, line): (
            str(row.get("title") or "") + " " + _field(row, "text", corpus_path, line)
        ).strip()
        for line, row in _jsonl(corpus_path)
    }
    queries = {
        qid: _field(row, "text", queries_path, line)
        for line, row in _jsonl(queries_path)
        if (qid := _field(row, "_id", queries_path, line)) in qrels
    }
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise InputFileError(str(queries_path), f"{len(missing)} judged queries are missing, e.g. {missing[0]!r}")
    return BeirData(directory.resolve().name, corpus, queries, {qid: qrels[qid] for qid in queries})
