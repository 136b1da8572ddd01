"""Input readers: formats, fields, and errors that name the file and line."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simvec.errors import InputFileError
from simvec.sources import read_records, write_vectors


def test_txt_keeps_every_line(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("first\n\nthird\r\n", encoding="utf-8")
    records = list(read_records(path))
    assert [(r.line, r.text) for r in records] == [(1, "first"), (2, ""), (3, "third")]


def test_jsonl_fields_ids_metadata(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps({"id": 7, "body": "hello", "lang": "en"})
        + "\n\n"
        + json.dumps({"id": "b", "body": "hé", "lang": "fr"})
        + "\n",
        encoding="utf-8",
    )
    records = list(read_records(path, text_field="body", id_field="id"))
    assert [(r.line, r.id, r.text, r.metadata) for r in records] == [
        (1, "7", "hello", {"lang": "en"}),
        (3, "b", "hé", {"lang": "fr"}),
    ]


def test_jsonl_missing_field_names_line_and_fields(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "ok"}\n{"body": "no text"}\n', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"in.jsonl:2: missing field 'text' \(fields present: body\)"):
        list(read_records(path))


def test_jsonl_invalid_json_and_wrong_type(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"in.jsonl:2: invalid JSON"):
        list(read_records(path))
    path.write_text('{"text": 5}\n', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"in.jsonl:1: field 'text' is int, expected a string"):
        list(read_records(path))


def test_csv_columns_and_missing_column(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('id,text,topic\n1,"a, quoted text",x\n2,plain,y\n', encoding="utf-8")
    records = list(read_records(path, id_field="id", metadata_fields=["topic"]))
    assert [(r.line, r.id, r.text, r.metadata) for r in records] == [
        (2, "1", "a, quoted text", {"topic": "x"}),
        (3, "2", "plain", {"topic": "y"}),
    ]
    with pytest.raises(InputFileError, match=r"in.csv:2: missing field 'body'"):
        list(read_records(path, text_field="body"))


def test_parquet_rows_and_missing_column(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "n": [1, 2]}), path)
    assert [(r.line, r.text, r.metadata) for r in read_records(path)] == [(1, "a", {"n": 1}), (2, "b", {"n": 2})]
    with pytest.raises(InputFileError, match=r"missing column 'body' \(columns present: text, n\)"):
        list(read_records(path, text_field="body"))


def test_invalid_utf8_names_line_and_replace_mode(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"good\nbad \xff byte\n")
    with pytest.raises(InputFileError, match=r"in.txt:2: invalid UTF-8 at byte 4"):
        list(read_records(path))
    assert [r.text for r in read_records(path, errors="replace")] == ["good", "bad \ufffd byte"]


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(InputFileError, match=r"unknown input extension '.xml'"):
        list(read_records(tmp_path / "in.xml"))
    with pytest.raises(InputFileError, match="no such file"):
        list(read_records(tmp_path / "absent.txt"))


def test_write_vectors_npy_and_parquet(tmp_path):
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    write_vectors(tmp_path / "v.npy", vectors, ["a", "b"])
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), vectors)
    write_vectors(tmp_path / "v.parquet", vectors, ["a", "b"])
    table = pq.read_table(tmp_path / "v.parquet")
    assert table.column("id").to_pylist() == ["a", "b"]
    np.testing.assert_array_equal(np.array(table.column("vector").to_pylist()), vectors)
