"""`simvec collection create|add|search|delete|info|compress|export|reembed`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from simvec.atomic import atomic_write, atomic_write_text
from simvec.cli.app import JsonOption, ModelOption, app, print_json
from simvec.cli.embed import TextFieldAliasOption, TextFieldOption, print_details, text_field_of
from simvec.errors import InputError, SimvecError
from simvec.sources import ERROR_MODES, read_records

collection_app = typer.Typer(
    help="Persistent collections: add documents, search them (dense, keyword, hybrid).", no_args_is_help=True
)
app.add_typer(collection_app, name="collection")

PathArgument = typer.Argument(..., help="Collection directory.")


def _open(path: Path, *, cache: bool = False):
    """Open a collection; with `cache`, its encoder (on the collection's recorded backend) uses the embedding cache."""
    from simvec.encoders import Encoder
    from simvec.store import Collection

    if not cache:
        return Collection.open(path)
    with Collection.open(path) as probe:
        encoder = probe.recorded_encoder(lambda model, backend: Encoder(model, backend=backend, cache=True))
    return Collection.open(path, model=encoder)


@collection_app.command("create")
def create(
    path: Path = PathArgument,
    model: str = ModelOption,
    index: str = typer.Option("auto", help="auto (flat when small, HNSW above 100,000 documents), flat, hnsw or ivf."),
    metric: str = typer.Option("cosine", help="cosine, dot or euclidean."),
    compression: str = typer.Option(
        None,
        "--compression",
        help="Codes kept in RAM: float16, int8, binary, binary-itq, pq48, t256-binary, ... (default: float32).",
    ),
    rescore: str = typer.Option(
        None, "--rescore", help="Second stage from disk for compressed collections: int8, float32 or none."
    ),
    hnsw_m: int = typer.Option(None, "--hnsw-m", help="HNSW graph degree (default 32)."),
    hnsw_ef_construction: int = typer.Option(
        None, "--hnsw-ef-construction", help="HNSW build breadth (default 64; higher: better recall, slower build)."
    ),
    auto_hnsw_above: int = typer.Option(
        None, "--auto-hnsw-above", help="index=auto: exact search up to this many documents, HNSW above (100,000)."
    ),
    exact_filter_max: int = typer.Option(
        None,
        "--exact-filter-max",
        help="Filters matching at most this many documents score just those, exactly (10,000).",
    ),
    indexed_fields: str = typer.Option(
        None,
        "--indexed-fields",
        help="Comma-separated metadata fields to index for filters (default: every field; others are scanned).",
    ),
    multivector: str = typer.Option(
        None, "--multivector", help="Keep each document as its token or chunk vectors: tokens or chunks (MaxSim)."
    ),
    chunk_tokens: int = typer.Option(None, "--chunk-tokens", help="Chunked collection: tokens per chunk (256)."),
    chunk_overlap: int = typer.Option(None, "--chunk-overlap", help="Chunked collection: tokens shared (32)."),
    backend: str = typer.Option(
        "native", "--backend", help="native (SQLite + FAISS in PATH) or milvus (documents in Milvus at --uri)."
    ),
    uri: str = typer.Option(
        None, "--uri", help="--backend milvus: a Milvus Lite file (default PATH/milvus.db) or http://host:19530."
    ),
) -> None:
    """Create an empty collection at PATH for a model."""
    from simvec.store import Collection

    given = {
        "hnsw_m": hnsw_m,
        "hnsw_ef_construction": hnsw_ef_construction,
        "auto_hnsw_above": auto_hnsw_above,
        "exact_filter_max": exact_filter_max,
    }
    index_params = {name: value for name, value in given.items() if value is not None}
    chunk = {"max_tokens": chunk_tokens, "overlap": chunk_overlap}
    chunking = {name: value for name, value in chunk.items() if value is not None} or None
    with Collection.create(
        path,
        model=model,
        index=index,
        metric=metric,
        compression=compression,
        rescore=rescore,
        index_params=index_params,
        indexed_fields=None if indexed_fields is None else [f.strip() for f in indexed_fields.split(",") if f.strip()],
        multivector=multivector,
        chunking=chunking,
        backend=backend,
        uri=uri,
    ) as collection:
        where = f", in Milvus at {uri or collection.backend['uri']}" if backend == "milvus" else ""
        typer.echo(
            f"created {path} (model {collection.model_id}, dimension {collection.dimension}, index {index}, metric {metric}{where})",
            err=True,
        )


def _estimate_records(path: Path) -> int | None:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if suffix in (".txt", ".jsonl", ".csv") and path.is_file():
        with path.open("rb") as handle:
            lines = sum(1 for _ in handle)
        return lines - 1 if suffix == ".csv" else lines
    return None


@collection_app.command("add")
def add(
    path: Path = PathArgument,
    input: Path = typer.Argument(..., help="Input file: .txt (a text per line), .jsonl, .csv or .parquet."),
    text_field: str = TextFieldOption,
    text_field_alias: str = TextFieldAliasOption,
    id_field: str = typer.Option(
        None, "--id-field", help="Field holding the document id (default: the line or row number)."
    ),
    metadata_fields: str = typer.Option(
        None, "--metadata-fields", help="Comma-separated fields to keep as metadata (default: all others)."
    ),
    batch_size: int = typer.Option(
        1000, "--batch-size", help="Documents per transaction (a killed run keeps every finished batch)."
    ),
    errors: str = typer.Option("strict", help=f"Invalid UTF-8: {' or '.join(ERROR_MODES)}."),
    cache: bool = typer.Option(
        True, "--cache/--no-cache", help="Reuse and store embeddings in the embedding cache (as `simvec embed`)."
    ),
) -> None:
    """Add (or update) the documents of INPUT. Re-running skips documents whose text is unchanged."""
    from tqdm.auto import tqdm

    fields = [f.strip() for f in metadata_fields.split(",") if f.strip()] if metadata_fields else None
    records = read_records(
        input,
        text_field=text_field_of(text_field, text_field_alias),
        id_field=id_field,
        metadata_fields=fields,
        errors=errors,
    )
    totals = {"added": 0, "updated": 0, "unchanged": 0}
    cache_hits = 0
    with (
        _open(path, cache=cache) as collection,
        tqdm(total=_estimate_records(input), unit="doc", desc="Adding", disable=not sys.stderr.isatty()) as bar,
    ):
        chunk: list = []

        def flush() -> None:
            nonlocal cache_hits
            stats_before = collection.encoder.last_stats
            result = collection.add(
                [r.text for r in chunk],
                ids=[r.id if r.id is not None else str(r.line) for r in chunk],
                metadata=[r.metadata for r in chunk],
                batch_size=batch_size,
                show_progress=False,
            )
            if collection.encoder.last_stats is not stats_before:  # this chunk was embedded
                cache_hits += collection.encoder.last_stats.cache_hits
            for key in totals:
                totals[key] += getattr(result, key)
            bar.update(len(chunk))
            bar.set_postfix(totals)
            chunk.clear()

        try:
            for record in records:
                chunk.append(record)
                if len(chunk) >= batch_size:
                    flush()
            if chunk:
                flush()
        except SimvecError as exc:  # a bad line or document: earlier batches are committed, and say so
            done = sum(totals.values())
            if not done:
                raise
            raise InputError(
                f"{exc}; {done} documents before it were committed ({totals['added']} added, {totals['updated']}"
                " updated); fix the input and run the same command again: documents already stored are skipped"
                " as unchanged"
            ) from exc
        collection.refresh()  # build and save the index now, not on the first search
        count = collection.count()
    from_cache = f" ({cache_hits} embeddings from the embedding cache)" if cache_hits else ""
    typer.echo(
        f"{path}: {totals['added']} added, {totals['updated']} updated, {totals['unchanged']} unchanged{from_cache}; {count} documents",
        err=True,
    )


@collection_app.command("search")
def search(
    path: Path = PathArgument,
    query: str = typer.Argument(..., help="Query text."),
    k: int = typer.Option(10, "-k", "--k", help="Number of hits (1..10,000)."),
    filter: str = typer.Option(
        None, "--filter", help='Metadata filter as JSON, e.g. \'{"lang": "en", "year": {"$gte": 2020}}\'.'
    ),
    mode: str = typer.Option("dense", help="dense, keyword (BM25) or hybrid (reciprocal rank fusion)."),
    exact: bool = typer.Option(False, "--exact", help="Exact search even on an HNSW/IVF index."),
    ef_search: int = typer.Option(None, "--ef-search", help="HNSW efSearch (recall vs speed)."),
    min_relevance: float = typer.Option(
        None,
        "--min-relevance",
        help="Only hits whose calibrated relevance (0..1) reaches this; needs `simvec collection calibrate` first.",
    ),
    explain: bool = typer.Option(
        False, "--explain", help="Also show the search plan (strategy, documents matched and scored, milliseconds)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Search a collection."""
    parsed = None
    if filter is not None:
        try:
            parsed = json.loads(filter)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(
                f"not valid JSON ({exc.msg} at column {exc.colno}): {filter}", param_hint="--filter"
            ) from None
    with _open(path) as collection:
        found = collection.search(
            query,
            k,
            filter=parsed,
            mode=mode,
            exact=exact,
            ef_search=ef_search,
            min_relevance=min_relevance,
            explain=explain,
        )
    hits, plan = found if explain else (found, None)
    calibrated = min_relevance is not None
    if as_json:
        relevance = (lambda h: {"relevance": round(h.relevance, 6)}) if calibrated else (lambda h: {})
        rows = [
            {
                "id": h.id,
                "score": round(h.score, 6),
                **relevance(h),
                **({"highlight": list(h.highlight)} if h.highlight else {}),
                "text": h.text,
                "metadata": h.metadata,
            }
            for h in hits
        ]
        print_json({"hits": rows, "plan": plan} if explain else rows)
        return
    if explain:
        typer.echo(json.dumps(plan, indent=2), err=True)
    if calibrated and not hits:
        typer.echo(f"no hit reaches min_relevance {min_relevance:g}", err=True)
        return
    table = Table(title=f"{mode} search: {query[:60]}")
    columns = ("#", "id", "score", *(("relevance",) if calibrated else ()), "text", "metadata")
    for column in columns:
        table.add_column(column, justify="right" if column in ("#", "score", "relevance") else "left", overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(
            str(rank),
            hit.id,
            f"{hit.score:.4f}",
            *((f"{hit.relevance:.4f}",) if calibrated else ()),
            (hit.text or "")[:80],
            json.dumps(hit.metadata, ensure_ascii=False)[:60],
        )
    Console().print(table)


@collection_app.command("delete")
def delete(path: Path = PathArgument, ids: list[str] = typer.Argument(..., help="Document ids.")) -> None:
    """Delete documents by id."""
    with _open(path) as collection:
        deleted = collection.delete(ids)
    typer.echo(f"{path}: deleted {deleted} of {len(ids)} ids", err=True)


@collection_app.command("info")
def info(path: Path = PathArgument, as_json: bool = JsonOption) -> None:
    """Count, dimension, model, index kind, bytes on disk (per document and per file)."""
    with _open(path) as collection:
        if collection.provenance is not None:
            collection.encoder  # noqa: B018  loaded so `backend_in_use` says what this machine embeds with
        print_details(collection.info(), as_json)


@collection_app.command("compress")
def compress(
    path: Path = PathArgument,
    spec: str = typer.Argument(
        ...,
        help='Compression: none, float16, int8, binary, binary-itq, pq48, opq32, t256-binary, or JSON {"codec": ...}.',
    ),
    rescore: str = typer.Option(
        None, "--rescore", help="Second stage from disk: int8, float32 or none (default: int8 for binary/pq)."
    ),
    multiplier: int = typer.Option(
        None, "--rescore-multiplier", help="First-stage candidates per requested hit (default 10)."
    ),
) -> None:
    """Change a collection's compression; rebuilds the derived files from the stored vectors (no re-embedding)."""
    parsed = None if spec == "none" else json.loads(spec) if spec.lstrip().startswith("{") else spec
    with _open(path) as collection:
        collection.set_compression(parsed, rescore=rescore, rescore_multiplier=multiplier)
        details = collection.info()
    typer.echo(
        f"{path}: compression {details['compression']}, {details['ram_bytes_per_vector']} bytes/vector in RAM, "
        f"{details['rescore_bytes_per_vector']} bytes/vector memory-mapped for rescoring",
        err=True,
    )


@collection_app.command("export")
def export(
    path: Path = PathArgument,
    output: Path = typer.Argument(..., help="Output file: .jsonl or .parquet (columns id, text, metadata as JSON)."),
    vectors: bool = typer.Option(False, "--vectors", help="Include the stored vectors."),
) -> None:
    """Write every document (id, text, metadata, optionally vector) to OUTPUT."""
    suffix = output.suffix.lower()
    if suffix not in (".jsonl", ".parquet"):
        raise typer.BadParameter(
            f"unknown output extension {suffix or '(none)'!r}; use .jsonl or .parquet", param_hint="OUTPUT"
        )
    with _open(path) as collection:
        rows = []
        for doc_id, text, metadata in collection:
            row = {"id": doc_id, "text": text, "metadata": metadata}
            if vectors:
                row["vector"] = collection.get(doc_id, include_vectors=True).vector.tolist()
            rows.append(row)
    if suffix == ".jsonl":
        atomic_write_text(output, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        for row in rows:
            row["metadata"] = json.dumps(row["metadata"], ensure_ascii=False)
        columns = ["id", "text", "metadata"] + (["vector"] if vectors else [])
        table = pa.table({c: [row[c] for row in rows] for c in columns})
        atomic_write(output, lambda handle: pq.write_table(table, handle))
    typer.echo(f"wrote {len(rows)} documents to {output}", err=True)


@collection_app.command("reembed")
def reembed(
    path: Path = PathArgument,
    model: str = typer.Option(..., "--model", "-m", help="Model directory to re-embed with (e.g. a fine-tuned one)."),
    batch_size: int = typer.Option(1000, "--batch-size", help="Documents per transaction (a killed run resumes)."),
) -> None:
    """Re-embed every stored text with another model; built beside PATH and swapped in when complete."""
    from tqdm.auto import tqdm

    from simvec.store.adapter import reembed as run_reembed

    with tqdm(unit="doc", desc="Re-embedding", disable=not sys.stderr.isatty()) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = run_reembed(path, model, batch_size=batch_size, on_progress=progress)
    typer.echo(
        f"{path}: {result['documents']} documents re-embedded with {result['model']} "
        f"(was {result['previous_model']}); the query adapter, if any, was dropped",
        err=True,
    )
