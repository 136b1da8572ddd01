"""Domain adaptation on a BEIR dataset: base vs query adapter vs fine-tuned model, on the test queries only.

Runs, in one process, what these commands print (each is also a CLI command):

    simvec eval retrieval --data DIR --adapt-on train --adapter --json          # train qrels -> test qrels
    simvec eval retrieval --data DIR --adapt-on half --adapter --json           # train split ignored: half/half
    simvec adapt finetune --queries DIR/queries.jsonl --qrels DIR/qrels/train.tsv --corpus DIR/corpus.jsonl \
        -o MODEL --holdout 0 --train-max-length 128
    simvec eval retrieval --data DIR --adapt-on train --finetuned MODEL [--truncate-dim 256|128] --json

and writes them to benchmarks/results/adapt-<dataset>.json.

    python benchmarks/adapt.py --data ../shared/data/scifact --model-dir /tmp/scifact-ft [--skip-finetune]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from simvec.eval.adapt import evaluate_adaptation, read_corpus, read_judgements, read_queries
from simvec.tasks.finetune import finetune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, required=True, help="Where the fine-tuned model is (or goes).")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--skip-finetune", action="store_true", help="Evaluate an existing --model-dir.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results: dict[str, object] = {}

    def run(name: str, **options: object) -> None:
        started = time.perf_counter()
        result = evaluate_adaptation(args.data, cache_dir=args.cache_dir, **options).as_dict()
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        results[name] = result
        print(
            name, json.dumps({"base": result["base"]["ndcg@10"], "adapted": result["adapted"]["ndcg@10"]}), flush=True
        )

    run("adapter-train-split", method="adapter", adapt_on="train")
    run("adapter-half", method="adapter", adapt_on="half")
    if not args.skip_finetune:
        queries = read_queries(args.data / "queries.jsonl")
        corpus = read_corpus(args.data / "corpus.jsonl")
        judged = read_judgements(args.data / "qrels" / "train.tsv", queries=queries, documents=corpus)
        pairs = [(queries[q], corpus[d]) for q, docs in judged.qrels.items() for d, g in docs.items() if g > 0]
        trained = finetune(
            pairs, args.model_dir, epochs=args.epochs, max_seq_length=128, train_query_ids=list(judged.qrels)
        )
        results["finetune"] = {k: v for k, v in trained.as_dict().items() if k != "train_query_ids"}
    for dim in (None, 256, 128):
        run(f"finetuned-{dim or 'full'}", method="finetuned", finetuned=args.model_dir, truncate_dim=dim)
    out = args.out or Path(__file__).parent / "results" / f"adapt-{args.data.resolve().name}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
