"""`simvec eval sts` and `simvec eval retrieval`: standard benchmarks, scored as MTEB and BEIR score them."""

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


@eval_app.command("retrieval")
def eval_retrieval(
    data: Path = typer.Option(..., "--data", help="BEIR dataset folder: corpus.jsonl, queries.jsonl, qrels/test.tsv."),
    mode: str = typer.Option(
        "dense", help="dense (exact search), keyword (BM25), hybrid, all (those three), or multivector."
    ),
    multivector: str = typer.Option(
        "tokens", "--multivector", help="With --mode multivector: tokens or chunks (MUVERA FDE -> MaxSim rerank)."
    ),
    split: str = typer.Option("test", help="qrels split."),
    model: str = ModelOption,
    cache_dir: Path = typer.Option(
        None, "--cache-dir", help="Where the corpus collection (its embeddings) is kept (default ~/.cache/simvec)."
    ),
    adapt_on: str = typer.Option(
        None, "--adapt-on", help="train (qrels/train.tsv, else a seeded random half) or half: base vs adapted on test."
    ),
    adapter: bool = typer.Option(False, "--adapter", help="With --adapt-on: train a query adapter (the default)."),
    finetuned: Path = typer.Option(None, "--finetuned", help="With --adapt-on: evaluate this fine-tuned model."),
    truncate_dim: int = typer.Option(None, "--truncate-dim", help="With --adapt-on: Matryoshka-truncate vectors."),
    seed: int = typer.Option(0, help="With --adapt-on: seed of the half/half split and of training."),
    backend: str = typer.Option(
        "native", "--backend", help="native, or milvus (a Milvus copy of the cached corpus vectors, FLAT index)."
    ),
    uri: str = typer.Option(
        None, "--uri", help="--backend milvus: a Milvus server (default: Milvus Lite in the cache)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """nDCG@10, MRR@10, Recall@100 and MAP@100 (pytrec_eval); dense mode adds HNSW recall@10 vs exact."""
    from simvec.eval.retrieval import EVAL_MODES, MODES, evaluate_retrieval

    if adapt_on is not None or adapter or finetuned is not None:  # domain adaptation: simvec.cli.adapt
        from simvec.cli.adapt import run_eval_adaptation

        if adapter and finetuned is not None:
            raise typer.BadParameter("choose --adapter or --finetuned DIR, not both", param_hint="--adapter")
        run_eval_adaptation(
            data,
            adapt_on=adapt_on or "train",
            finetuned=finetuned,
            model=model,
            truncate_dim=truncate_dim,
            seed=seed,
            cache_dir=cache_dir,
            as_json=as_json,
        )
        return

    if mode != "all" and mode not in EVAL_MODES:
        raise typer.BadParameter(f"unknown mode {mode!r}; valid: {', '.join(EVAL_MODES)}, all", param_hint="--mode")
    modes = MODES if mode == "all" else (mode,)
    results = evaluate_retrieval(
        data,
        modes=modes,
        model=model,
        split=split,
        cache_dir=cache_dir,
        multivector=multivector,
        backend=backend,
        uri=uri,
    )
    if as_json:
        print_json({"results": [r.as_dict() for r in results]})
        return
    table = Table(
        title=f"Retrieval — {results[0].dataset} ({results[0].queries} queries, {results[0].documents} documents)"
    )
    for column in ("mode", "nDCG@10", "MRR@10", "Recall@100", "MAP@100", "HNSW / FDE recall@10"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for r in results:
        m = r.metrics
        hnsw = f"{r.hnsw_recall_at_10:.4f}" if r.hnsw_recall_at_10 is not None else ""
        if r.multivector is not None:
            hnsw = f"{r.multivector['fde_recall@10']:.4f} ({r.multivector['candidates']} candidates)"
        table.add_row(
            f"{r.mode} ({r.multivector['kind']})" if r.multivector else r.mode,
            f"{m['ndcg@10']:.4f}",
            f"{m['mrr@10']:.4f}",
            f"{m['recall@100']:.4f}",
            f"{m['map@100']:.4f}",
            hnsw,
        )
    Console().print(table)
