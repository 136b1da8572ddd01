"""`simvec collection ...` and `simvec eval retrieval` end to end (in-process), with the real model."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from simvec.cli import main

pytestmark = pytest.mark.model

DOCS = [
    {"id": "cat", "text": "The cat sat on the mat and purred.", "lang": "en", "year": 2020},
    {"id": "dog", "text": "A loyal dog fetched the ball in the park.", "lang": "en", "year": 2022},
    {"id": "chat", "text": "Le chat dort sur le canapé.", "lang": "fr", "year": 2021},
    {"id": "code", "text": "Python is a programming language.", "lang": "en", "year": 2023},
]


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture()
def built(tmp_path, capsys, fresh_embedding_cache):
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    path = tmp_path / "c"
    assert run(capsys, "collection", "create", path)[0] == 0
    code, _, err = run(capsys, "collection", "add", path, source, "--id-field", "id", "--metadata-fields", "lang,year")
    assert code == 0, err
    assert "4 added, 0 updated, 0 unchanged; 4 documents" in err
    return path, source


def test_a_second_collection_reuses_the_embedding_cache(built, capsys, tmp_path):
    _, source = built
    other = tmp_path / "other"
    assert run(capsys, "collection", "create", other)[0] == 0
    code, _, err = run(capsys, "collection", "add", other, source, "--id-field", "id")
    assert code == 0, err
    assert "4 added, 0 updated, 0 unchanged (4 embeddings from the embedding cache); 4 documents" in err
    code, _, err = run(capsys, "collection", "add", tmp_path / "other", source, "--id-field", "id", "--no-cache")
    assert "0 added, 0 updated, 4 unchanged; 4 documents" in err


@pytest.mark.parametrize("spelling", ["--text-field", "--field"])
def test_add_text_field_and_its_old_spelling(built, capsys, tmp_path, spelling):
    path, _ = built
    source = tmp_path / "bodies.jsonl"
    source.write_text('{"id": "tea", "body": "Green tea is brewed with hot water."}\n', encoding="utf-8")
    code, _, err = run(capsys, "collection", "add", path, source, "--id-field", "id", spelling, "body")
    assert code == 0, err
    assert "1 added" in err and "5 documents" in err
    code, out, _ = run(capsys, "collection", "search", path, "brewing tea", "-k", "1", "--json")
    assert code == 0 and json.loads(out)[0]["text"] == "Green tea is brewed with hot water."


def test_add_is_resumable_and_search_filters(built, capsys):
    path, source = built
    code, _, err = run(capsys, "collection", "add", path, source, "--id-field", "id", "--metadata-fields", "lang,year")
    assert code == 0 and "0 added, 0 updated, 4 unchanged; 4 documents" in err
    code, out, _ = run(capsys, "collection", "search", path, "a sleeping kitten", "-k", "1", "--json")
    assert code == 0 and [h["id"] for h in json.loads(out)] == ["cat"]
    code, out, _ = run(
        capsys,
        "collection",
        "search",
        path,
        "kitten",
        "--filter",
        '{"year": {"$gte": 2021}, "lang": "en"}',
        "--mode",
        "hybrid",
        "--json",
    )
    assert code == 0 and {h["id"] for h in json.loads(out)} == {"dog", "code"}
    assert json.loads(out)[0]["metadata"]["lang"] == "en"
    code, out, err = run(capsys, "collection", "search", path, "kitten", "--filter", '{"lang": "fr"}', "--explain")
    plan = json.loads(err)["dense"]
    assert code == 0 and "chat" in out and (plan["strategy"], plan["matching"], plan["exact"]) == ("subset", 1, True)
    code, out, _ = run(capsys, "collection", "search", path, "programming", "--mode", "keyword")
    assert code == 0 and "code" in out and "Python is a" in out and "chat" not in out


def test_info_delete_export(built, capsys, tmp_path):
    path, _ = built
    code, out, _ = run(capsys, "collection", "info", path, "--json")
    details = json.loads(out)
    assert code == 0 and details["count"] == 4 and details["dimension"] == 384 and details["index_kind"] == "flat"
    assert details["model"] == "sentence-transformers/all-MiniLM-L6-v2" and details["bytes_on_disk"] > 0
    assert details["bytes_per_document"] == pytest.approx(details["bytes_on_disk"] / 4, abs=0.1)
    assert sum(details["files"].values()) == details["bytes_on_disk"] and "collection.db" in details["files"]
    code, _, err = run(capsys, "collection", "delete", path, "dog", "nope")
    assert code == 0 and "deleted 1 of 2 ids" in err
    assert run(capsys, "collection", "export", path, tmp_path / "out.jsonl")[0] == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["cat", "chat", "code"] and rows[1]["metadata"] == {"lang": "fr", "year": 2021}
    assert run(capsys, "collection", "export", path, tmp_path / "out.parquet", "--vectors")[0] == 0
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert len(table) == 3 and len(table[0]["vector"]) == 384 and json.loads(table[0]["metadata"])["year"] == 2020


def test_errors_are_one_line(built, capsys, tmp_path):
    path, _ = built
    code, _, err = run(capsys, "collection", "search", path, "x", "--filter", '{"lang": {"$regex": "e"}}')
    assert code == 2 and "unknown operator '$regex'" in err and "Traceback" not in err
    code, _, err = run(capsys, "collection", "search", path, "x", "--filter", "{bad")
    assert code == 2 and "not valid JSON" in err
    code, _, err = run(capsys, "collection", "search", path, "x", "-k", "0")
    assert code == 2 and "k must be an integer" in err
    code, _, err = run(capsys, "collection", "info", tmp_path / "missing")
    assert code == 2 and "no collection at" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\n{"id": "b"}\n', encoding="utf-8")
    code, _, err = run(capsys, "collection", "add", path, bad, "--id-field", "id")
    assert code == 2 and "bad.jsonl:2: missing field 'text'" in err


def test_a_broken_jsonl_line_says_how_many_were_committed_and_how_to_resume(tmp_path, capsys, fresh_embedding_cache):
    source = tmp_path / "docs.jsonl"
    lines = [json.dumps(d) for d in DOCS[:3]] + ['{"id": "broken", "text": ']
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = tmp_path / "c"
    assert run(capsys, "collection", "create", path)[0] == 0
    code, _, err = run(capsys, "collection", "add", path, source, "--id-field", "id", "--batch-size", "2")
    (message,) = [line for line in err.splitlines() if line.startswith("simvec:")]
    assert code != 0 and message.startswith("simvec: error:"), err
    err = message
    assert "docs.jsonl:4" in err and "2 documents before it were committed" in err and "run the same command" in err


def test_indexed_fields_option_indexes_only_those_and_still_filters_on_the_others(
    tmp_path, capsys, fresh_embedding_cache
):
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    path = tmp_path / "c"
    assert run(capsys, "collection", "create", path, "--indexed-fields", " lang,")[0] == 0
    code, _, err = run(capsys, "collection", "add", path, source, "--id-field", "id", "--metadata-fields", "lang,year")
    assert code == 0, err
    code, out, _ = run(capsys, "collection", "info", path, "--json")
    assert json.loads(out)["indexed_fields"] == ["lang"]
    code, out, err = run(capsys, "collection", "search", path, "kitten", "--filter", '{"lang": "fr"}', "--explain")
    assert code == 0 and "chat" in out and json.loads(err)["dense"]["matching"] == 1
    unindexed = '{"year": {"$gte": 2022}, "lang": "en"}'  # year is scanned, lang looked up
    code, out, err = run(capsys, "collection", "search", path, "a pet", "--filter", unindexed, "--json")
    assert code == 0 and {h["id"] for h in json.loads(out)} == {"dog", "code"}
    code, _, err = run(capsys, "collection", "create", tmp_path / "bad", "--indexed-fields", 'a"b')
    assert code != 0 and "indexed_fields: field name 'a\"b' is not allowed" in err
