"""Classification benchmark on Banking77: simvec beside a reference written with sentence-transformers + scikit-learn.

Both sides run in the same process on the same data:

- MTEB's protocol (mteb 1.0 `AbsTaskClassification` + `logRegClassificationEvaluator`): 10 experiments, numpy's
  global RNG seeded with 42 before every shuffle of the train indices, the first 8 examples per label,
  `LogisticRegression(random_state=42, n_jobs=-1, max_iter=100)`, accuracy and macro F1 averaged.
- Zero-shot: cosine to the embedding of each label name (underscores read as spaces), argmax.
- Few-shot curves (1, 2, 4, 8, 16 examples per label, mean over runs with the same samples on both sides):
  logistic regression (max_iter=1000), kNN (k=5, cosine, similarity-weighted votes), nearest centroid by cosine
  and the label-prior centroid (label embedding counted as one example).

The reference embeds with `SentenceTransformer.encode`; simvec with its own `Encoder` (embedding cache on).

    python benchmarks/tasks.py --data ../shared/data/banking77
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.neighbors import KNeighborsClassifier

from simvec import Encoder
from simvec.encoders.models import default_model_path
from simvec.eval.classification import (
    embed,
    evaluate_mteb_classification,
    evaluate_zero_shot,
    few_shot_curves,
    read_classification_dir,
)

REPO = Path(__file__).resolve().parents[1]
METHODS = ("logreg", "knn", "centroid", "label-prior centroid")


# ---- the reference: sentence-transformers + scikit-learn, written out directly ---------------------------


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def reference_mteb(x_train, y_train, x_test, y_test):
    """mteb 1.0's loop, with its global numpy seeding."""
    idxs, accuracies, f1s = np.arange(len(y_train)), [], []
    np.random.seed(42)  # AbsTask.__init__
    for _ in range(10):
        np.random.shuffle(idxs)
        counts, chosen = defaultdict(int), []
        for i in idxs:
            if counts[y_train[i]] < 8:
                chosen.append(i)
                counts[y_train[i]] += 1
        np.random.seed(42)  # Evaluator.__init__, before the next experiment's shuffle
        clf = LogisticRegression(random_state=42, n_jobs=-1, max_iter=100)
        clf.fit(x_train[chosen], np.asarray(y_train)[chosen])
        predicted = clf.predict(x_test)
        accuracies.append(100 * accuracy_score(y_test, predicted))
        f1s.append(100 * f1_score(y_test, predicted, average="macro"))
    return {
        "accuracy": float(np.mean(accuracies)),
        "f1": float(np.mean(f1s)),
        "accuracy_std": float(np.std(accuracies)),
    }


