"""Evaluation input readers: every bad row is an error naming its file and line, never skipped."""

from __future__ import annotations

import pytest

from simvec.cli import main
from simvec.errors import InputFileError
from simvec.eval.readers import read_qrels, read_queries


def test_qrels_skip_the_header_and_blank_lines(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n\nq1\td2\t2\nq2\td1\t0\n", encoding="utf-8")
    assert read_qrels(path) == {"q1": {"d1": 1, "d2": 2}, "q2": {"d1": 0}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("q1\td1\t1\nq1\td2\n", r"test.tsv:2: expected 3 tab-separated fields, got 2"),
        ("q1\td1\t1\nq1\td2\t1\textra\n", r"test.tsv:2: expected 3 tab-separated fields, got 4"),
        ("query-id\tcorpus-id\tscore\nq1\td1\thigh\n", r"test.tsv:2: score 'high' is not an integer"),
    ],
)
def test_bad_qrels_rows_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "test.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError, match=message) as info:
        read_qrels(path)
    assert info.value.path == str(path) and info.value.line == 2


def test_queries_from_jsonl_and_txt(tmp_path):
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"_id": "a", "text": "first"}\n\n{"id": 7, "text": "second"}\n{"text": "third"}\n')
    assert read_queries(jsonl) == (["a", "7", "4"], ["first", "second", "third"])
    txt = tmp_path / "q.txt"
    txt.write_text("one\n\n  two  \n", encoding="utf-8")
    assert read_queries(txt) == (["1", "3"], ["one", "two"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"_id": "a", "text": "x"}\n{"_id": "b", "body": "y"}\n', r"q.jsonl:2: missing field 'text'"),
        ('{"_id": "a", "text": "x"}\n{"_id": "b",\n', r"q.jsonl:2: invalid JSON"),
        ('{"_id": "a", "text": "x"}\n["b", "y"]\n', r"q.jsonl:2: expected a JSON object, got list"),
    ],
)
def test_bad_query_rows_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "q.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError, match=message):
        read_queries(path)


def test_missing_query_file_is_named(tmp_path):
    with pytest.raises(InputFileError, match=r"nope.jsonl: no such file"):
        read_queries(tmp_path / "nope.jsonl")


def test_cli_tune_reports_a_bad_qrels_row_before_touching_the_collection(tmp_path, capsys):
    queries, qrels = tmp_path / "q.jsonl", tmp_path / "qrels.tsv"
    queries.write_text('{"_id": "q1", "text": "a question"}\n', encoding="utf-8")
    qrels.write_text("q1\td1\t1\nq1\td2\n", encoding="utf-8")
    argv = ["tune", str(tmp_path / "no-collection"), "--ram-bytes-per-vector", "48", "--min-retention", "0.9"]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--queries", str(queries), "--qrels", str(qrels)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert f"{qrels}:2: expected 3 tab-separated fields, got 2" in err
