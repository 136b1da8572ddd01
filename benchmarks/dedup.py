"""Near-duplicate detection: precision/recall/F1 on perturbed SciFact abstracts, vs union-find and SemHash, and speed.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dedup.py            # quality on SciFact + speed on 100k texts
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dedup.py --choose   # also the threshold choice on other data

The near-duplicate set is built here, seeded, from /work/shared/data/scifact: `--originals` abstracts, half of
them with 1-3 perturbed copies (reformatting, typos, a dropped sentence, truncation), shuffled. Scoring is on
decisions: with keep=first, a removed document is right when its representative comes from the same original;
recall is the right removals over all removable copies. Every method scores the same vectors in the same run:
simvec's greedy rule (no chaining), naive union-find over every pair at the threshold (exact FAISS range search,
keeping the first of each connected component), and SemHash's self_deduplicate (the anchor).

`--choose` builds the same kind of set from Banking77 queries and STS-B dev sentences (not SciFact), and reports
the F1 of each threshold there: the default threshold is the best of those.

Speed: 100,000 texts (SciFact sentences plus perturbed copies) embedded with the static backend (as SemHash's
anchor number uses static embeddings), then simvec and SemHash deduplicate the same vectors; peak extra RSS is
sampled from /proc while each runs. The recall of simvec's IVF neighbour search is checked against exact search.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import threading
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", message=".*were truncated")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("SIMVEC_DATA", REPO.parent / "shared" / "data"))
THRESHOLDS = (0.8, 0.85, 0.875, 0.9, 0.925, 0.95, 0.975)
KINDS = ("reformat", "typos", "drop", "truncate")


# ---- perturbations -------------------------------------------------------------------------------


def sentences_of(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def reformat(text: str, rng: np.random.Generator) -> str:
    ops = rng.choice(6, size=2, replace=False)
    for op in ops:
        if op == 0:
            text = "\n".join(sentences_of(text))
        elif op == 1:
            text = re.sub(r" ", lambda m: "  " if rng.random() < 0.3 else " ", text)
        elif op == 2:
            text = text.lower()
        elif op == 3:
            text = re.sub(r"[,;:]", "", text)
        elif op == 4:
            text = "  " + text.replace('"', "\u201c") + "\n"
        else:
            text = "- " + "\n- ".join(sentences_of(text))
    return text


def typos(text: str, rng: np.random.Generator, rate: float = 0.03) -> str:
    words = text.split(" ")
    for i in np.flatnonzero(rng.random(len(words)) < rate).tolist() or [int(rng.integers(len(words)))]:
        w = words[i]
        if len(w) < 3:
            continue
        j = int(rng.integers(1, len(w) - 1))
        op = int(rng.integers(4))
        if op == 0:
            w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]
        elif op == 1:
            w = w[:j] + w[j + 1 :]
        elif op == 2:
            w = w[:j] + w[j] + w[j:]
        else:
            w = w[:j] + "qwertyuiopasdfghjklzxcvbnm"[int(rng.integers(26))] + w[j + 1 :]
        words[i] = w
    return " ".join(words)


def drop_sentence(text: str, rng: np.random.Generator) -> str:
    parts = sentences_of(text)
    if len(parts) < 3:
        return typos(text, rng)
    del parts[int(rng.integers(len(parts)))]
    return " ".join(parts)


def truncate(text: str, rng: np.random.Generator, low: float = 0.6) -> str:
    cut = int(len(text) * rng.uniform(low, 0.9))
    return text[:cut].rsplit(" ", 1)[0]


def perturb(text: str, kind: str, rng: np.random.Generator) -> str:
    return {"reformat": reformat, "typos": typos, "drop": drop_sentence, "truncate": truncate}[kind](text, rng)


def near_duplicate_set(
    originals: list[str], rng: np.random.Generator, fraction: float = 0.5
) -> tuple[list[str], np.ndarray, list[str]]:
    """Originals plus 1-3 perturbed copies of `fraction` of them, shuffled: (texts, cluster of each, kind of each)."""
    texts, cluster, kinds = list(originals), list(range(len(originals))), ["original"] * len(originals)
    for c in rng.choice(len(originals), size=int(len(originals) * fraction), replace=False).tolist():
        for _ in range(int(rng.integers(1, 4))):
            kind = KINDS[int(rng.integers(len(KINDS)))]
            texts.append(perturb(originals[c], kind, rng))
            cluster.append(c)
            kinds.append(kind)
    order = rng.permutation(len(texts))
    return [texts[i] for i in order], np.asarray(cluster)[order], [kinds[i] for i in order]


# ---- scoring ---------------------------------------------------------------------------------------


def score_decisions(duplicate_of: np.ndarray, cluster: np.ndarray) -> dict:
    """Precision/recall/F1 of removals (duplicate_of: representative position, -1 when kept)."""
    removed = duplicate_of >= 0
    right = removed & (cluster[np.maximum(duplicate_of, 0)] == cluster)
    removable = len(cluster) - len(np.unique(cluster))
    precision = right.sum() / max(removed.sum(), 1)
    recall = right.sum() / max(removable, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {
        "removed": int(removed.sum()),
        "removable": int(removable),
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
    }


def union_find(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """Naive baseline: connected components of every pair >= threshold (exact range search), first one kept."""
    import faiss
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    lims, _, found = index.range_search(vectors, threshold)
    rows = np.repeat(np.arange(len(vectors)), np.diff(lims.astype(np.int64)))
    graph = coo_matrix((np.ones(len(found)), (rows, found)), shape=(len(vectors),) * 2)
    _, component = connected_components(graph, directed=False)
    first = {}
    for i, c in enumerate(component.tolist()):
        first.setdefault(c, i)
    return np.array([first[c] if first[c] != i else -1 for i, c in enumerate(component.tolist())])


class _Dummy:  # SemHash wants an encoder object; from_embeddings never calls it for self-deduplication
    def encode(self, texts, **_):
        raise RuntimeError("not used")


def semhash_decisions(vectors: np.ndarray, threshold: float) -> tuple[np.ndarray, float]:
    from semhash import SemHash

    records = [{"id": str(i), "text": f"#{i}"} for i in range(len(vectors))]
    started = time.perf_counter()
    result = SemHash.from_embeddings(vectors, records, model=_Dummy(), columns=["text"]).self_deduplicate(threshold)
    seconds = time.perf_counter() - started
    out = np.full(len(vectors), -1)
    for dup in result.filtered:
        out[int(dup.record["id"])] = int(dup.duplicate_of["id"])
    return out, seconds


class PeakRss:
    """Samples this process's resident memory every 20 ms; `extra` is the peak above the start, in MiB."""

    def __enter__(self) -> PeakRss:
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _rss(self) -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.extra = (self.peak - self.start) / 2**20