def normalize(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def reference_predict(method, x, y, x_test, label_vectors, names):
    y = np.asarray(y)
    if method == "logreg":
        return LogisticRegression(max_iter=1000).fit(x, y).predict(x_test)
    if method == "knn":
        knn = KNeighborsClassifier(n_neighbors=min(5, len(y)), metric="cosine", weights=lambda d: 1 - d)
        return knn.fit(x, y).predict(x_test)
    classes = list(names) if method == "label-prior centroid" else sorted(set(y))
    sums = np.stack([normalize(x[y == c]).sum(axis=0) if (y == c).any() else np.zeros(x.shape[1]) for c in classes])
    if method == "label-prior centroid":
        sums = sums + label_vectors  # the label embedding counts as one example
    return np.asarray(classes)[(normalize(x_test) @ normalize(sums).T).argmax(axis=1)]


def sample(labels, shots, seed):
    """Same sampling as simvec.eval.classification.sample_per_label (so both sides see the same examples)."""
    rng, by_label = np.random.RandomState(seed), defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    chosen = []
    for label in sorted(by_label):
        chosen.extend(int(i) for i in rng.choice(by_label[label], min(shots, len(by_label[label])), replace=False))
    return sorted(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "banking77")
    parser.add_argument("--shots", default="1,2,4,8,16")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "classification-banking77.json")
    args = parser.parse_args()
    shots = [int(s) for s in args.shots.split(",")]

    # simvec
    started = time.perf_counter()
    encoder = Encoder(cache=True)
    train, test, names = read_classification_dir(args.data)
    vectors = (embed(encoder, train.texts), embed(encoder, test.texts))
    ours = {
        "mteb": evaluate_mteb_classification(encoder, train, test, vectors=vectors).as_dict(),
        "zero_shot": evaluate_zero_shot(encoder, test, names, test_vectors=vectors[1]),
        "few_shot": few_shot_curves(encoder, train, test, names, shots=shots, runs=args.runs, vectors=vectors),
    }
    ours["seconds"] = time.perf_counter() - started
    print(f"simvec: MTEB accuracy {ours['mteb']['accuracy']:.2f}, zero-shot {ours['zero_shot']['accuracy']:.2f}")

    # reference
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    model = SentenceTransformer(str(default_model_path()), device="cpu")
    x_train_text, y_train = read_csv(args.data / "train.csv")
    x_test_text, y_test = read_csv(args.data / "test.csv")
    x_train = model.encode(x_train_text, batch_size=32)
    x_test = model.encode(x_test_text, batch_size=32)
    label_vectors = model.encode([n.replace("_", " ") for n in names], batch_size=32)
    zero = np.asarray(names)[(x_test @ label_vectors.T).argmax(axis=1)]
    reference = {
        "mteb": reference_mteb(x_train, y_train, x_test, y_test),
        "zero_shot": {
            "accuracy": 100 * accuracy_score(y_test, zero),
            "f1": 100 * f1_score(y_test, zero, average="macro"),
        },
        "few_shot": [],
    }
    for n in shots:
        samples = [sample(y_train, n, 42 + run) for run in range(args.runs)]
        for method in METHODS:
            accuracies = []
            for chosen in samples:
                predicted = reference_predict(
                    method, x_train[chosen], [y_train[i] for i in chosen], x_test, label_vectors, names
                )
                accuracies.append(100 * accuracy_score(y_test, predicted))
            reference["few_shot"].append(
                {
                    "method": method,
                    "shots": n,
                    "accuracy": float(np.mean(accuracies)),
                    "accuracy_std": float(np.std(accuracies)),
                }
            )
    reference["seconds"] = time.perf_counter() - started
    print(
        f"reference: MTEB accuracy {reference['mteb']['accuracy']:.2f}, zero-shot {reference['zero_shot']['accuracy']:.2f}"
    )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"simvec": ours, "reference": reference}, indent=2) + "\n", encoding="utf-8")

    print("\n| | simvec | reference (sentence-transformers + scikit-learn) |\n|---|---:|---:|")
    print(f"| MTEB protocol accuracy | {ours['mteb']['accuracy']:.2f} | {reference['mteb']['accuracy']:.2f} |")
    print(f"| MTEB protocol macro F1 | {ours['mteb']['f1']:.2f} | {reference['mteb']['f1']:.2f} |")
    print(f"| zero-shot accuracy | {ours['zero_shot']['accuracy']:.2f} | {reference['zero_shot']['accuracy']:.2f} |")
    print(f"| zero-shot macro F1 | {ours['zero_shot']['f1']:.2f} | {reference['zero_shot']['f1']:.2f} |")
    print("\n| method | " + " | ".join(f"{n}/label simvec | ref" for n in shots) + " |")
    print("|---|" + "---:|---:|" * len(shots))
    for method in METHODS:
        cells = []
        for n in shots:
            a = next(r for r in ours["few_shot"] if r["method"] == method and r["shots"] == n)
            b = next(r for r in reference["few_shot"] if r["method"] == method and r["shots"] == n)
            cells.append(f"{a['accuracy']:.2f} ± {a['accuracy_std']:.2f} | {b['accuracy']:.2f}")
        print(f"| {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
