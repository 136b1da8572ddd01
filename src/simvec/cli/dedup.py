"""`simvec dedup`: near-duplicate detection over a file of documents."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from simvec.atomic import atomic_write_text
from simvec.cli.app import BackendOption, ModelOption, app
from simvec.errors import InputFileError
from simvec.sources import ERROR_MODES, Record, read_records


def read_documents(path: Path, text_field: str, id_field: str | None, errors: str) -> tuple[list[Record], list[str]]:
    """The records of an input file and their ids (the id field, else the line or row number)."""
    records = list(read_records(path, text_field=text_field, id_field=id_field, errors=errors))
    first_line: dict[str, int] = {}
    for r in records:
        if r.id is not None and first_line.setdefault(r.id, r.line) != r.line:
            raise InputFileError(str(path), f"duplicate id {r.id!r} (first on line {first_line[r.id]})", r.line)
    return records, [r.id if r.id is not None else str(r.line) for r in records]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """One JSON object per line, UTF-8."""
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
def dedup(
    input: Path = typer.Argument(..., help="Documents: .txt (a text per line), .jsonl, .csv or .parquet."),
    output: Path = typer.Option(..., "--output", "-o", help="Output .jsonl: one decision per input document."),
    text_field: str = typer.Option("text", "--text-field", help="Field / column holding the text."),
    id_field: str = typer.Option(None, "--id-field", help="Field holding the id (default: the line or row number)."),
    threshold: float = typer.Option(None, "--threshold", "-t", help="Cosine similarity in (0, 1] (default 0.925)."),
    keep: str = typer.Option(
        "first", "--keep", help="Which document of a group is kept: first, longest, shortest, max:FIELD, min:FIELD."
    ),
    lexical_threshold: float = typer.Option(
        None, "--lexical-threshold", help="Also require this character 5-gram Jaccard (0-1): same text, reformatted."
    ),
    kept_only: bool = typer.Option(False, "--kept-only", help="Write only the kept documents, with their fields."),
    model: str = ModelOption,
    backend: str = BackendOption,
    errors: str = typer.Option("strict", help=f"Invalid UTF-8: {' or '.join(ERROR_MODES)}."),
) -> None:
    """Find near-duplicates in INPUT: each removed document is within the threshold of its kept representative.

    OUTPUT gets {"id", "duplicate_of", "score"} per document in input order (null when kept), or with
    --kept-only the kept documents themselves; a summary goes to stderr.
    """
    from simvec.encoders import Encoder
    from simvec.tasks.dedup import DEFAULT_THRESHOLD, find_duplicates
    from simvec.tasks.inputs import check_threshold

    threshold = check_threshold(DEFAULT_THRESHOLD if threshold is None else threshold, "--threshold")
    if output.suffix.lower() != ".jsonl":
        raise InputFileError(str(output), "the output must be a .jsonl file")
    records, ids = read_documents(input, text_field, id_field, errors)
    if not records:
        raise InputFileError(str(input), "no documents to deduplicate")
    encoder = Encoder(model, backend=backend, cache=True)
    result = find_duplicates(
        [r.text for r in records],
        threshold,
        ids=ids,
        keep=keep,
        metadata=[r.metadata for r in records],
        lexical_threshold=lexical_threshold,
        encoder=encoder,
    )
    if kept_only:
        rows = []
        for i in result.kept:
            r = records[i]
            rows.append({**({id_field: r.id} if id_field else {}), text_field: r.text, **r.metadata})
        write_jsonl(output, rows)
    else:
        write_jsonl(output, result.records())
    summary = result.summary()
    typer.echo(
        f"{summary['documents']} documents: {summary['kept']} kept, {summary['removed']} removed as near-duplicates "
        f"in {summary['groups']} groups (largest {summary['largest_group']}) at threshold {threshold}"
        + (f", lexical {lexical_threshold}" if lexical_threshold is not None else ""),
        err=True,
    )
    for group in result.groups[:3]:
        typer.echo(f"  kept {group.representative}: {_short(records[group.index].text)}", err=True)
        for member in group.members[:3]:
            typer.echo(f"    {member.score:.3f} {member.id}: {_short(records[member.index].text)}", err=True)
    if result.incomplete:
        typer.echo(
            f"warning: {result.incomplete} documents have over 1024 neighbours above the threshold; some groups may be split",
            err=True,
        )
    typer.echo(f"wrote {len(result.kept) if kept_only else len(records)} records to {output}", err=True)
