"""`simvec eval relevance`: does a calibrated `min_relevance` filter beat the best fixed cosine cutoff?"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from simvec.cli.app import JsonOption, ModelOption, eval_app, print_json


@eval_app.command("relevance")
def eval_relevance(
    data: Path = typer.Option(..., "--data", help="BEIR folder to evaluate on (corpus.jsonl, queries.jsonl, qrels/)."),
    calibrate_on: Path = typer.Option(
        None,
        "--calibrate-on",
        help="BEIR folder to calibrate on; default: a seeded half of --data's queries (evaluated on the other half).",
    ),
    model: str = ModelOption,
    method: str = typer.Option("logistic", help="Labelled calibration: logistic (score + noise z) or isotonic."),
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
