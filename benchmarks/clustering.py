"""Clustering benchmark: simvec's `eval clustering` beside the same protocol run directly, in the same process.

    python benchmarks/clustering.py --data ../shared/data/banking77 [--seeds 5] [--json]

Reference: sentence-transformers encodes the texts (the same bundled model) and scikit-learn's MiniBatchKMeans
(k = number of gold labels, batch_size=500, n_init="auto", random_state=seed; MTEB's legacy ClusteringEvaluator)
clusters them; V-measure by sklearn.metrics.v_measure_score. simvec: `simvec.eval.clustering.evaluate_clustering`,
which runs the same protocol on simvec's vectors and also scores `simvec.tasks.cluster.cluster()` with its defaults.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import v_measure_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer

    from simvec import Encoder
    from simvec.encoders.models import default_model_path
    from simvec.eval.clustering import evaluate_clustering, read_labelled_csv

    data = read_labelled_csv(args.data, args.split)
    seeds = range(args.seeds)
    k = len(set(data.labels))

    started = time.perf_counter()
    reference_model = SentenceTransformer(str(default_model_path()), device="cpu")
    reference_vectors = reference_model.encode(data.texts, batch_size=64, convert_to_numpy=True)
    reference = [
        v_measure_score(
            data.labels,
            MiniBatchKMeans(n_clusters=k, batch_size=500, n_init="auto", random_state=s).fit(reference_vectors).labels_,
        )
        for s in seeds
    ]
    reference_seconds = time.perf_counter() - started

    started = time.perf_counter()
    result = evaluate_clustering(Encoder(cache=True), data, seeds=seeds)
    simvec_seconds = time.perf_counter() - started

    report = {
        "dataset": data.name,
        "texts": len(data.texts),
        "labels": k,
        "seeds": list(seeds),
        "reference_sentence_transformers_sklearn": {
            "v_measure_mean": float(np.mean(reference) * 100),
            "v_measure_std": float(np.std(reference) * 100),
            "per_seed": [round(v * 100, 4) for v in reference],
            "seconds": round(reference_seconds, 1),
        },
        "simvec": {**result.as_dict(), "seconds": round(simvec_seconds, 1)},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    ref = report["reference_sentence_transformers_sklearn"]
    print(f"{data.name}: {len(data.texts)} texts, {k} labels, seeds {list(seeds)}")
    print(
        f"reference (sentence-transformers + sklearn, MTEB legacy): {ref['v_measure_mean']:.2f} ± {ref['v_measure_std']:.2f}"
    )
    print(
        f"simvec eval, MTEB legacy protocol:                        {result.mteb_legacy.mean:.2f} ± {result.mteb_legacy.std:.2f}"
    )
    print(
        f"simvec cluster() defaults (k chosen: {sorted(set(result.simvec_default.k))}):      "
        f"{result.simvec_default.mean:.2f} ± {result.simvec_default.std:.2f}"
    )


if __name__ == "__main__":
    main()
