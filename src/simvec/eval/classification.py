"""Classification evaluation: MTEB's protocol, zero-shot with label names, and few-shot learning curves.

MTEB's protocol (mteb 1.0 `AbsTaskClassification` + `logRegClassificationEvaluator`, the one behind the published
Banking77Classification scores): 10 experiments; in each, the train split's indices are shuffled (numpy, seeded
with 42 before every shuffle, the shuffles compounding) and the first 8 examples of each label in that order are
kept; logistic regression (max_iter=100) on their embeddings is scored on the whole test split; accuracy and macro
F1 are averaged over the experiments.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from simvec.encoders import Encoder
from simvec.errors import InputError, InputFileError
from simvec.tasks.classify import EmbeddingClassifier, ZeroShotClassifier

LABEL_COLUMNS = ("label", "category", "intent")  # tried in order when no label column is named
SHOTS = (1, 2, 4, 8, 16)
FEW_SHOT_METHODS = ("logreg", "knn", "centroid", "label-prior centroid")


@dataclass
class LabelledTexts:
    """Texts with one label each, read from a CSV file."""

    name: str
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def read_labelled_csv(path: str | Path, *, text_column: str = "text", label_column: str | None = None) -> LabelledTexts:
    """Read a CSV with a header: `text_column` and a label column (default: the first of label, category, intent)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(str(path), "no such file")
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            if label_column is None:
                label_column = next((c for c in LABEL_COLUMNS if c in columns), None)
                if label_column is None:
                    raise InputFileError(
                        str(path),
                        f"no label column: expected one of {', '.join(LABEL_COLUMNS)} or --label-column "
                        f"(columns present: {', '.join(columns) or 'none'})",
                    )
            for name in (text_column, label_column):
                if name not in columns:
                    raise InputFileError(
                        str(path), f"missing column {name!r} (columns present: {', '.join(columns) or 'none'})"
                    )
            texts, labels = [], []
            for row in reader:
                text, label = row[text_column], row[label_column]
                if text is None or label is None:
                    raise InputFileError(str(path), "row has fewer fields than the header", reader.line_num)
                if not label.strip():
                    raise InputFileError(str(path), f"empty label in column {label_column!r}", reader.line_num)
                texts.append(text)
                labels.append(label)
    except UnicodeDecodeError as exc:
        raise InputFileError(str(path), f"invalid UTF-8 ({exc.reason})") from None
    if not texts:
        raise InputFileError(str(path), "no rows")
    return LabelledTexts(path.stem, texts, labels)


def read_label_names(path: str | Path) -> list[str] | dict:
    """A JSON list of label names, or a {label: description or [descriptions]} object."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(str(path), "no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(str(path), f"invalid JSON ({exc})") from None
    if not isinstance(value, (list, dict)):
        raise InputFileError(str(path), f"expected a JSON list of labels or an object, got {type(value).__name__}")
    return value


def read_classification_dir(
    directory: str | Path, *, text_column: str = "text", label_column: str | None = None
) -> tuple[LabelledTexts, LabelledTexts, list[str] | dict | None]:
    """train.csv, test.csv and (when present) categories.json of a folder such as Banking77's."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputFileError(str(directory), "no such directory (expected train.csv and test.csv)")
    train = read_labelled_csv(directory / "train.csv", text_column=text_column, label_column=label_column)
    test = read_labelled_csv(directory / "test.csv", text_column=text_column, label_column=label_column)
    train.name = test.name = directory.resolve().name
    categories = directory / "categories.json"
    return train, test, read_label_names(categories) if categories.is_file() else None


@dataclass
class ClassificationResult:
    """Accuracy and macro F1 (x100) averaged over experiments, with their standard deviations."""

    dataset: str
    model: str
    protocol: dict
    accuracy: float
    f1: float
    accuracy_std: float
    f1_std: float
    n_train: int
    n_test: int
    n_labels: int
    experiments: list[dict] = field(default_factory=list)
    unseen_test_labels: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def unseen_labels(test_labels: Sequence[str], known: Sequence[str]) -> dict[str, int]:
    """{label: count} of test labels the classifier cannot predict (counted as errors, reported)."""
    known = set(known)
    return dict(sorted(Counter(label for label in test_labels if label not in known).items()))


def mteb_undersample(labels: Sequence[str], samples_per_label: int, idxs: np.ndarray, seed: int) -> list[int]:
    """MTEB's `_undersample_data`: shuffle `idxs` in place (numpy seeded with `seed`), keep the first n per label."""
    np.random.RandomState(seed).shuffle(idxs)  # == np.random.seed(seed); np.random.shuffle(idxs), as mteb does
    counts: dict[str, int] = defaultdict(int)
    chosen = []
    for i in idxs:
        if counts[labels[i]] < samples_per_label:
            chosen.append(int(i))
            counts[labels[i]] += 1
    return chosen


def scores(truth: Sequence[str], predicted: Sequence[str | None]) -> tuple[float, float]:
    """Accuracy and macro F1 (x100), with scikit-learn (an abstention counts as a wrong label)."""
    from sklearn.metrics import accuracy_score, f1_score

    predicted = ["<none>" if p is None else p for p in predicted]
    return 100 * accuracy_score(truth, predicted), 100 * f1_score(truth, predicted, average="macro")


