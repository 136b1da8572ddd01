"""`simvec eval ...`: standard benchmarks, with confidence intervals."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from simvec.cli.app import JsonOption, ModelOption, eval_app, print_json


@eval_app.command("sts")
def eval_sts(
    data: Path = typer.Option(..., "--data", help="STS-B folder (sts-test.csv ...) or SemEval STS12-16 folder(s)."),
    split: str = typer.Option("test", help="STS-B split: train, dev or test."),
    model: str = ModelOption,
    resamples: int = typer.Option(1000, help="Bootstrap resamples for the 95% interval."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
    as_json: bool = JsonOption,
) -> None:
    """Spearman and Pearson (x100) of cosine similarity vs gold scores, MTEB protocol."""
    from simvec.encoders import Encoder
    from simvec.eval.sts import evaluate_sts, read_sts_dir

    datasets = read_sts_dir(data, split)
    encoder = Encoder(model)
    results = [evaluate_sts(encoder, pairs, n_resamples=resamples, seed=seed) for pairs in datasets]
    if as_json:
        print_json({"model": encoder.model_id, "results": [r.as_dict() for r in results]})
        return
    table = Table(title=f"STS — {encoder.model_id}")
    for column in ("dataset", "pairs", "Spearman x100", "95% CI", "Pearson x100", "95% CI"):
        table.add_column(column, justify="left" if column == "dataset" else "right", no_wrap=True)
    for r in results:
        table.add_row(
            r.dataset,
            str(r.pairs),
            f"{r.spearman:.2f}",
            f"{r.spearman_ci[0]:.2f}–{r.spearman_ci[1]:.2f}",
            f"{r.pearson:.2f}",
            f"{r.pearson_ci[0]:.2f}–{r.pearson_ci[1]:.2f}",
        )
    if len(results) > 1:
        table.add_row(
            "average",
            str(sum(r.pairs for r in results)),
            f"{sum(r.spearman for r in results) / len(results):.2f}",
            "",
            f"{sum(r.pearson for r in results) / len(results):.2f}",
            "",
        )
    Console().print(table)
