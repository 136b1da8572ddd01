"""`simvec eval pairs`: pair classification (MTEB's PairClassification metrics) on a labelled TSV."""

from __future__ import annotations

from pathlib import Path

import typer

from simvec.cli.app import JsonOption, ModelOption, eval_app, print_json


@eval_app.command("pairs")
def eval_pairs(
    data: Path = typer.Option(..., "--data", help="TSV: text_a <TAB> text_b <TAB> label (1 = same meaning, 0 = not)."),
    model: str = ModelOption,
    as_json: bool = JsonOption,
) -> None:
    """Average precision of cosine, and the best-threshold accuracy and F1 (x100, MTEB's protocol)."""
    from simvec.encoders import Encoder
    from simvec.eval.pairs import evaluate_pairs, read_pairs_tsv

    pairs = read_pairs_tsv(data)
    encoder = Encoder(model, cache=True)
    result = evaluate_pairs(encoder, pairs)
    if as_json:
        print_json({"model": encoder.model_id, **result.as_dict()})
        return
    typer.echo(f"{result.dataset}: {result.pairs} pairs ({result.positives} positive), {encoder.model_id}")
    typer.echo(f"  AP (cosine)   {result.ap:6.2f}")
    typer.echo(f"  accuracy      {result.accuracy:6.2f}  at cosine >= {result.accuracy_threshold:.4f}")
    typer.echo(
        f"  F1            {result.f1:6.2f}  at cosine >= {result.f1_threshold:.4f}"
        f" (precision {result.precision:.2f}, recall {result.recall:.2f})"
    )
