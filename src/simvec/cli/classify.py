"""`simvec classify ...` (zero-shot or trained on the fly, fit, predict) and `simvec eval classification|zero-shot`.

`simvec classify INPUT ...` is the `run` subcommand: the group sends any first argument that is not a
subcommand name to `run`, so `classify INPUT`, `classify fit TRAIN` and `classify predict DIR INPUT` all work.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from simvec.atomic import atomic_write_text
from simvec.cli.app import BackendOption, JsonOption, ModelOption, app, eval_app, print_json
from simvec.errors import InputError, InputFileError
from simvec.sources import read_records


class _DefaultToRun(TyperGroup):
    """A group whose first argument, when it is not a subcommand (or --help), starts the `run` subcommand."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:  # noqa: ANN001 - click's Context
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


classify_app = typer.Typer(
    cls=_DefaultToRun,
    no_args_is_help=True,
    help="Classify texts: zero-shot with label names, or with a classifier trained on labelled examples.\n\n"
    "simvec classify INPUT --labels a,b,c | --labels-file labels.json [--train TRAIN --method logreg]\n\n"
    "simvec classify fit TRAIN -o DIR;  simvec classify predict DIR INPUT",
)
app.add_typer(classify_app, name="classify")

TextFieldOption = typer.Option(
    "text", "--text-field", "--field", "--column", help="Field / column holding the text (jsonl, csv, parquet)."
)
LabelColumnOption = typer.Option("label", "--label-column", help="Field / column holding the label.")
MethodOption = typer.Option("logreg", "--method", help="logreg, knn or centroid.")
OutputOption = typer.Option(
    None, "--output", "-o", help="Write results to .jsonl or .csv (default: a table in a terminal, else JSON lines)."
)
AbstainOption = typer.Option(
    None, "--abstain-below", help="Answer no label when the best is less than this probability ahead of the next."
)


def parse_labels(labels: str | None, labels_file: Path | None) -> list[str] | dict | None:
    """--labels a,b,c or --labels-file (a JSON list of names, or {label: description(s)})."""
    from simvec.eval.classification import read_label_names

    if labels is not None and labels_file is not None:
        raise InputError("give --labels or --labels-file, not both")
    if labels_file is not None:
        return read_label_names(labels_file)
    if labels is not None:
        return [name.strip() for name in labels.split(",")]
    return None


def read_labelled(path: Path, text_field: str, label_column: str) -> tuple[list[str], list[str]]:
    """Texts and labels of a training file (.csv, .jsonl or .parquet); errors name the file, column and line."""
    texts, labels = [], []
    for record in read_records(path, text_field=text_field, metadata_fields=[label_column]):
        label = record.metadata[label_column]
        if label is None or not str(label).strip():
            raise InputFileError(str(path), f"empty label in column {label_column!r}", record.line)
        texts.append(record.text)
        labels.append(str(label))
    if not texts:
        raise InputFileError(str(path), "no labelled examples")
    return texts, labels


def make_encoder(model: str | None, backend: str = "auto"):  # noqa: ANN201 - returns simvec.Encoder (lazy import)
    from simvec.encoders import Encoder

    return Encoder(model, backend=backend, cache=True)


def write_predictions(records: Sequence, predictions: Sequence, output: Path | None, as_json: bool) -> None:
    """Label, probability and runner-up per text: to a .jsonl/.csv file, a terminal table, or JSON lines."""
    rows = [
        {
            "id": r.id if r.id is not None else str(r.line),
            "text": r.text,
            "label": p.label,
            "probability": round(p.probability, 6),
            "runner_up": p.runner_up,
            "runner_up_probability": round(p.runner_up_probability, 6),
        }
        for r, p in zip(records, predictions, strict=True)
    ]
    if output is not None:
        suffix = output.suffix.lower()
        if suffix not in (".jsonl", ".csv"):
            raise InputFileError(str(output), f"unknown output extension {suffix or '(none)'!r}; use .jsonl or .csv")
        handle = io.StringIO(newline="")
        if suffix == ".csv":
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["id"])
            writer.writeheader()
            writer.writerows(rows)
        else:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        atomic_write_text(output, handle.getvalue())
        typer.echo(f"wrote {len(rows)} predictions to {output}", err=True)
        return
    if as_json or not sys.stdout.isatty():
        sys.stdout.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        return
    table = Table()
    for column in ("id", "text", "label", "p", "runner-up", "p"):
        table.add_column(column, justify="right" if column == "p" else "left", overflow="fold")
    for row in rows:
        table.add_row(
            row["id"],
            row["text"][:60],
            row["label"] if row["label"] is not None else "[dim](none)[/dim]",
            f"{row['probability']:.3f}",
            row["runner_up"],
            f"{row['runner_up_probability']:.3f}",
        )
    Console().print(table)


