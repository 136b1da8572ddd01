"""`simvec cluster` (topics of a file of texts, with a summary table and a map) and `simvec eval clustering`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from simvec.atomic import atomic_write_text
from simvec.cli.app import BackendOption, JsonOption, ModelOption, app, eval_app, print_json
from simvec.errors import InputFileError
from simvec.sources import ERROR_MODES, read_records
from simvec.tasks.cluster import METHODS


@app.command("cluster")
def cluster_command(
    input: Path = typer.Argument(..., help="Input file: .txt (a text per line), .jsonl, .csv or .parquet."),
    output: Path = typer.Option(None, "--output", "-o", help="Write one JSON line per text: id, cluster, text."),
    k: int = typer.Option(None, "--k", "-k", help="Number of clusters (default: chosen by silhouette, or HDBSCAN)."),
    method: str = typer.Option("kmeans", help=f"One of {', '.join(METHODS)}."),
    min_cluster_size: int = typer.Option(None, "--min-cluster-size", help="HDBSCAN: smallest cluster (texts)."),
    plot: Path = typer.Option(None, "--plot", help="Draw a 2-D map coloured by cluster to this .png/.svg/.pdf."),
    projection: str = typer.Option("pca", help="Map projection: pca, or umap (if umap-learn is installed)."),
    field: str = typer.Option("text", "--field", "--column", help="JSON field / CSV or parquet column of the text."),
    id_field: str = typer.Option(None, "--id-field", help="Field holding an id (default: the line or row number)."),
    keywords: int = typer.Option(8, "--keywords", help="c-TF-IDF keywords per cluster."),
    examples: int = typer.Option(3, "--examples", help="Most central example texts per cluster."),
    seed: int = typer.Option(0, help="Seed for k-means, sampling and the map."),
    top: int = typer.Option(30, help="Rows of the summary table (largest clusters first)."),
    model: str = ModelOption,
    backend: str = BackendOption,
    errors: str = typer.Option("strict", help=f"Invalid UTF-8: {' or '.join(ERROR_MODES)}."),
    as_json: bool = JsonOption,
) -> None:
    """Cluster the texts of INPUT into topics; print each cluster's size, keywords and example texts."""
    from simvec.encoders import Encoder
    from simvec.tasks.cluster import cluster
    from simvec.tasks.cluster_plot import plot_clusters, resolve_projection

    if output is not None and output.suffix.lower() != ".jsonl":
        raise InputFileError(str(output), "the output must be a .jsonl file (one line per text)")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputFileError(str(plot), "the plot must be a .png, .svg or .pdf file")
    resolve_projection(projection)
    records = list(read_records(input, text_field=field, id_field=id_field, errors=errors))
    texts = [r.text for r in records]
    encoder = Encoder(model, backend=backend, cache=True)
    vectors = encoder.encode(texts) if texts else None
    result = cluster(
        vectors if vectors is not None else [],
        k,
        method,
        texts=texts if vectors is not None else None,
        encoder=encoder,
        min_cluster_size=min_cluster_size,
        n_keywords=keywords,
        n_examples=examples,
        seed=seed,
    )
    if output is not None:
        lines = []
        for record, label in zip(records, result.labels.tolist(), strict=True):
            row = {"id": record.id if record.id is not None else str(record.line), "cluster": label}
            lines.append(json.dumps({**row, "text": record.text}, ensure_ascii=False) + "\n")
        atomic_write_text(output, "".join(lines))
    if plot is not None:
        plot_clusters(vectors, result, plot, projection=projection, seed=seed)
    if as_json:
        summary = result.as_dict()
        summary.pop("labels")
        print_json({"texts": len(texts), **summary})
    else:
        _print_summary(result, len(texts), top)
    written = [str(p) for p in (output, plot) if p is not None]
    if written:
        typer.echo(f"wrote {' and '.join(written)}", err=True)


def _print_summary(result: object, n: int, top: int) -> None:
    chosen = f", k chosen by silhouette from {len(result.k_scores)} candidates" if result.k_scores else ""
    noise = f", {result.noise} texts in no cluster (-1)" if result.noise else ""
    table = Table(title=f"{n} texts → {result.k} clusters ({result.method}{chosen}{noise})")
    table.add_column("cluster", justify="right")
    table.add_column("size", justify="right")
    table.add_column("keywords")
    table.add_column("examples (most central first)")
    for c in result.clusters[:top]:
        table.add_row(str(c.id), str(c.size), ", ".join(c.keywords[:6]), "\n".join(t[:90] for t in c.example_texts[:2]))
    if result.k > top:
        table.caption = f"the {top} largest of {result.k} clusters; --top N shows more"
    Console(width=160).print(table)


@eval_app.command("clustering")
def eval_clustering(
    data: Path = typer.Option(..., "--data", help="A CSV with text and label columns, or a folder of {split}.csv."),
    split: str = typer.Option("test", help="Which {split}.csv to read from a folder."),
    text_column: str = typer.Option("text", "--text-column"),
    label_column: str = typer.Option(None, "--label-column", help="Default: 'label', else 'category'."),
    seeds: int = typer.Option(5, help="Seeds 0..N-1; mean and std over them."),
    model: str = ModelOption,
    as_json: bool = JsonOption,
) -> None:
    """V-measure x100 of MTEB's legacy k-means (k = gold labels) and of simvec's cluster() defaults."""
    from simvec.encoders import Encoder
    from simvec.eval.clustering import evaluate_clustering, read_labelled_csv

    if seeds < 1:
        raise typer.BadParameter("give at least one seed", param_hint="--seeds")
    labelled = read_labelled_csv(data, split, text_column=text_column, label_column=label_column)
    encoder = Encoder(model, cache=True)
    result = evaluate_clustering(encoder, labelled, seeds=range(seeds))
    if as_json:
        print_json({"model": encoder.model_id, **result.as_dict()})
        return
    table = Table(
        title=f"Clustering — {encoder.model_id} — {result.dataset} ({result.texts} texts, {result.labels} labels)"
    )
    for column in ("protocol", "k", "V-measure x100", "std", "seeds"):
        table.add_column(column, justify="left" if column == "protocol" else "right")
    for name, score in (
        ("MTEB legacy MiniBatchKMeans", result.mteb_legacy),
        ("simvec cluster() defaults", result.simvec_default),
    ):
        ks = sorted(set(score.k))
        table.add_row(name, "/".join(map(str, ks)), f"{score.mean:.2f}", f"{score.std:.2f}", str(len(score.per_seed)))
    Console().print(table)
