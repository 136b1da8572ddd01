"""`simvec adapt adapter|finetune`: adapt search to your domain, with before/after metrics on held-apart queries.

Also renders `simvec eval retrieval --adapt-on ...` (see `run_eval_adaptation`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from simvec.cli.app import JsonOption, app, print_json

adapt_app = typer.Typer(
    help="Adapt to your domain: a query-side adapter over stored vectors, or a fine-tuned model.", no_args_is_help=True
)
app.add_typer(adapt_app, name="adapt")

QueriesOption = typer.Option(..., "--queries", help="Queries: BEIR queries.jsonl (_id, text).")
QrelsOption = typer.Option(..., "--qrels", help="Judgements: BEIR qrels .tsv (query-id, corpus-id, score) or TREC.")
HoldoutOption = typer.Option(0.2, "--holdout", help="Share of the judged queries held apart for before/after metrics.")
StrictOption = typer.Option(
    False, "--strict", help="Stop at the first qrels line naming an unknown query or document (default: skip it)."
)
METRICS = ("ndcg@10", "mrr@10", "recall@100", "map@100")


def _report_skipped(skipped: list[str]) -> None:
    if skipped:
        shown = "\n  ".join(skipped[:5])
        more = f"\n  ... and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        typer.echo(f"skipped {len(skipped)} qrels line(s):\n  {shown}{more}", err=True)


def _before_after(title: str, before: dict | None, after: dict | None) -> None:
    table = Table(title=title)
    for column in ("", *METRICS):
        table.add_column(column, justify="left" if not column else "right")
    for name, metrics in (("before", before), ("after", after)):
        if metrics is not None:
            table.add_row(name, *(f"{metrics[m]:.4f}" for m in METRICS))
    if before and after:
        table.add_row("gain", *(f"{after[m] - before[m]:+.4f}" for m in METRICS))
    Console(stderr=False).print(table)


@adapt_app.command("adapter")
def adapter(
    path: Path = typer.Argument(..., help="Collection directory."),
    queries: Path = QueriesOption,
    qrels: Path = QrelsOption,
    holdout: float = HoldoutOption,
    kind: str = typer.Option("lowrank", help="lowrank (identity + rank-r), linear (identity + d x d) or mlp."),
    rank: int = typer.Option(32, help="Rank of the lowrank change, or hidden width of the mlp."),
    seed: int = typer.Option(0, help="Seed of the holdout split and of training."),
    keep: bool = typer.Option(
        True, "--keep/--no-keep", help="Store the adapter with the collection (searches use it)."
    ),
    strict: bool = StrictOption,
    as_json: bool = JsonOption,
) -> None:
    """Train a query-side adapter on judged queries; documents keep their stored vectors (nothing re-embedded)."""
    from simvec.eval.adapt import held_apart_metrics, read_judgements, read_queries, split_queries
    from simvec.store import Collection
    from simvec.tasks.adapt import AdapterConfig

    texts = read_queries(queries)
    with Collection.open(path) as collection:
        judgements = read_judgements(qrels, queries=texts, documents=collection, strict=strict)
        _report_skipped(judgements.skipped)
        judged = sorted(judgements.qrels)
        train_ids, held_ids = split_queries(judged, holdout, seed) if holdout > 0 else (judged, [])
        train_qrels = {q: judgements.qrels[q] for q in train_ids}
        held_qrels = {q: judgements.qrels[q] for q in held_ids}
        before = held_apart_metrics(collection, texts, held_qrels, None) if held_ids else None
        trained = collection.train_adapter(
            texts, train_qrels, config=AdapterConfig(kind=kind, rank=rank, seed=seed), keep=keep
        )
        after = held_apart_metrics(collection, texts, held_qrels, trained.adapter) if held_ids else None
    payload = {
        "collection": str(path),
        "held_apart_queries": len(held_ids),
        "before": before,
        "after": after,
        "stored_version": trained.version,
        "fit": trained.as_dict(),
        "skipped_lines": judgements.skipped,
    }
    if as_json:
        print_json(payload)
        return
    fit = trained.fit
    typer.echo(
        f"trained a {kind} adapter on {fit.train_pairs} pairs ({fit.train_queries} queries) in {fit.seconds:.1f} s, "
        f"best epoch {fit.best_epoch} of {fit.epochs_run}"
        + (f"; stored as version {trained.version}" if trained.version else "; not stored (--no-keep)"),
        err=True,
    )
    if held_ids:
        _before_after(f"{len(held_ids)} held-apart queries (never trained on)", before, after)


@adapt_app.command("finetune")
def finetune(
    queries: Path = QueriesOption,
    qrels: Path = QrelsOption,
    corpus: Path = typer.Option(..., "--corpus", help="Documents: BEIR corpus.jsonl (_id, title, text)."),
    output: Path = typer.Option(..., "--output", "-o", help="New sentence-transformers model directory."),
    base_model: str = typer.Option(None, "--model", "-m", help="Model to start from (default: bundled model)."),
    holdout: float = typer.Option(
        0.2,
        "--holdout",
        help="Share of judged queries held apart for before/after metrics (0: none, no corpus embedding).",
    ),
    epochs: float = typer.Option(1.0, help="Passes over the training pairs."),
    batch_size: int = typer.Option(32, "--batch-size", help="Pairs per step (in-batch negatives)."),
    learning_rate: float = typer.Option(5e-5, "--learning-rate"),
    matryoshka: str = typer.Option(
        "384,256,128,64", "--matryoshka-dims", help="MatryoshkaLoss dimensions, or 'none' for plain MNRL."
    ),
    train_max_length: int = typer.Option(
        None, "--train-max-length", help="Truncate texts to this many tokens while training (faster steps)."
    ),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop after this many steps."),
    seed: int = typer.Option(0),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace OUTPUT if it exists (only once training is done)."
    ),
    strict: bool = StrictOption,
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Where the held-apart evaluation collections are kept."),
    as_json: bool = JsonOption,
) -> None:
    """Fine-tune the model on (query, relevant document) pairs (MultipleNegativesRankingLoss in MatryoshkaLoss)."""
    from simvec.eval.adapt import finetune_holdout, read_corpus, read_judgements, read_queries, split_queries
    from simvec.tasks.finetune import finetune as run_finetune

    texts, documents = read_queries(queries), read_corpus(corpus)
    judgements = read_judgements(qrels, queries=texts, documents=documents, strict=strict)
    _report_skipped(judgements.skipped)
    judged = sorted(judgements.qrels)
    train_ids, held_ids = split_queries(judged, holdout, seed) if holdout > 0 else (judged, [])
    pairs = [(texts[q], documents[d]) for q in train_ids for d, grade in judgements.qrels[q].items() if grade > 0]
    dims = None if matryoshka.strip().lower() == "none" else [int(d) for d in matryoshka.split(",") if d.strip()]
    typer.echo(f"fine-tuning on {len(pairs)} pairs from {len(train_ids)} queries ...", err=True)
    result = run_finetune(
        pairs,
        output,
        base_model=base_model,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        matryoshka_dims=dims,
        max_steps=max_steps,
        max_seq_length=train_max_length,
        seed=seed,
        overwrite=overwrite,
        train_query_ids=train_ids,
        show_progress=sys.stderr.isatty(),
    )
    before = after = None
    if held_ids:
        held = {q: judgements.qrels[q] for q in held_ids}
        before, after = finetune_holdout(documents, texts, held, base_model, output, cache_dir=cache_dir)
    summary = {k: v for k, v in result.as_dict().items() if k != "train_query_ids"}
    payload = {"model": summary, "held_apart_queries": len(held_ids), "before": before, "after": after}
    if as_json:
        print_json(payload)
        return
    typer.echo(
        f"wrote {output}: {result.steps} steps over {result.pairs} pairs in {result.seconds:.0f} s "
        f"(final loss {result.final_loss}); load it with Encoder(model={str(output)!r})",
        err=True,
    )
    if held_ids:
        _before_after(f"{len(held_ids)} held-apart queries (never trained on)", before, after)


def run_eval_adaptation(
    data: Path,
    *,
    adapt_on: str,
    finetuned: Path | None,
    model: str | None,
    truncate_dim: int | None,
    seed: int,
    cache_dir: Path | None,
    as_json: bool,
) -> None:
    """`simvec eval retrieval --adapt-on ...`: base vs adapted metrics on the test queries only."""
    from simvec.eval.adapt import evaluate_adaptation

    result = evaluate_adaptation(
        data,
        method="finetuned" if finetuned else "adapter",
        finetuned=finetuned,
        adapt_on=adapt_on,
        model=model,
        truncate_dim=truncate_dim,
        seed=seed,
        cache_dir=cache_dir,
    )
    if as_json:
        print_json(result.as_dict())
        return
    typer.echo(f"protocol {result.protocol}: {result.protocol_description}", err=True)
    dims = f", {result.truncate_dim} dims" if result.truncate_dim else ""
    _before_after(
        f"{result.dataset}: base vs {result.method}{dims} on {result.test_queries} test queries",
        result.base,
        result.adapted,
    )
