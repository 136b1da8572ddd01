"""`simvec bench compression` (codec trade-offs on a BEIR dataset) and `simvec tune` (pick a compression for a RAM budget)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from simvec.cli.app import JsonOption, ModelOption, app, print_json

if TYPE_CHECKING:
    from simvec.eval.compression import Measurement

bench_app = typer.Typer(help="Benchmarks measured in one run against their anchors.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _table(title: str, measured: list[Measurement], chosen: str | None = None) -> Table:
    table = Table(title=title)
    for column in ("config", "RAM B/vec", "disk B/vec", "nDCG@10", "retention", "recall@10", "QPS", "anchor"):
        table.add_column(
            column, justify="left" if column in ("config", "anchor") else "right", no_wrap=column != "anchor"
        )
    for m in measured:
        mark = " *" if m.config == chosen else ""
        table.add_row(
            m.config + mark,
            str(m.ram_bytes_per_vector),
            str(m.disk_bytes_per_vector),
            f"{m.ndcg_at_10:.4f}" if m.ndcg_at_10 is not None else "",
            f"{100 * m.retention:.2f}%",
            f"{m.recall_at_10:.3f}",
            f"{m.qps:,.0f}",
            m.anchor or "",
        )
    return table


@bench_app.command("compression")
def bench_compression(
    data: Path = typer.Option(..., "--data", help="BEIR dataset folder: corpus.jsonl, queries.jsonl, qrels/test.tsv."),
    model: str = ModelOption,
    split: str = typer.Option("test", help="qrels split."),
    cache_dir: Path = typer.Option(
        None, "--cache-dir", help="Where the embedded corpus collection is kept (default ~/.cache/simvec)."
    ),
    as_json: bool = JsonOption,
    plot: Path = typer.Option(
        None, "--plot", help="Write a PNG of retention vs RAM bytes/vector with the Pareto front."
    ),
) -> None:
    """nDCG@10, retention and recall@10 vs float32 exact, RAM/disk bytes per vector and QPS for every codec setting."""
    from simvec.encoders import Encoder
    from simvec.eval.compression import beir_workbench, pareto_front, run_benchmark
    from simvec.eval.compression import plot as draw

    encoder = Encoder(model)
    bench, beir = beir_workbench(data, encoder, split=split, cache_dir=cache_dir)
    try:
        results = run_benchmark(bench, progress=lambda message: typer.echo(message, err=True))
    finally:
        bench.close()
    front = [r.config for r in pareto_front(results)]
    title = f"Compression — {beir.name} ({len(beir.queries)} queries, {len(beir.corpus)} documents, {encoder.model_id})"
    if plot:
        draw(results, plot, title)
        typer.echo(f"wrote {plot}", err=True)
    if as_json:
        print_json(
            {
                "dataset": beir.name,
                "model": encoder.model_id,
                "queries": len(beir.queries),
                "documents": len(beir.corpus),
                "results": [r.as_dict() for r in results],
                "pareto_front": front,
            }
        )
        return
    console = Console(width=200)
    console.print(_table(title, results))
    console.print(f"Pareto front (RAM vs retention): {', '.join(front)}")


@app.command("tune")
def tune_command(
    path: Path = typer.Argument(..., help="Collection directory."),
    ram_bytes_per_vector: int = typer.Option(..., "--ram-bytes-per-vector", help="RAM budget: code bytes per vector."),
    min_retention: float = typer.Option(..., "--min-retention", help="Target retention, e.g. 0.97 or 97."),
    queries: Path = typer.Option(
        None, "--queries", help="Queries (.jsonl with _id/text, or .txt); default: pseudo-queries from documents."
    ),
    qrels: Path = typer.Option(
        None, "--qrels", help="Relevance judgements (BEIR qrels .tsv) for --queries: retention of nDCG@10."
    ),
    pseudo: int = typer.Option(200, "--pseudo-queries", help="How many pseudo-queries to sample without --queries."),
    apply: bool = typer.Option(False, "--apply", help="Switch the collection to the chosen configuration."),
    as_json: bool = JsonOption,
) -> None:
    """Pick the cheapest compression meeting a retention target on the collection's own data (and apply it on request)."""
    from simvec.eval.compression import Workbench, pseudo_queries, save_tune_report, tune
    from simvec.eval.readers import read_qrels, read_queries
    from simvec.store import Collection

    target = min_retention / 100 if min_retention > 1 else min_retention
    if qrels and not queries:
        raise typer.BadParameter("--qrels needs --queries (the judged queries)", param_hint="--qrels")
    judged, query_ids, texts = None, [], []
    if queries:  # read (and reject) the query files before any work on the collection
        query_ids, texts = read_queries(queries)
        if qrels:
            judged = read_qrels(qrels)
            keep = [i for i, q in enumerate(query_ids) if q in judged]
            query_ids, texts = [query_ids[i] for i in keep], [texts[i] for i in keep]
            judged = {q: judged[q] for q in query_ids}
    with Collection.open(path) as collection:
        ids, vectors = collection.matrix()
        if not ids:
            raise typer.BadParameter(f"{path} has no documents to tune on", param_hint="PATH")
        if not queries:
            texts = pseudo_queries([text or "" for _, text, _ in collection], pseudo)
            query_ids = [str(i) for i in range(len(texts))]
        qvecs = collection.check_vectors(
            collection.encoder.encode_queries(texts, normalize=collection.metric == "cosine", show_progress=False),
            "queries",
        )
        bench = Workbench(
            ids,
            vectors,
            qvecs,
            metric="l2" if collection.metric == "euclidean" else "ip",
            query_ids=query_ids,
            qrels=judged,
        )
        try:
            result = tune(bench, ram_bytes_per_vector, target, progress=lambda message: typer.echo(message, err=True))
        finally:
            bench.close()
        if apply and result.chosen is not None:
            collection.set_compression(result.chosen.spec)
    report = {
        "metric": result.metric,
        "queries": len(texts),
        "measured": [m.as_dict() for m in result.measured],
        "chosen": result.chosen.config if result.chosen else None,
        "best": result.best.config if result.best else None,
        "reason": result.reason,
        "applied": bool(apply and result.chosen),
        "ram_budget": ram_bytes_per_vector,
        "min_retention": target,
    }
    save_tune_report(path, report)  # the web console charts retention vs RAM from it
    if as_json:
        print_json(report)
    else:
        Console(width=200).print(
            _table(
                f"Tuning {path}: {len(texts)} {'judged' if judged else 'pseudo-' if not queries else ''}queries, {result.metric}",
                result.measured,
                result.chosen.config if result.chosen else None,
            )
        )
        typer.echo(("chosen: " if result.chosen else "no configuration meets the target: ") + result.reason)
        if apply and result.chosen:
            typer.echo(f"applied {result.chosen.config} to {path}")
    if result.chosen is None:
        raise typer.Exit(1)