@classify_app.command("run")
def classify_run(
    input: Path = typer.Argument(..., help="Texts to classify: .txt (a text per line), .jsonl, .csv or .parquet."),
    labels: str = typer.Option(None, "--labels", help="Comma-separated label names (zero-shot)."),
    labels_file: Path = typer.Option(
        None, "--labels-file", help='JSON: ["name", ...] or {"name": "description" or ["description", ...]}.'
    ),
    train: Path = typer.Option(None, "--train", help="Labelled examples to train on (.csv, .jsonl, .parquet)."),
    label_column: str = LabelColumnOption,
    method: str = MethodOption,
    text_field: str = TextFieldOption,
    id_field: str = typer.Option(None, "--id-field", help="Field holding an id (default: the line number)."),
    template: list[str] = typer.Option(None, "--template", help='Zero-shot template(s) with {}, e.g. "about {}".'),
    abstain_below: float = AbstainOption,
    min_similarity: float = typer.Option(
        None, "--min-similarity", help="Zero-shot: no label when the best label's cosine is below this."
    ),
    output: Path = OutputOption,
    model: str = ModelOption,
    as_json: bool = JsonOption,
) -> None:
    """Classify every text of INPUT (the default subcommand: `simvec classify INPUT ...`)."""
    from simvec.tasks.classify import EmbeddingClassifier, ZeroShotClassifier

    label_spec = parse_labels(labels, labels_file)
    records = list(read_records(input, text_field=text_field, id_field=id_field))
    encoder = make_encoder(model)
    if train is not None:
        if min_similarity is not None:
            raise InputError("--min-similarity is for zero-shot classification (without --train)")
        texts, targets = read_labelled(train, text_field, label_column)
        classifier = EmbeddingClassifier(method, encoder=encoder, labels=label_spec, abstain_below=abstain_below)
        classifier.fit(texts, targets)
    elif label_spec is None:
        raise InputError("give --labels or --labels-file (zero-shot), or --train with labelled examples")
    else:
        classifier = ZeroShotClassifier(
            label_spec,
            encoder=encoder,
            template=template or "{}",
            abstain_below=abstain_below,
            min_similarity=min_similarity,
        )
    predictions = classifier.classify([r.text for r in records]) if records else []
    write_predictions(records, predictions, output, as_json)


@classify_app.command("fit")
def classify_fit(
    train: Path = typer.Argument(..., help="Labelled examples: .csv, .jsonl or .parquet."),
    output: Path = typer.Option(..., "--output", "-o", help="Directory to save the classifier to."),
    label_column: str = LabelColumnOption,
    text_field: str = TextFieldOption,
    method: str = MethodOption,
    labels: str = typer.Option(None, "--labels", help="Label-embedding prior for --method centroid (names)."),
    labels_file: Path = typer.Option(None, "--labels-file", help="Label-embedding prior for --method centroid (JSON)."),
    k: int = typer.Option(5, "-k", help="Neighbours for --method knn."),
    model: str = ModelOption,
) -> None:
    """Train a classifier on labelled examples and save it to a directory."""
    from simvec.tasks.classify import EmbeddingClassifier

    label_spec = parse_labels(labels, labels_file)
    texts, targets = read_labelled(train, text_field, label_column)
    classifier = EmbeddingClassifier(method, encoder=make_encoder(model), labels=label_spec, k=k)
    classifier.fit(texts, targets)
    classifier.save(output)
    typer.echo(
        f"saved a {method} classifier of {len(classifier.classes_)} labels, fitted on {len(texts)} examples, to {output}",
        err=True,
    )


@classify_app.command("predict")
def classify_predict(
    classifier_dir: Path = typer.Argument(..., help="A directory written by `simvec classify fit`."),
    input: Path = typer.Argument(..., help="Texts to classify: .txt, .jsonl, .csv or .parquet."),
    text_field: str = TextFieldOption,
    id_field: str = typer.Option(None, "--id-field", help="Field holding an id (default: the line number)."),
    abstain_below: float = AbstainOption,
    output: Path = OutputOption,
    model: str = typer.Option(None, "--model", "-m", help="Model directory (default: the classifier's own)."),
    as_json: bool = JsonOption,
) -> None:
    """Classify every text of INPUT with a saved classifier."""
    from simvec.tasks.classifier_base import check_abstain
    from simvec.tasks.classify import EmbeddingClassifier, saved_model

    records = list(read_records(input, text_field=text_field, id_field=id_field))
    classifier = EmbeddingClassifier.load(classifier_dir, encoder=make_encoder(model or saved_model(classifier_dir)))
    if abstain_below is not None:
        classifier.abstain_below = check_abstain(abstain_below)
    predictions = classifier.classify([r.text for r in records]) if records else []
    write_predictions(records, predictions, output, as_json)


