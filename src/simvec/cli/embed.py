"""`simvec embed`, `simvec similarity`, `simvec info`, `simvec demo`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from simvec.cli.app import BackendOption, JsonOption, ModelOption, app, print_json
from simvec.sources import ERROR_MODES, read_records, write_vectors
from simvec.types import METRICS, PRECISIONS
from simvec.vectors.similarity import pairwise

# The text field of `embed` and `collection add`; --field and --column were embed's names for it: still accepted.
TextFieldOption = typer.Option("text", "--text-field", help="JSON field / CSV or parquet column holding the text.")
TextFieldAliasOption = typer.Option(None, "--field", "--column", hidden=True)


def print_details(details: dict, as_json: bool) -> None:
    """A flat dict as JSON, or as aligned `key: value` lines (`simvec info`, `simvec collection info`)."""
    if as_json:
        print_json(details)
        return
    for key, value in details.items():
        typer.echo(f"{key:>15}: {value}")


def text_field_of(text_field: str, alias: str | None) -> str:
    """The text field given by --text-field or by its old spelling (--field / --column), not two different ones."""
    if alias is None or alias == text_field:
        return text_field
    if text_field != "text":
        raise typer.BadParameter(
            f"--text-field {text_field!r} and its old spelling {alias!r} disagree; give --text-field only",
            param_hint="--text-field",
        )
    return alias


ENGINES = ("local", "ray")


@app.command()
def embed(
    input: list[str] = typer.Argument(
        ...,
        metavar="INPUT",
        help="Input file: .txt (a text per line), .jsonl, .csv or .parquet. With --engine ray: files or globs of "
        "shards.",
    ),
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        help="Output file: .npy (matrix) or .parquet (id, vector). With --engine ray: a directory of Parquet shards.",
    ),
    text_field: str = TextFieldOption,
    text_field_alias: str = TextFieldAliasOption,
    id_field: str = typer.Option(None, "--id-field", help="Field holding an id (default: the line or row number)."),
    model: str = ModelOption,
    prompt: str = typer.Option(None, help='Prefix for every text, e.g. "query: ".'),
    precision: str = typer.Option("float32", help=f"One of {', '.join(PRECISIONS)}."),
    truncate_dim: int = typer.Option(None, "--truncate-dim", help="Matryoshka truncation to this many dimensions."),
    batch_size: int = typer.Option(64, "--batch-size"),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="Unit-length vectors."),
    errors: str = typer.Option("strict", help=f"Invalid UTF-8: {' or '.join(ERROR_MODES)}."),
    backend: str = BackendOption,
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse and store embeddings in the embedding cache."),
    cache_path: Path = typer.Option(None, "--cache-path", help="Cache file (default: under $SIMVEC_CACHE_DIR)."),
    chunk: bool = typer.Option(
        False, "--chunk", help="Split long texts into chunks (.parquet: a row per chunk with id, chunk, start, end)."
    ),
    chunk_tokens: int = typer.Option(256, "--chunk-tokens", help="With --chunk: tokens per chunk ([CLS]/[SEP] in)."),
    chunk_overlap: int = typer.Option(32, "--chunk-overlap", help="With --chunk: tokens shared by neighbours."),
    chunk_by: str = typer.Option("tokens", "--chunk-by", help="With --chunk: tokens or sentences."),
    engine: str = typer.Option("local", "--engine", help="local (this process) or ray (a Ray Data job)."),
    address: str = typer.Option(
        None, "--address", help="With --engine ray: auto, host:port or ray://host:port (default: a local Ray)."
    ),
    workers: int = typer.Option(2, "--workers", help="With --engine ray: embedding actors (one Encoder each)."),
    keep_columns: str = typer.Option(
        None, "--keep-columns", help="With --engine ray: input columns to copy to the output, comma-separated."
    ),
) -> None:
    """Embed every text of INPUT and write the vectors to OUTPUT (with --chunk: every chunk of every text)."""
    from simvec.encoders import Encoder
    from simvec.encoders.provenance import describe

    if engine not in ENGINES:
        raise typer.BadParameter(f"unknown engine {engine!r}; use {' or '.join(ENGINES)}", param_hint="--engine")
    if engine == "ray":
        if chunk or precision != "float32" or cache_path is not None:
            raise typer.BadParameter(
                "--engine ray writes float32 vectors of whole texts and never uses the embedding cache: drop "
                "--chunk, --precision and --cache-path",
                param_hint="--engine",
            )
        _embed_on_ray(
            input,
            output,
            address=address,
            workers=workers,
            model=model,
            backend=backend,
            text_field=text_field_of(text_field, text_field_alias),
            id_field=id_field,
            columns=[c.strip() for c in keep_columns.split(",") if c.strip()] if keep_columns else [],
            prompt=prompt,
            normalize=normalize,
            truncate_dim=truncate_dim,
            batch_size=batch_size,
            errors=errors,
        )
        return
    if len(input) != 1 or address is not None or keep_columns is not None:
        raise typer.BadParameter(
            "several inputs, --address and --keep-columns need --engine ray", param_hint="--engine"
        )
    input = Path(input[0])
    if output.suffix.lower() not in (".npy", ".parquet"):
        raise typer.BadParameter(
            f"unknown output extension {output.suffix or '(none)'!r}; use .npy or .parquet", param_hint="--output"
        )
    records = list(
        read_records(input, text_field=text_field_of(text_field, text_field_alias), id_field=id_field, errors=errors)
    )
    if chunk and output.suffix.lower() != ".parquet":
        raise typer.BadParameter(
            "--chunk writes a row per chunk with its offsets: use a .parquet output", param_hint="--output"
        )
    encoder = Encoder(model, backend=backend, cache=(cache_path or True) if cache else None)
    ids = [r.id if r.id is not None else str(r.line) for r in records]
    texts, columns = [r.text for r in records], None
    if chunk:
        from simvec.encoders.chunking import Chunker

        config = {"max_tokens": chunk_tokens, "overlap": chunk_overlap, "by": chunk_by}
        spans = Chunker(encoder.card, config).spans(texts)
        texts = [text[a:b] for text, text_spans in zip(texts, spans, strict=True) for a, b in text_spans]
        ids = [doc_id for doc_id, text_spans in zip(ids, spans, strict=True) for _ in text_spans]
        columns = {
            "chunk": [i for text_spans in spans for i in range(len(text_spans))],
            "start": [a for text_spans in spans for a, _ in text_spans],
            "end": [b for text_spans in spans for _, b in text_spans],
        }
    provenance = encoder.provenance
    typer.echo(f"embedding {len(texts)} texts with {encoder.model_id} on backend {describe(provenance)}", err=True)
    vectors = encoder.encode(
        texts,
        prompt=prompt,
        precision=precision,
        truncate_dim=truncate_dim,
        batch_size=batch_size,
        normalize=normalize,
    )
    # what made these vectors, so a reader can embed its queries in the same space (Parquet metadata, .npy sidecar)
    described = {"model": encoder.model_id, "dimension": truncate_dim or encoder.dimension, "precision": precision}
    write_vectors(output, vectors, ids, columns, metadata={**described, "provenance": provenance})
    stats = encoder.last_stats
    typer.echo(
        f"wrote {len(vectors)} vectors of shape {tuple(vectors.shape[1:])} {vectors.dtype} to {output}"
        + (
            f" ({stats.truncated} texts truncated to {encoder.max_seq_length} tokens)"
            if stats and stats.truncated
            else ""
        )
        + (f"; {stats.cache_hits} from the cache" if stats and stats.cache_hits else ""),
        err=True,
    )


def _embed_on_ray(inputs: list[str], out_dir: Path, **options: object) -> None:
    """Run the Ray Data job; list every shard that failed and exit 1 if any did."""
    from simvec.scale import embed_dataset

    report = embed_dataset(inputs, out_dir, progress=lambda message: typer.echo(message, err=True), **options)
    written = sum(1 for s in report.shards if s.status == "written")
    skipped = sum(1 for s in report.shards if s.status == "skipped")
    typer.echo(
        f"{report.rows} vectors in {out_dir}: {written} shards written, {skipped} skipped (already verified), "
        f"{len(report.failed)} failed, in {report.seconds:.1f} s",
        err=True,
    )
    if report.failed:
        for shard in report.failed:
            typer.echo(f"simvec: failed shard {shard.path}: {shard.error}", err=True)
        raise typer.Exit(1)


@app.command()
def similarity(
    texts: list[str] = typer.Argument(..., help="Two or more texts."),
    model: str = ModelOption,
    metric: str = typer.Option("cosine", help=f"One of {', '.join(METRICS)}."),
    as_json: bool = JsonOption,
) -> None:
    """Print the similarity matrix of the given texts."""
    from simvec.encoders import Encoder

    if len(texts) < 2:
        raise typer.BadParameter("give at least two texts")
    if metric not in METRICS:
        raise typer.BadParameter(
            f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}", param_hint="--metric"
        )
    vectors = Encoder(model).encode(texts)
    matrix = pairwise(vectors, vectors, metric)
    if as_json:
        print_json({"metric": metric, "texts": texts, "matrix": matrix.round(6).tolist()})
        return
    table = Table(title=f"{metric} similarity" if metric in ("cosine", "dot") else f"{metric} distance")
    table.add_column("#")
    for i in range(len(texts)):
        table.add_column(str(i + 1), justify="right")
    for i, row in enumerate(matrix):
        table.add_row(f"{i + 1}. {texts[i][:48]}", *(f"{v:.4f}" for v in row))
    Console().print(table)


@app.command()
def info(
    model: str = ModelOption,
    backend: str = BackendOption,
    as_json: bool = JsonOption,
) -> None:
    """Print the model, its dimension, max length, pooling and backend (and why auto chose it)."""
    from simvec.encoders import Encoder

    print_details(Encoder(model, backend=backend).info(), as_json)


@app.command()
def demo() -> None:
    """Embed the bundled sample corpus, answer a few queries and compare a sentence pair."""
    from simvec.demo import run_demo

    run_demo()