# ---- data ------------------------------------------------------------------------------------------


def scifact_abstracts(data: Path) -> list[str]:
    with (data / "scifact" / "corpus.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle if line.strip()]


def other_texts(data: Path) -> list[str]:
    """Banking77 training queries and STS-B dev sentences: short texts from two other domains."""
    with (data / "banking77" / "train.csv").open(encoding="utf-8", newline="") as handle:
        banking = [row["text"] for row in csv.DictReader(handle)]
    sts = []
    with (data / "stsb" / "sts-dev.csv").open(encoding="utf-8", newline="") as handle:
        for fields in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            sts += fields[5:7]
    return list(dict.fromkeys(banking + sts))


def quality(texts: list[str], cluster: np.ndarray, vectors: np.ndarray, default: float, semhash: bool) -> dict:
    from simvec.tasks.dedup import find_duplicates

    started = time.perf_counter()
    result = find_duplicates(vectors, default)
    first_seconds = time.perf_counter() - started
    rows = []
    for t in THRESHOLDS:
        started = time.perf_counter()
        ours = result.rethreshold(t)
        regroup = time.perf_counter() - started
        row = {
            "threshold": t,
            "simvec": score_decisions(ours.duplicate_of, cluster),
            "regroup_seconds": round(regroup, 3),
        }
        row["union_find"] = score_decisions(union_find(vectors, t), cluster)
        if semhash:
            decisions, _ = semhash_decisions(vectors, t)
            row["semhash"] = score_decisions(decisions, cluster)
        rows.append(row)
    lexical = find_duplicates(vectors, default, texts=texts, lexical_threshold=0.5)
    return {
        "documents": len(texts),
        "removable": int(len(cluster) - len(np.unique(cluster))),
        "default_threshold": default,
        "first_run_seconds": round(first_seconds, 3),
        "thresholds": rows,
        "lexical_0.5_at_default": score_decisions(lexical.duplicate_of, cluster),
    }


def speed(data: Path, n: int, seed: int, default: float) -> dict:
    from simvec.encoders import Encoder
    from simvec.tasks.dedup import find_duplicates
    from simvec.tasks.neighbours import knn, unit_rows

    rng = np.random.default_rng(seed + 1)
    base = list(dict.fromkeys(s for text in scifact_abstracts(data) for s in sentences_of(text) if len(s) >= 30))
    texts = list(base)
    while len(texts) < n:
        source = base[int(rng.integers(len(base)))]
        texts.append(perturb(source, ("reformat", "typos", "truncate")[int(rng.integers(3))], rng))
    texts = texts[:n]
    encoder = Encoder(backend="static")
    started = time.perf_counter()
    vectors = unit_rows(encoder.encode(texts, batch_size=1024))
    embed_seconds = time.perf_counter() - started
    with PeakRss() as ours_memory:
        started = time.perf_counter()
        result = find_duplicates(vectors, default)
        ours_seconds = time.perf_counter() - started
    with PeakRss() as semhash_memory:
        decisions, semhash_seconds = semhash_decisions(vectors, default)
    # recall of the approximate neighbour graph: exact pairs >= threshold for a sample of documents
    sample = np.sort(rng.choice(n, size=2000, replace=False))
    scores, found = knn(vectors[sample], vectors, 33, exact=True)
    graph = result._state.graph
    node_of = result._state.node_of
    exact_pairs = found_pairs = 0
    for row, i in enumerate(sample.tolist()):
        node = node_of[i]
        start, stop = graph.indptr[node], graph.indptr[node + 1]
        have = set(graph.indices[start:stop][graph.scores[start:stop] >= default].tolist())
        for j, s in zip(found[row].tolist(), scores[row].tolist(), strict=True):
            if s >= default and node_of[j] != node:
                exact_pairs += 1
                found_pairs += node_of[j] in have
    agree = float(np.mean((decisions >= 0) == (result.duplicate_of >= 0)))
    return {
        "texts": n,
        "distinct_vectors": int(len(graph.vectors)),
        "dimension": int(vectors.shape[1]),
        "embed_seconds_static": round(embed_seconds, 2),
        "simvec_seconds": round(ours_seconds, 2),
        "simvec_peak_extra_mib": round(ours_memory.extra, 1),
        "simvec_removed": result.removed,
        "semhash_seconds": round(semhash_seconds, 2),
        "semhash_peak_extra_mib": round(semhash_memory.extra, 1),
        "semhash_removed": int((decisions >= 0).sum()),
        "same_keep_remove_decision": round(agree, 4),
        "graph_recall_vs_exact": round(found_pairs / max(exact_pairs, 1), 4),
        "exact_pairs_checked": exact_pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--originals", type=int, default=2000)
    parser.add_argument("--speed", type=int, default=100_000, help="texts for the speed run (0 skips it)")
    parser.add_argument("--choose", action="store_true", help="also measure thresholds on Banking77 + STS-B dev")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "dedup.json")
    args = parser.parse_args()

    from simvec.encoders import Encoder
    from simvec.tasks.dedup import DEFAULT_THRESHOLD
    from simvec.tasks.neighbours import unit_rows

    encoder = Encoder(cache=True)
    report: dict = {"model": encoder.model_id, "backend": encoder.backend.name, "seed": args.seed}
    if args.choose:
        rng = np.random.default_rng(args.seed + 2)
        pool = other_texts(args.data)
        originals = [pool[i] for i in rng.choice(len(pool), size=min(3000, len(pool)), replace=False)]
        texts, cluster, _ = near_duplicate_set(originals, rng)
        vectors = unit_rows(encoder.encode(texts, batch_size=128))
        report["choose"] = quality(texts, cluster, vectors, DEFAULT_THRESHOLD, semhash=False)
        best = max(report["choose"]["thresholds"], key=lambda row: row["simvec"]["f1"])
        report["choose"]["best_threshold"] = best["threshold"]
        print(json.dumps(report["choose"]["thresholds"], indent=1), flush=True)
    rng = np.random.default_rng(args.seed)
    abstracts = [t for t in scifact_abstracts(args.data) if len(t) >= 200]
    originals = [abstracts[i] for i in rng.choice(len(abstracts), size=args.originals, replace=False)]
    texts, cluster, kinds = near_duplicate_set(originals, rng)
    vectors = unit_rows(encoder.encode(texts, batch_size=64))
    report["scifact"] = quality(texts, cluster, vectors, DEFAULT_THRESHOLD, semhash=True)
    report["scifact"]["copies_by_kind"] = {k: kinds.count(k) for k in KINDS}
    from simvec.tasks.dedup import find_duplicates

    result = find_duplicates(vectors, DEFAULT_THRESHOLD)
    missed = {k: 0 for k in KINDS}
    for i, kind in enumerate(kinds):
        if kind != "original" and result.duplicate_of[i] < 0 and (cluster[:i] == cluster[i]).any():
            missed[kind] += 1
    report["scifact"]["missed_copies_by_kind_at_default"] = missed
    print(json.dumps(report["scifact"], indent=1), flush=True)
    if args.speed:
        report["speed"] = speed(args.data, args.speed, args.seed, DEFAULT_THRESHOLD)
        print(json.dumps(report["speed"], indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