# ---- evaluation ------------------------------------------------------------------------------------

DataOption = typer.Option(..., "--data", help="Folder with train.csv, test.csv (text + label) and categories.json.")
EvalLabelColumn = typer.Option(None, "--label-column", help="Label column (default: label, category or intent).")


@eval_app.command("classification")
def eval_classification(
    data: Path = DataOption,
    label_column: str = EvalLabelColumn,
    text_column: str = typer.Option("text", "--text-column"),
    model: str = ModelOption,
    n_experiments: int = typer.Option(10, "--n-experiments", help="Experiments averaged (MTEB: 10)."),
    samples_per_label: int = typer.Option(8, "--samples-per-label", help="Training examples per label (MTEB: 8)."),
    seed: int = typer.Option(42, help="MTEB's seed."),
    backend: str = BackendOption,
    as_json: bool = JsonOption,
) -> None:
    """Logistic regression on embeddings, MTEB's protocol: accuracy and macro F1 (x100) over 10 experiments."""
    from simvec.eval.classification import evaluate_mteb_classification, read_classification_dir

    train, test, _ = read_classification_dir(data, text_column=text_column, label_column=label_column)
    result = evaluate_mteb_classification(
        make_encoder(model, backend),
        train,
        test,
        n_experiments=n_experiments,
        samples_per_label=samples_per_label,
        seed=seed,
    )
    if as_json:
        print_json(result.as_dict())
        return
    table = Table(title=f"Classification ({result.dataset}, MTEB protocol) — {result.model}")
    for column in ("experiments", "per label", "train/test", "labels", "accuracy x100", "macro F1 x100"):
        table.add_column(column, justify="right")
    table.add_row(
        str(n_experiments),
        str(samples_per_label),
        f"{result.n_train}/{result.n_test}",
        str(result.n_labels),
        f"{result.accuracy:.2f} ± {result.accuracy_std:.2f}",
        f"{result.f1:.2f} ± {result.f1_std:.2f}",
    )
    Console().print(table)
    report_unseen(result.unseen_test_labels)


def report_unseen(unseen: dict[str, int]) -> None:
    """Test labels that never appear in training are counted as errors; say so."""
    if unseen:
        listed = ", ".join(f"{label} ({count})" for label, count in list(unseen.items())[:10])
        typer.echo(
            f"note: {sum(unseen.values())} test texts have labels unseen in training, counted as errors: {listed}",
            err=True,
        )


@eval_app.command("zero-shot")
def eval_zero_shot(
    data: Path = DataOption,
    label_column: str = EvalLabelColumn,
    text_column: str = typer.Option("text", "--text-column"),
    model: str = ModelOption,
    shots: str = typer.Option("1,2,4,8,16", help="Examples per label for the few-shot curves ('' for none)."),
    runs: int = typer.Option(5, help="Random samples averaged per point of the curves."),
    seed: int = typer.Option(42),
    as_json: bool = JsonOption,
) -> None:
    """Zero-shot accuracy with the label names, and few-shot curves for logreg, kNN, centroid and label-prior centroid."""
    from simvec.eval.classification import embed, evaluate_zero_shot, few_shot_curves, read_classification_dir

    train, test, names = read_classification_dir(data, text_column=text_column, label_column=label_column)
    names = names if names is not None else sorted(set(train.labels) | set(test.labels))
    try:
        counts = [int(s) for s in shots.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {shots!r}", param_hint="--shots") from None
    encoder = make_encoder(model)
    vectors = (embed(encoder, train.texts), embed(encoder, test.texts))
    zero = evaluate_zero_shot(encoder, test, names, test_vectors=vectors[1])
    curves = few_shot_curves(encoder, train, test, names, shots=counts, runs=runs, seed=seed, vectors=vectors)
    if as_json:
        print_json({"dataset": train.name, "model": encoder.model_id, "zero_shot": zero, "few_shot": curves})
        return
    table = Table(title=f"Zero- and few-shot classification ({train.name}) — accuracy x100 — {encoder.model_id}")
    table.add_column("method")
    table.add_column("0", justify="right")
    for n in counts:
        table.add_column(str(n), justify="right")
    table.add_row("zero-shot (label names)", f"{zero['accuracy']:.2f}", *[""] * len(counts))
    for method in dict.fromkeys(row["method"] for row in curves):
        cells = {row["shots"]: row for row in curves if row["method"] == method}
        table.add_row(method, "", *(f"{cells[n]['accuracy']:.2f} ± {cells[n]['accuracy_std']:.2f}" for n in counts))
    Console().print(table)
    report_unseen(zero["unseen_test_labels"])
