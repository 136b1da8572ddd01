"""One process with N intra-op threads vs N processes with one thread each, `onnx-int8`, same texts, same run.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/processes.py

2,048 STS-B test sentences and 128 SciFact documents; a spawn pool of 2 one-thread ONNX Runtime sessions fed
64-text chunks vs one session with the default threads (physical cores), 4 interleaved rounds; prints the median
per-round speed ratio (processes / threads) and the min cosine between the two sets of vectors.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
_backend = None


def _init() -> None:
    global _backend
    from simvec.encoders.models import resolve_model
    from simvec.encoders.onnx import OnnxBackend

    _backend = OnnxBackend(resolve_model(None), int8=True, threads=1)
    _backend.embed(["warm up"], 1)


def _work(texts: list[str]) -> np.ndarray:
    return _backend.embed(texts, 32)[0]


def main() -> None:
    from encode import DEFAULT_DATA, scifact, stsb_sentences
    from simvec.encoders.models import resolve_model
    from simvec.encoders.onnx import OnnxBackend
    from simvec.vectors.similarity import l2_normalize

    _, docs, _, _ = scifact(DEFAULT_DATA)
    one = OnnxBackend(resolve_model(None), int8=True)
    one.embed(["warm up"], 1)
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"), initializer=_init) as pool:
        list(pool.map(_work, [["a"], ["b"]]))
        for name, texts in (("STS-B", stsb_sentences(DEFAULT_DATA)[:2048]), ("SciFact", docs[:128])):
            ratios = []
            for _ in range(4):
                started = time.perf_counter()
                threaded = one.embed(texts, 32)[0]
                middle = time.perf_counter()
                chunks = [texts[i : i + 64] for i in range(0, len(texts), 64)]
                processed = np.concatenate(list(pool.map(_work, chunks)))
                ratios.append((middle - started) / (time.perf_counter() - middle))
            cosine = float((l2_normalize(threaded) * l2_normalize(processed)).sum(axis=1).min())
            print(
                f"{name}: processes/threads speed median {statistics.median(ratios):.2f} "
                f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}), min cosine {cosine:.7f}"
            )


if __name__ == "__main__":
    main()
