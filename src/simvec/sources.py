"""Reading texts (with ids and metadata) from .txt, .jsonl, .csv and .parquet files, and writing vectors.

Errors name the file and the line (or row) that is wrong; nothing is silently skipped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simvec.atomic import atomic_write, atomic_write_text
from simvec.errors import InputError, InputFileError

INPUT_FORMATS = (".txt", ".jsonl", ".csv", ".parquet")
OUTPUT_FORMATS = (".npy", ".parquet")
ERROR_MODES = ("strict", "replace")


@dataclass
class Record:
    """One text from an input file; `line` is the 1-based line (txt/jsonl/csv) or row (parquet)."""

    line: int
    text: str
    id: str | None = None
    metadata: dict = field(default_factory=dict)


def input_format(path: str | Path) -> str:
    """The file's format by extension, or an error listing the supported ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in INPUT_FORMATS:
        raise InputFileError(
            str(path), f"unknown input extension {suffix or '(none)'!r}; use one of {', '.join(INPUT_FORMATS)}"
        )
    return suffix


def _decoded_lines(path: Path, errors: str) -> Iterator[tuple[int, str]]:
    if errors not in ERROR_MODES:
        raise InputError(f"errors must be one of {ERROR_MODES}, got {errors!r}")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8", errors=errors)
            except UnicodeDecodeError as exc:
                raise InputFileError(
                    str(path),
                    f"invalid UTF-8 at byte {exc.start} of the line; pass --errors replace to substitute it",
                    number,
                ) from None


def _text_value(value: object, name: str, path: Path, line: int) -> str:
    if not isinstance(value, str):
        raise InputFileError(str(path), f"field {name!r} is {type(value).__name__}, expected a string", line)
    return value


def _record(
    row: dict, line: int, path: Path, text_field: str, id_field: str | None, metadata_fields: Sequence[str] | None
) -> Record:
    def need(name: str) -> object:
        if name not in row:
            raise InputFileError(
                str(path), f"missing field {name!r} (fields present: {', '.join(map(str, row)) or 'none'})", line
            )
        return row[name]

    text = _text_value(need(text_field), text_field, path, line)
    record_id = None
    if id_field is not None:
        raw_id = need(id_field)
        if raw_id is None or raw_id == "":
            raise InputFileError(str(path), f"field {id_field!r} is empty", line)
        record_id = str(raw_id)
    if metadata_fields is None:
        metadata = {k: v for k, v in row.items() if k not in (text_field, id_field)}
    else:
        metadata = {name: need(name) for name in metadata_fields}
    return Record(line=line, text=text, id=record_id, metadata=metadata)


def read_records(
    path: str | Path,
    *,
    text_field: str = "text",
    id_field: str | None = None,
    metadata_fields: Sequence[str] | None = None,
    errors: str = "strict",
) -> Iterator[Record]:
    """Yield the records of an input file.

    .txt: one text per line (every line, blank ones included, so row i of the output is line i+1).
    .jsonl: one JSON object per line (blank lines skipped); .csv: a header row; .parquet: columns.
    Metadata is every other field unless `metadata_fields` names them.
    """
    path = Path(path)
    if path.is_dir():
        raise InputFileError(str(path), _not_a_file(path))
    suffix = input_format(path)
    if not path.is_file():
        raise InputFileError(str(path), _not_a_file(path))
    if suffix == ".txt":
        for line, text in _decoded_lines(path, errors):
            yield Record(line=line, text=text.rstrip("\r\n"))
    elif suffix == ".jsonl":
        for line, raw in _decoded_lines(path, errors):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InputFileError(str(path), f"invalid JSON: {exc.msg} at column {exc.colno}", line) from None
            if not isinstance(row, dict):
                raise InputFileError(str(path), f"expected a JSON object, got {type(row).__name__}", line)
            yield _record(row, line, path, text_field, id_field, metadata_fields)
    elif suffix == ".csv":
        lines = _decoded_lines(path, errors)
        reader = csv.DictReader(text for _, text in lines)
        for row in reader:
            yield _record(row, reader.line_num, path, text_field, id_field, metadata_fields)
    else:
        yield from _parquet_records(path, text_field, id_field, metadata_fields)


def _parquet_records(
    path: Path, text_field: str, id_field: str | None, metadata_fields: Sequence[str] | None
) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not parquet
        raise InputFileError(str(path), f"not a readable parquet file ({exc})") from None
    columns = parquet.schema_arrow.names
    for name in [text_field, *([id_field] if id_field else []), *(metadata_fields or [])]:
        if name not in columns:
            raise InputFileError(str(path), f"missing column {name!r} (columns present: {', '.join(columns)})")
    row_number = 0
    for batch in parquet.iter_batches():
        for row in batch.to_pylist():
            row_number += 1
            yield _record(row, row_number, path, text_field, id_field, metadata_fields)


def _not_a_file(path: Path) -> str:
    """Why `path` cannot be read as an input file, in a few words."""
    if path.is_dir():
        return "is a directory; give a file (.txt, .jsonl, .csv or .parquet)"
    if path.exists():
        return "is not a regular file"
    return "no such file"


def sidecar_path(path: str | Path) -> Path:
    """Where a .npy output's description (`write_vectors(metadata=...)`) is written: `<path>.json`."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def write_vectors(
    path: str | Path,
    vectors: np.ndarray,
    ids: Sequence[str],
    columns: dict[str, Sequence[int]] | None = None,
    metadata: dict[str, object] | None = None,
) -> None:
    """Write vectors to .npy (the matrix) or .parquet (columns id, any `columns` given, vector).

    `metadata` (JSON values) describes the vectors: in a .parquet file each key is schema metadata `simvec.<key>`
    (its value as JSON); beside a .npy file it is the sidecar `<path>.json`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InputFileError(
            str(path), f"unknown output extension {suffix or '(none)'!r}; use one of {', '.join(OUTPUT_FORMATS)}"
        )
    if suffix == ".npy":
        atomic_write(path, lambda handle: np.save(handle, vectors))
        if metadata is not None:
            atomic_write_text(sidecar_path(path), json.dumps(metadata, indent=2) + "\n")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = pa.array(np.ascontiguousarray(vectors).reshape(-1))
    column = (
        pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]) if len(vectors) else pa.array([], pa.list_(flat.type))
    )
    extra = {name: pa.array(list(values), pa.int64()) for name, values in (columns or {}).items()}
    table = pa.table({"id": pa.array(list(ids), pa.string()), **extra, "vector": column})
    if metadata is not None:
        table = table.replace_schema_metadata({f"simvec.{key}": json.dumps(value) for key, value in metadata.items()})
    atomic_write(path, lambda handle: pq.write_table(table, handle))
