"""Ray Data job vs local `simvec embed`: the same texts, the same backend, the same cores, in the same run.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ray_embed.py --texts 100000 --shards 8

Texts (--corpus short): every distinct STS-B sentence and Banking77 training query (about 25,000 short texts), cycled
to --texts, with an id per row; --corpus scifact: SciFact documents (title + text, long), cycled. The local anchor is one command, `simvec embed all.jsonl -o local.parquet --no-cache` (ONNX Runtime
with one thread per core); the contender is `simvec embed shards/*.jsonl -o out/ --engine ray --workers W` with
a local Ray simvec starts itself (W actors of one thread each, W = the cores). Both times are whole commands, as a
user runs them: process start, model load (and Ray's start for the contender), reading, embedding, writing. The
overhead ratio is ray / local; the order of the two is alternated across --rounds. Every run's vectors are checked
against the local ones (cosine per row, ids exactly once).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SIMVEC_DATA", REPO.parent / "shared" / "data"))


def corpus(data: Path) -> list[str]:
    """Distinct STS-B sentences (all splits) and Banking77 training queries, in file order."""
    texts: list[str] = []
    for split in ("train", "dev", "test"):
        with (data / "stsb" / f"sts-{split}.csv").open(encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                texts.extend(row[5:7])
    with (data / "banking77" / "train.csv").open(encoding="utf-8") as handle:
        texts.extend(row["text"] for row in csv.DictReader(handle))
    return list(dict.fromkeys(t for t in texts if t.strip()))


def scifact(data: Path) -> list[str]:
    """SciFact documents, title + " " + text (long: most exceed the model's 256 tokens), as benchmarks/encode.py."""
    with (data / "scifact" / "corpus.jsonl").open(encoding="utf-8") as handle:
        return [f"{row['title']} {row['text']}" for row in map(json.loads, handle)]


def write_inputs(work: Path, texts: list[str], shards: int) -> None:
    """all.jsonl for the local command and the same rows split into `shards` files for the Ray job."""
    (work / "shards").mkdir()
    per_shard = -(-len(texts) // shards)
    with (work / "all.jsonl").open("w") as whole:
        for k in range(shards):
            with (work / "shards" / f"part{k:03d}.jsonl").open("w") as part:
                for i in range(k * per_shard, min(len(texts), (k + 1) * per_shard)):
                    line = json.dumps({"id": f"t{i}", "text": texts[i]}) + "\n"
                    whole.write(line)
                    part.write(line)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def vectors_by_id(paths: list[Path]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for path in paths:
        table = pq.read_table(path)
        vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False))
        for key, vector in zip(table.column("id").to_pylist(), vectors, strict=True):
            assert key not in out, f"id {key} written twice"
            out[key] = vector
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--corpus", choices=("short", "scifact"), default="short")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "ray_embed.json")
    args = parser.parse_args()

    pool = corpus(args.data) if args.corpus == "short" else scifact(args.data)
    texts = [pool[i % len(pool)] for i in range(args.texts)]
    work = Path(tempfile.mkdtemp(prefix="simvec-ray-bench-"))
    simvec = [sys.executable, "-m", "simvec", "embed"]
    try:
        write_inputs(work, texts, args.shards)
        load_before = os.getloadavg()
        rows = []
        for round_ in range(args.rounds):
            local_out, ray_out = work / f"local{round_}.parquet", work / f"ray{round_}"
            local = [*simvec, str(work / "all.jsonl"), "-o", str(local_out), "--id-field", "id", "--no-cache"]
            local += ["--backend", args.backend]
            ray = [*simvec, str(work / "shards" / "*.jsonl"), "-o", str(ray_out), "--id-field", "id"]
            ray += ["--engine", "ray", "--workers", str(args.workers), "--backend", args.backend]
            order = [("local", local), ("ray", ray)] if round_ % 2 == 0 else [("ray", ray), ("local", local)]
            seconds = {name: timed(command) for name, command in order}
            expected = vectors_by_id([local_out])
            got = vectors_by_id(sorted(ray_out.glob("*/*.parquet")))
            assert got.keys() == expected.keys(), "the Ray job's ids differ from the local ones"
            keys = sorted(expected)
            a, b = np.stack([expected[k] for k in keys]), np.stack([got[k] for k in keys])
            cosine = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
            rows.append(
                {
                    "round": round_,
                    "local_s": seconds["local"],
                    "ray_s": seconds["ray"],
                    "ratio": seconds["ray"] / seconds["local"],
                    "min_cosine": float(cosine.min()),
                }
            )
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"{args.texts:,} {args.corpus} texts in {args.shards} shards, backend {args.backend}, "
        f"{args.workers} Ray workers"
    )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print("| round | local s | local texts/s | ray s | ray texts/s | ray / local | min cosine |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['round']} | {row['local_s']:.1f} | {args.texts / row['local_s']:.0f} | {row['ray_s']:.1f} "
            f"| {args.texts / row['ray_s']:.0f} | {row['ratio']:.3f}× | {row['min_cosine']:.6f} |"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "texts": args.texts,
                "corpus": args.corpus,
                "shards": args.shards,
                "workers": args.workers,
                "backend": args.backend,
                "load_before": load_before,
                "load_after": load_after,
                "rounds": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
