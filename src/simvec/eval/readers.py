"""Readers for evaluation inputs in the BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.

Every bad row is an `InputFileError` naming the file and line; nothing is skipped silently. Queries and
corpus rows are read by `simvec.sources.read_records`, as `simvec embed` and `collection add` read their input.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from simvec.errors import InputFileError
from simvec.sources import read_records

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
    """(ids, texts) of non-blank queries from .txt (a query per line; id = line number) or .jsonl/.csv/.parquet
    ("text", and "_id" or "id", else the line number as id)."""
    ids, texts = [], []
    for record in read_records(_existing(Path(path), "expected queries as .txt, .jsonl, .csv or .parquet")):
        if record.text.strip():
            ids.append(str(record.metadata.get("_id", record.metadata.get("id", record.line))))
            texts.append(record.text.strip())
    return ids, texts


def read_beir(directory: str | Path, split: str = "test") -> BeirData:
    """Read a BEIR dataset (document text = title + " " + text); only the queries judged in qrels/<split>.tsv."""
    directory = Path(directory)
    qrels = read_qrels(directory / "qrels" / f"{split}.tsv")
    corpus_path, queries_path = directory / "corpus.jsonl", directory / "queries.jsonl"
    corpus = {
        doc.id: (str(doc.metadata.get("title") or "") + " " + doc.text).strip()
        for doc in read_records(_existing(corpus_path, BEIR_LAYOUT), id_field="_id")
    }
    queries = {
        query.id: query.text
        for query in read_records(_existing(queries_path, BEIR_LAYOUT), id_field="_id")
        if query.id in qrels
    }
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise InputFileError(str(queries_path), f"{len(missing)} judged queries are missing, e.g. {missing[0]!r}")
    return BeirData(directory.resolve().name, corpus, queries, {qid: qrels[qid] for qid in queries})
