"""`simvec mine pairs|paraphrases`: pairs that mean the same, across two files or within one."""

from __future__ import annotations

from pathlib import Path

import typer

from simvec.cli.app import BackendOption, ModelOption, app
from simvec.cli.dedup import read_documents, write_jsonl
from simvec.errors import InputFileError
from simvec.sources import ERROR_MODES

mine_app = typer.Typer(
    help="Mine pairs of texts that mean the same (margin scoring as in LASER).", no_args_is_help=True
)
app.add_typer(mine_app, name="mine")

ThresholdOption = typer.Option(
    None, "--threshold", "-t", help="Minimum score (default: 1.26 for the ratio margin, 0.6 for cosine)."
)
MarginOption = typer.Option(
    "ratio", "--margin", help="ratio (LASER's ratio margin over k=4 neighbours) or none (cosine)."
)
TopOption = typer.Option(None, "--top-n", help="Keep at most this many pairs (the best).")
TextFieldOption = typer.Option("text", "--text-field", help="Field / column holding the text.")
IdFieldOption = typer.Option(None, "--id-field", help="Field holding an id, written as a_id / b_id.")
ErrorsOption = typer.Option("strict", help=f"Invalid UTF-8: {' or '.join(ERROR_MODES)}.")


def _check_output(output: Path) -> None:
    if output.suffix.lower() != ".jsonl":
        raise InputFileError(str(output), "the output must be a .jsonl file")


def _pair_rows(
    pairs: list, left: list, right: list, left_ids: list[str] | None, right_ids: list[str] | None
) -> list[dict]:
    """One output record per mined pair: {"a", "b", "score"}, plus "a_id"/"b_id" when the inputs carry ids."""
    rows = []
    for p in pairs:
        row = {"a": left[p.a].text, "b": right[p.b].text, "score": round(p.score, 6)}
        if left_ids is not None:
            row.update(a_id=left_ids[p.a], b_id=right_ids[p.b])
        rows.append(row)
    return rows


@mine_app.command("pairs")
def mine_pairs_command(
    a: Path = typer.Argument(..., help="First set: .txt, .jsonl, .csv or .parquet."),
    b: Path = typer.Argument(..., help="Second set."),
    output: Path = typer.Option(..., "--output", "-o", help="Output .jsonl: {a, b, score} per pair, best first."),
    threshold: float = ThresholdOption,
    margin: str = MarginOption,
    top_n: int = TopOption,
    text_field: str = TextFieldOption,
    id_field: str = IdFieldOption,
    model: str = ModelOption,
    backend: str = BackendOption,
    errors: str = ErrorsOption,
) -> None:
    """Mine one-to-one pairs across A and B (bitext style): each text used at most once, best first."""
    from simvec.encoders import Encoder
    from simvec.tasks.mine import check_margin, check_mining_threshold, mine_pairs

    check_mining_threshold(threshold, check_margin(margin))
    _check_output(output)
    records_a, ids_a = read_documents(a, text_field, id_field, errors)
    records_b, ids_b = read_documents(b, text_field, id_field, errors)
    for path, records in ((a, records_a), (b, records_b)):
        if not records:
            raise InputFileError(str(path), "no texts to mine: both sides need at least one")
    encoder = Encoder(model, backend=backend, cache=True)
    pairs = mine_pairs(
        [r.text for r in records_a],
        [r.text for r in records_b],
        threshold=threshold,
        margin=margin,
        top_n=top_n,
        encoder=encoder,
    )
    rows = _pair_rows(pairs, records_a, records_b, ids_a if id_field else None, ids_b if id_field else None)
    write_jsonl(output, rows)
    typer.echo(f"mined {len(rows)} pairs from {len(records_a)} x {len(records_b)} texts; wrote {output}", err=True)


@mine_app.command("paraphrases")
def mine_paraphrases_command(
    input: Path = typer.Argument(..., help="Texts: .txt, .jsonl, .csv or .parquet."),
    output: Path = typer.Option(..., "--output", "-o", help="Output .jsonl: {a, b, score} per pair, best first."),
    threshold: float = ThresholdOption,
    margin: str = MarginOption,
    top_n: int = TopOption,
    text_field: str = TextFieldOption,
    id_field: str = IdFieldOption,
    model: str = ModelOption,
    backend: str = BackendOption,
    errors: str = ErrorsOption,
) -> None:
    """Mine pairs within one set that mean the same (a text may pair with several others)."""
    from simvec.encoders import Encoder
    from simvec.tasks.mine import check_margin, check_mining_threshold, mine_paraphrases

    check_mining_threshold(threshold, check_margin(margin))
    _check_output(output)
    records, ids = read_documents(input, text_field, id_field, errors)
    if not records:
        raise InputFileError(str(input), "no texts to mine")
    encoder = Encoder(model, backend=backend, cache=True)
    pairs = mine_paraphrases(
        [r.text for r in records], threshold=threshold, margin=margin, top_n=top_n, encoder=encoder
    )
    rows = _pair_rows(pairs, records, records, ids if id_field else None, ids if id_field else None)
    write_jsonl(output, rows)
    typer.echo(f"mined {len(rows)} pairs from {len(records)} texts; wrote {output}", err=True)
