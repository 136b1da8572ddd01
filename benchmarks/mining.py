"""Mining pairs: precision/recall/F1 on STS-B high-score pairs hidden among distractors; margin vs cosine; ST anchor.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/mining.py

The set is built here from /work/shared/data/stsb: every pair scored >= 4 is a gold pair; side A gets the first
sentences, side B the second ones, shuffled (seeded), and each side gets as many distractor sentences again
(sentences of pairs scored <= 2, each used once, never both halves of a pair). `mine_pairs(A, B)` is scored
against the gold pairs with the ratio margin (LASER, k=4) and with plain cosine, at the default thresholds and
over a sweep. The default thresholds are the best-F1 points of the sweep on the dev split; test is reported.

Within one set: `mine_paraphrases` on A + B (cosine) against sentence-transformers' `util.paraphrase_mining`
on the same texts with the same model: agreement of the pairs above the same threshold, and wall time (each
embeds its own texts; the search alone is timed separately on the same vectors).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("SIMVEC_DATA", REPO.parent / "shared" / "data"))
SWEEP = {"ratio": np.round(np.arange(1.0, 1.31, 0.02), 2), "none": np.round(np.arange(0.5, 0.96, 0.025), 3)}


def mining_set(data: Path, split: str, seed: int) -> tuple[list[str], list[str], set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    high, low = [], []
    with (data / "stsb" / f"sts-{split}.csv").open(encoding="utf-8", newline="") as handle:
        for fields in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            score = float(fields[4])
            if score >= 4:
                high.append((fields[5], fields[6]))
            elif score <= 2:
                low.append((fields[5], fields[6]))
    rng.shuffle(low)
    distract_a = [p[0] for p in low[: len(low) // 2]][: len(high)]
    distract_b = [p[1] for p in low[len(low) // 2 :]][: len(high)]
    a = [s for s, _ in high] + distract_a
    b_items = [(t, i) for i, (_, t) in enumerate(high)] + [(t, None) for t in distract_b]
    order = rng.permutation(len(b_items))
    b = [b_items[j][0] for j in order]
    gold = {(b_items[j][1], pos) for pos, j in enumerate(order) if b_items[j][1] is not None}
    return a, b, gold


def prf(found: set, gold: set) -> dict:
    right = len(found & gold)
    precision = right / max(len(found), 1)
    recall = right / max(len(gold), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"pairs": len(found), "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def sweep(va: np.ndarray, vb: np.ndarray, gold: set) -> dict:
    from simvec.tasks.mine import mine_pairs

    out = {}
    for margin, thresholds in SWEEP.items():
        pairs = mine_pairs(va, vb, margin=margin, threshold=float(thresholds[0]))
        rows = []
        for t in thresholds:
            rows.append({"threshold": float(t), **prf({(p.a, p.b) for p in pairs if p.score >= t}, gold)})
        out[margin] = {"rows": rows, "best": max(rows, key=lambda r: r["f1"])}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "mining.json")
    args = parser.parse_args()

    from simvec.encoders import Encoder
    from simvec.encoders.models import default_model_path
    from simvec.tasks.mine import DEFAULT_THRESHOLDS, mine_pairs, mine_paraphrases

    encoder = Encoder(cache=True)
    report: dict = {"model": encoder.model_id, "seed": args.seed, "defaults": DEFAULT_THRESHOLDS}
    for split in ("dev", "test"):
        a, b, gold = mining_set(args.data, split, args.seed)
        va, vb = encoder.encode(a), encoder.encode(b)
        entry = {"a": len(a), "b": len(b), "gold_pairs": len(gold), "sweep": sweep(va, vb, gold)}
        for margin in ("ratio", "none"):
            started = time.perf_counter()
            pairs = mine_pairs(va, vb, margin=margin)
            entry[f"default_{margin}"] = {
                **prf({(p.a, p.b) for p in pairs}, gold),
                "threshold": DEFAULT_THRESHOLDS[margin],
                "seconds": round(time.perf_counter() - started, 3),
            }
        report[split] = entry
        print(split, json.dumps({k: v for k, v in entry.items() if k != "sweep"}), flush=True)
        print(split, "best", {m: entry["sweep"][m]["best"] for m in SWEEP}, flush=True)

    # within one set, against sentence-transformers' paraphrase_mining on the same texts
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import paraphrase_mining, paraphrase_mining_embeddings

    a, b, gold = mining_set(args.data, "test", args.seed)
    texts = a + b
    gold_within = {(i, len(a) + j) for i, j in gold}
    model = SentenceTransformer(str(default_model_path()), device="cpu")
    threshold = DEFAULT_THRESHOLDS["none"]
    started = time.perf_counter()
    theirs = paraphrase_mining(model, texts, top_k=10)
    st_seconds = time.perf_counter() - started
    fresh = Encoder()  # no cache: both sides embed from scratch
    started = time.perf_counter()
    ours = mine_paraphrases(texts, margin="none", threshold=threshold, encoder=fresh)
    our_seconds = time.perf_counter() - started
    theirs_set = {(min(i, j), max(i, j)) for s, i, j in theirs if s >= threshold}
    ours_set = {(p.a, p.b) for p in ours}
    vectors = encoder.encode(texts)
    started = time.perf_counter()
    mine_paraphrases(vectors, margin="none", threshold=threshold)
    our_search = time.perf_counter() - started
    started = time.perf_counter()
    paraphrase_mining_embeddings(torch.from_numpy(vectors), top_k=10)
    st_search = time.perf_counter() - started
    margin_pairs = {(p.a, p.b) for p in mine_paraphrases(vectors, margin="ratio")}
    report["paraphrases"] = {
        "texts": len(texts),
        "threshold": threshold,
        "simvec_cosine": prf(ours_set, gold_within),
        "simvec_ratio_margin": {**prf(margin_pairs, gold_within), "threshold": DEFAULT_THRESHOLDS["ratio"]},
        "sentence_transformers": prf(theirs_set, gold_within),
        "agreement_jaccard": round(len(ours_set & theirs_set) / max(len(ours_set | theirs_set), 1), 4),
        "seconds_with_embedding": {"simvec": round(our_seconds, 2), "sentence_transformers": round(st_seconds, 2)},
        "seconds_search_only": {"simvec": round(our_search, 3), "sentence_transformers": round(st_search, 3)},
    }
    print(json.dumps(report["paraphrases"], indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
