"""Compression on a BEIR dataset vs the figures quoted in issue 4, and the issue's targets, in one run.

Runs simvec's compression grid (`simvec.eval.compression.run_benchmark`: float32 exact, the sentence-transformers
binary-rescoring recipe and every codec setting) on the dataset's corpus and judged queries, then sets each
configuration beside the retention issue 4 quotes for it and says which targets are met, or by how much missed.

    OMP_NUM_THREADS=1 python benchmarks/compression_beir.py --data ../shared/data/scifact \
        --plot benchmarks/results/compression-scifact.png --json benchmarks/results/compression-scifact.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simvec import Encoder
from simvec.eval.compression import Measurement, beir_workbench, pareto_front, plot, run_benchmark

# Issue 4's anchors (SciFact, default model): config -> (what it is, retention quoted in the issue)
ANCHORS = {
    "int8": ("int8", 1.001),
    "binary": ("binary Hamming alone", 0.909),
    "binary+float-query-vs-bits": ("binary + float query vs bits (sentence-transformers)", 0.964),
    "binary+int8x10": ("binary top-100 rescored with int8", 0.996),
    "pq48": ("PQ 48 bytes", 0.976),
    "t256-float32": ("truncation to 256 dims", 0.984),
    "t128-float32": ("truncation to 128 dims", 0.933),
}
# Issue 4's targets: (name, retention, RAM bytes/vector at most, the one config it is about or None for any)
TARGETS = (
    ("int8 at 4x less RAM", 0.995, 384, "int8"),
    (">= 99% at <= 48 B/vector", 0.99, 48, None),
    (">= 97% at <= 24 B/vector", 0.97, 24, None),
)


def annotate_anchors(results: list[Measurement]) -> None:
    """Add the issue's figure to the anchor column of every configuration it quotes."""
    for result in results:
        if result.config in ANCHORS:
            label, quoted = ANCHORS[result.config]
            result.anchor = f"{label} (issue: {quoted:.1%})"


def check_targets(results: list[Measurement]) -> list[dict]:
    """Each target: met (by its cheapest configuration), or by how much the best candidate misses."""
    rows = []
    for name, retention, ram, config in TARGETS:
        pool = [r for r in results if r.ram_bytes_per_vector <= ram and (config is None or r.config == config)]
        best = max(pool, key=lambda r: r.retention or 0, default=None)
        met = best is not None and (best.retention or 0) >= retention
        cheapest = min(
            (r for r in pool if (r.retention or 0) >= retention),
            key=lambda r: (r.ram_bytes_per_vector, -(r.retention or 0)),
            default=None,
        )
        pick = cheapest if met else best
        rows.append(
            {
                "target": name,
                "met": met,
                "config": pick.config if pick else None,
                "retention": pick.retention if pick else None,
                "shortfall": 0.0 if met or not best else retention - (best.retention or 0),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
    parser.add_argument("--split", default="test")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where the embedded corpus collection is kept")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of retention vs RAM bytes/vector")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    encoder = Encoder()
    bench, beir = beir_workbench(args.data, encoder, split=args.split, cache_dir=args.cache_dir)
    try:
        results = run_benchmark(bench, progress=lambda message: print(message, file=sys.stderr, flush=True))
    finally:
        bench.close()
    annotate_anchors(results)
    targets = check_targets(results)
    title = f"Compression — {beir.name} ({len(beir.queries)} queries, {len(beir.corpus)} documents, {encoder.model_id})"
    print(f"## {title}\n")
    print("| config | RAM B/vec | disk B/vec | nDCG@10 | retention | recall@10 | QPS | anchor |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for m in results:
        ndcg = f"{m.ndcg_at_10:.4f}" if m.ndcg_at_10 is not None else ""
        print(
            f"| {m.config} | {m.ram_bytes_per_vector} | {m.disk_bytes_per_vector} | {ndcg} | {100 * m.retention:.2f}% "
            f"| {m.recall_at_10:.3f} | {m.qps:,.0f} | {m.anchor or ''} |"
        )
    print(f"\nPareto front: {', '.join(r.config for r in pareto_front(results))}\n")
    for t in targets:
        status = "met" if t["met"] else f"MISSED by {100 * t['shortfall']:.2f} points"
        print(f"- target {t['target']}: {status} — {t['config']} at {100 * (t['retention'] or 0):.2f}%")
    payload = {
        "dataset": beir.name,
        "model": encoder.model_id,
        "queries": len(beir.queries),
        "documents": len(beir.corpus),
        "results": [r.as_dict() for r in results],
        "pareto_front": [r.config for r in pareto_front(results)],
        "targets": targets,
    }
    if args.plot:
        plot(results, args.plot, title)
    if args.json:
        args.json.write_text(json.dumps(payload, indent=2))
    return payload


if __name__ == "__main__":
    main()