def embed(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Query embeddings (batch size 32, as MTEB encodes)."""
    return encoder.encode_queries(list(texts), batch_size=32)


def evaluate_mteb_classification(
    encoder: Encoder,
    train: LabelledTexts,
    test: LabelledTexts,
    *,
    n_experiments: int = 10,
    samples_per_label: int = 8,
    seed: int = 42,
    max_iter: int = 100,
    vectors: tuple[np.ndarray, np.ndarray] | None = None,
) -> ClassificationResult:
    """MTEB's classification protocol (see the module docstring) with simvec's logistic-regression classifier."""
    if n_experiments < 1 or samples_per_label < 1:
        raise InputError("n_experiments and samples_per_label must be at least 1")
    train_vectors, test_vectors = (
        vectors if vectors is not None else (embed(encoder, train.texts), embed(encoder, test.texts))
    )
    idxs = np.arange(len(train))
    experiments = []
    for _ in range(n_experiments):
        chosen = mteb_undersample(train.labels, samples_per_label, idxs, seed)
        classifier = EmbeddingClassifier("logreg", encoder=encoder, max_iter=max_iter, random_state=seed)
        classifier.fit_vectors(train_vectors[chosen], [train.labels[i] for i in chosen])
        predicted = [p.label for p in classifier.classify_vectors(test_vectors)]
        accuracy, f1 = scores(test.labels, predicted)
        experiments.append({"accuracy": accuracy, "f1": f1, "n_train": len(chosen)})
    accuracies, f1s = [e["accuracy"] for e in experiments], [e["f1"] for e in experiments]
    return ClassificationResult(
        dataset=train.name,
        model=encoder.model_id,
        protocol={
            "name": "mteb",
            "method": "logreg",
            "n_experiments": n_experiments,
            "samples_per_label": samples_per_label,
            "seed": seed,
            "max_iter": max_iter,
        },
        accuracy=float(np.mean(accuracies)),
        f1=float(np.mean(f1s)),
        accuracy_std=float(np.std(accuracies)),
        f1_std=float(np.std(f1s)),
        n_train=len(train),
        n_test=len(test),
        n_labels=len(set(train.labels)),
        experiments=experiments,
        unseen_test_labels=unseen_labels(test.labels, train.labels),
    )


def evaluate_zero_shot(
    encoder: Encoder,
    test: LabelledTexts,
    labels: list[str] | dict,
    *,
    template: str | Sequence[str] = "{}",
    test_vectors: np.ndarray | None = None,
) -> dict:
    """Accuracy and macro F1 (x100) of `ZeroShotClassifier` with the given label names or descriptions."""
    classifier = ZeroShotClassifier(labels, encoder=encoder, template=template)
    vectors = test_vectors if test_vectors is not None else embed(encoder, test.texts)
    predicted = [p.label for p in classifier.classify_vectors(vectors)]
    accuracy, f1 = scores(test.labels, predicted)
    return {
        "method": "zero-shot",
        "accuracy": accuracy,
        "f1": f1,
        "n_test": len(test),
        "n_labels": len(classifier.classes_),
        "unseen_test_labels": unseen_labels(test.labels, classifier.classes_),
    }


def sample_per_label(labels: Sequence[str], shots: int, seed: int) -> list[int]:
    """`shots` random examples of every label (all of a label's examples when it has fewer)."""
    rng = np.random.RandomState(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    chosen = []
    for label in sorted(by_label):
        members = by_label[label]
        chosen.extend(int(i) for i in rng.choice(members, min(shots, len(members)), replace=False))
    return sorted(chosen)


def few_shot_classifier(method: str, encoder: Encoder, labels: list[str] | dict | None) -> EmbeddingClassifier:
    """The classifier behind each few-shot curve."""
    if method == "label-prior centroid":
        return EmbeddingClassifier("centroid", encoder=encoder, labels=labels)
    return EmbeddingClassifier(method, encoder=encoder)


def few_shot_curves(
    encoder: Encoder,
    train: LabelledTexts,
    test: LabelledTexts,
    labels: list[str] | dict | None,
    *,
    shots: Sequence[int] = SHOTS,
    runs: int = 5,
    seed: int = 42,
    methods: Sequence[str] = FEW_SHOT_METHODS,
    vectors: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[dict]:
    """Accuracy and macro F1 (x100, mean and std over `runs` samples) for each method and examples per label."""
    unknown = [m for m in methods if m not in FEW_SHOT_METHODS]
    if unknown:
        raise InputError(f"unknown few-shot method {unknown[0]!r}; valid: {', '.join(FEW_SHOT_METHODS)}")
    if labels is None:
        labels = sorted(set(train.labels))
    train_vectors, test_vectors = (
        vectors if vectors is not None else (embed(encoder, train.texts), embed(encoder, test.texts))
    )
    rows = []
    for n in shots:
        samples = [sample_per_label(train.labels, n, seed + run) for run in range(runs)]
        for method in methods:
            results = []
            for chosen in samples:
                classifier = few_shot_classifier(method, encoder, labels)
                classifier.fit_vectors(train_vectors[chosen], [train.labels[i] for i in chosen])
                results.append(scores(test.labels, [p.label for p in classifier.classify_vectors(test_vectors)]))
            accuracy, f1 = np.array(results).T
            rows.append(
                {
                    "method": method,
                    "shots": n,
                    "runs": runs,
                    "accuracy": float(accuracy.mean()),
                    "accuracy_std": float(accuracy.std()),
                    "f1": float(f1.mean()),
                    "f1_std": float(f1.std()),
                }
            )
    return rows
