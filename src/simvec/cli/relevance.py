"""`simvec collection calibrate` and `simvec eval relevance` (a calibrated `min_relevance` filter vs the best fixed
cosine cutoff)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from simvec.cli.app import JsonOption, ModelOption, eval_app, print_json
from simvec.cli.collection import collection_app


def _feature_list(text: str | None) -> list[str] | None:
    return None if text is None else [name.strip() for name in text.split(",") if name.strip()]


@eval_app.command("relevance")
def eval_relevance(
    data: Path = typer.Option(..., "--data", help="BEIR folder to evaluate on (corpus.jsonl, queries.jsonl, qrels/)."),
    calibrate_on: Path = typer.Option(
        None,
        "--calibrate-on",
        help="BEIR folder to calibrate on; default: a seeded half of --data's queries (evaluated on the other half).",
    ),
    model: str = ModelOption,
    method: str = typer.Option("logistic", help="Labelled calibration: logistic (score + query features) or isotonic."),
    features: str = typer.Option(
        "score,noise_z", "--features", help="Logistic features, comma-separated: score, noise_z, top_gap."
    ),
    min_relevance: float = typer.Option(0.5, "--min-relevance", help="Relevance threshold of the calibrated filter."),
    split: str = typer.Option("test", help="qrels split of both datasets."),
    seed: int = typer.Option(0, help="Seed of the query split and of the noise sample."),
    cache_dir: Path = typer.Option(
        None, "--cache-dir", help="Where embedded corpus collections are kept (default ~/.cache/simvec)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Mean per-query precision, recall and F1 of the hits returned at --min-relevance vs the best fixed cutoff."""
    from simvec.eval.relevance import evaluate_relevance

    result = evaluate_relevance(
        data,
        calibrate_on=calibrate_on,
        model=model,
        method=method,
        features=_feature_list(features),
        min_relevance=min_relevance,
        split=split,
        seed=seed,
        cache_dir=cache_dir,
    )
    if as_json:
        print_json(result.as_dict())
        return
    table = Table(
        title=f"Relevance filter — {result.dataset} ({result.queries} queries), calibrated on {result.calibrated_on}"
    )
    for column in ("filter", "precision", "recall", "F1", "mean returned"):
        table.add_column(column, justify="left" if column == "filter" else "right", no_wrap=True)
    rows = (
        (f"min_relevance={result.min_relevance:g} ({result.method})", result.calibrated, "calibrated"),
        (f"fixed cosine >= {result.fixed_cutoff['cutoff']:.4f}", result.fixed_cutoff, "fixed_cutoff"),
        (f"min_relevance={result.tuned['min_relevance']:.3f} (best F1 on calibration)", result.tuned, "tuned"),
        (f"min_relevance={result.min_relevance:g} (noise, no labels)", result.noise, "noise"),
    )
    for name, metrics, key in rows:
        table.add_row(
            name,
            f"{metrics['precision']:.4f}",
            f"{metrics['recall']:.4f}",
            f"{metrics['f1']:.4f}",
            f"{result.returned[key]:.2f}",
        )
    Console().print(table)
    typer.echo(
        f"mean relevant per query: {result.returned['relevant']:.2f}; calibration error (ECE) of the "
        f"calibrated relevance on the evaluated hits: {result.calibration_error:.4f}. Unjudged documents count as "
        "not relevant."
    )


@collection_app.command("calibrate")
def calibrate_command(
    path: Path = typer.Argument(..., help="Collection directory."),
    queries: Path = typer.Option(
        None, "--queries", help="Judged queries: .jsonl with _id/text (BEIR queries.jsonl) or .txt (id = line number)."
    ),
    qrels: Path = typer.Option(None, "--qrels", help="Judgements for --queries: BEIR qrels .tsv (grade > 0 relevant)."),
    method: str = typer.Option(
        None, "--method", help="noise (default without labels), logistic (default with labels) or isotonic."
    ),
    features: str = typer.Option(
        None, "--features", help="Logistic features, comma-separated: score, noise_z (default), top_gap."
    ),
    seed: int = typer.Option(0, help="Seed of the noise pseudo-query sample."),
    load: Path = typer.Option(None, "--from", help="Install a calibration JSON file instead of fitting one."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the calibration to this JSON file."),
    clear: bool = typer.Option(False, "--clear", help="Remove the collection's calibration."),
    as_json: bool = JsonOption,
) -> None:
    """Learn what the collection's scores mean, so `search --min-relevance P` can keep only relevant hits."""
    from simvec.eval.readers import read_qrels, read_queries
    from simvec.store import Collection
    from simvec.store.calibration import read_file, write_file

    if (queries is None) != (qrels is None):
        raise typer.BadParameter("--queries and --qrels go together (or neither, to calibrate without labels)")
    if sum((queries is not None, load is not None, clear)) > 1:
        raise typer.BadParameter("choose one of --queries/--qrels, --from and --clear")
    with Collection.open(path) as collection:
        if clear:
            collection.set_calibration(None)
            typer.echo(f"{path}: calibration removed", err=True)
            return
        if load is not None:
            collection.set_calibration(read_file(load))
        else:
            judged = (dict(zip(*read_queries(queries), strict=True)), read_qrels(qrels)) if queries else (None, None)
            collection.calibrate(*judged, method=method, features=_feature_list(features), seed=seed)
        calibration = collection.calibration
    if output is not None:
        write_file(calibration, output)
    summary = calibration.summary()
    if as_json:
        print_json(summary)
        return
    fitted = (
        f"{summary['queries']} judged queries, {summary['pairs']} hits ({summary['relevant_pairs']} relevant)"
        if "queries" in summary
        else f"{summary['noise_pairs']:,} chance (pseudo-query, document) pairs"
    )
    typer.echo(
        f"{path}: calibrated ({summary['method']}) on {fitted}; model {summary['model']}, compression "
        f"{summary['compression']}. Search with --min-relevance P (0..1)."
    )
