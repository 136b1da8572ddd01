"""The CLI end to end with the real model: outputs, and one-line errors without tracebacks."""

import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from simvec.cli import main

pytestmark = pytest.mark.model


def run(capsys, *argv):
    """Run `simvec argv...` in-process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_embed_txt_to_npy_matches_encoder(tmp_path, capsys, encoder):
    source = tmp_path / "in.txt"
    source.write_text("A man is playing a guitar.\nThe stock market fell.\n", encoding="utf-8")
    code, _, err = run(capsys, "embed", str(source), "-o", str(tmp_path / "out.npy"))
    assert code == 0, err
    vectors = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(
        vectors, encoder.encode(["A man is playing a guitar.", "The stock market fell."]), atol=1e-5
    )
    assert "wrote 2 vectors" in err


def test_embed_jsonl_to_parquet_with_options(tmp_path, capsys, encoder):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "x", "body": "hello"}\n{"id": "y", "body": "world"}\n', encoding="utf-8")
    out = tmp_path / "out.parquet"
    code, _, err = run(
        capsys,
        "embed",
        str(source),
        "-o",
        str(out),
        "--field",
        "body",
        "--id-field",
        "id",
        "--truncate-dim",
        "64",
        "--prompt",
        "query: ",
    )
    assert code == 0, err
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == ["x", "y"]
    vectors = np.array(table.column("vector").to_pylist(), dtype=np.float32)
    np.testing.assert_allclose(
        vectors, encoder.encode(["hello", "world"], prompt="query: ", truncate_dim=64), atol=1e-5
    )


@pytest.mark.parametrize("spelling", ["--text-field", "--field", "--column"])
def test_embed_text_field_and_its_old_spellings(tmp_path, capsys, encoder, spelling):
    source = tmp_path / "in.csv"
    source.write_text("id,body\nx,hello\ny,world\n", encoding="utf-8")
    code, _, err = run(capsys, "embed", str(source), "-o", str(tmp_path / "out.npy"), spelling, "body")
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), encoder.encode(["hello", "world"]), atol=1e-5)


def test_text_field_old_spellings_are_hidden_and_must_agree(tmp_path, capsys):
    code, out, _ = run(capsys, "embed", "--help")
    assert code == 0 and "--text-field" in out and "--field" not in out and "--column" not in out
    source = tmp_path / "in.csv"
    source.write_text("a,b\nx,y\n", encoding="utf-8")
    code, _, err = run(capsys, "embed", str(source), "-o", str(tmp_path / "o.npy"), "--text-field", "a", "--field", "b")
    assert code == 2 and "disagree" in err


def test_embed_binary_precision(tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("text\nfirst\nsecond\n", encoding="utf-8")
    code, _, err = run(capsys, "embed", str(source), "-o", str(tmp_path / "b.npy"), "--precision", "ubinary")
    assert code == 0, err
    codes = np.load(tmp_path / "b.npy")
    assert codes.shape == (2, 48) and codes.dtype == np.uint8


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, ["embed", "{d}/missing.txt", "-o", "{d}/o.npy"], "missing.txt: no such file"),
        ("in.xml", ["embed", "{d}/in.xml", "-o", "{d}/o.npy"], "unknown input extension '.xml'"),
        (
            "in.jsonl",
            ["embed", "{d}/in.jsonl", "-o", "{d}/o.npy", "--field", "body"],
            "in.jsonl:1: missing field 'body'",
        ),
        ("in.csv", ["embed", "{d}/in.csv", "-o", "{d}/o.npy", "--column", "body"], "in.csv:2: missing field 'body'"),
        ("bad.txt", ["embed", "{d}/bad.txt", "-o", "{d}/o.npy"], "bad.txt:2: invalid UTF-8"),
        ("in.txt", ["embed", "{d}/in.txt", "-o", "{d}/o.csv"], "unknown output extension '.csv'"),
        (
            "in.txt",
            ["embed", "{d}/in.txt", "-o", "{d}/o.npy", "--truncate-dim", "999"],
            "truncate_dim must be in 1..384",
        ),
        ("in.txt", ["embed", "{d}/in.txt", "-o", "{d}/o.npy", "--precision", "int4"], "unknown precision 'int4'"),
        (None, ["eval", "sts", "--data", "{d}"], "not an STS dataset"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, setup, args, message):
    files = {
        "in.xml": b"<x/>",
        "in.jsonl": b'{"text": "a"}\n',
        "in.csv": b"text\na\n",
        "bad.txt": b"ok\n\xc3\x28 broken\n",
        "in.txt": b"hello\n",
    }
    if setup:
        (tmp_path / setup).write_bytes(files[setup])
    code, out, err = run(capsys, *(a.format(d=tmp_path) for a in args))
    assert code != 0
    assert message in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) <= 6  # a message (click usage errors add a short box), never a traceback


def test_errors_replace_proceeds(tmp_path, capsys):
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xc3\x28 broken\n")
    code, _, err = run(capsys, "embed", str(tmp_path / "bad.txt"), "-o", str(tmp_path / "o.npy"), "--errors", "replace")
    assert code == 0, err
    assert np.load(tmp_path / "o.npy").shape == (2, 384)


def test_similarity_json_matrix(capsys):
    code, out, _ = run(
        capsys, "similarity", "A man is playing a guitar.", "Someone plays guitar.", "The stock market fell.", "--json"
    )
    assert code == 0
    matrix = np.array(json.loads(out)["matrix"])
    assert matrix.shape == (3, 3)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-4)
    assert matrix[0, 1] > matrix[0, 2]


def test_similarity_table_and_info(capsys):
    code, out, _ = run(capsys, "similarity", "cat", "dog")
    assert code == 0 and "cosine similarity" in out and "1.0000" in out
    code, out, _ = run(capsys, "info", "--json")
    info = json.loads(out)
    assert code == 0
    assert (info["model"], info["dimension"], info["max_seq_length"], info["pooling"]) == (
        "sentence-transformers/all-MiniLM-L6-v2",
        384,
        256,
        "mean",
    )


def test_eval_sts_json_on_small_stsb(tmp_path, capsys, data_dir):
    lines = (data_dir / "stsb" / "sts-test.csv").read_text(encoding="utf-8").splitlines()[:60]
    (tmp_path / "sts-test.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "eval", "sts", "--data", str(tmp_path), "--json", "--resamples", "50")
    assert code == 0
    result = json.loads(out)["results"][0]
    assert result["pairs"] == 60
    assert result["spearman_ci"][0] <= result["spearman"] <= result["spearman_ci"][1]


def test_console_script_has_no_traceback(tmp_path):
    """The installed entry point, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "simvec", "embed", str(tmp_path / "absent.jsonl"), "-o", str(tmp_path / "o.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"simvec: error: {tmp_path / 'absent.jsonl'}: no such file"
