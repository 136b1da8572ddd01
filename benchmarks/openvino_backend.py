"""OpenVINO int8 as a simvec backend: speed against `onnx-int8` (the default) and batch invariance, same run.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/openvino_backend.py [--rounds 5]

Needs the `bench` extra (OpenVINO, NNCF). The graph is benchmarks/encode.py's `openvino_model` (the torch.onnx
export, NNCF static int8 calibrated on simvec's calibration texts), compiled with INFERENCE_PRECISION_HINT=f32
(this CPU has no AVX-512 BF16; the default hint emulates bf16 on some ops). Each variant runs behind simvec's own
tokenise -> sort -> batch -> pool loop on 128 SciFact documents and 1,024 STS-B test sentences at batch 32:

- `openvino-int8`: batches padded to their longest text, as every simvec backend batches;
- `…-exact-length`: batches of texts with exactly the same token count (no padding at all), the way around
  OpenVINO's padding-dependent int8 kernels that BENCHMARKS.md suggests, for both runtimes.

Speed is the median over interleaved rounds of each round's ratio to `onnx-int8`; invariance is the min cosine
between a text embedded alone and inside a batch of mixed lengths (16 STS-B sentences + 16 SciFact documents).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from encode import DEFAULT_DATA, openvino_model, scifact, stsb_sentences
from simvec.encoders.base import TokenBackend, padded_batch
from simvec.encoders.models import resolve_model
from simvec.encoders.onnx import OnnxBackend
from simvec.encoders.pooling import pool
from simvec.vectors.similarity import l2_normalize


def embed_exact_length(backend: TokenBackend, texts: list[str], batch_size: int) -> np.ndarray:
    """simvec's token loop, except that a batch holds only texts of one token count: no padding at all."""
    encodings = backend.tokenizer.encode_batch(backend._prepare(texts))
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    out = np.empty((len(texts), backend.card.dimension), dtype=np.float32)
    order = np.argsort(-lengths, kind="stable")
    starts = np.flatnonzero(np.diff(lengths[order], prepend=-1))  # where the token count changes
    for begin, end in zip(starts, [*starts[1:], len(order)], strict=True):
        for batch_start in range(begin, end, batch_size):
            rows = order[batch_start : min(batch_start + batch_size, end)]
            input_ids, attention_mask = padded_batch(encodings, lengths, rows)
            out[rows] = pool(backend.forward(input_ids, attention_mask), attention_mask, backend.card.pooling)
    return out


class OpenVinoInt8(TokenBackend):
    """simvec's token loop over OpenVINO's NNCF int8 graph."""

    name = "openvino-int8"

    def __init__(self, card) -> None:
        import openvino as ov

        super().__init__(card)
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        compiled = ov.Core().compile_model(openvino_model(card, int8=True), "CPU", config)
        self.request = compiled.create_infer_request()

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": np.zeros_like(input_ids)}
        return self.request.infer(feed)[0].copy()


class ExactLength:
    """A backend whose batches hold texts of exactly one token count."""

    def __init__(self, backend: TokenBackend) -> None:
        self.backend, self.name = backend, f"{backend.name}-exact-length"

    def embed(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, None]:
        return embed_exact_length(self.backend, texts, batch_size), None


def invariance(backend, short: list[str], long: list[str]) -> float:
    mixed = [text for pair in zip(short, long, strict=True) for text in pair]
    together = l2_normalize(backend.embed(mixed, len(mixed))[0])
    alone = l2_normalize(np.concatenate([backend.embed([text], 1)[0] for text in mixed]))
    return float((together * alone).sum(axis=1).min())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    card = resolve_model(None)
    _, docs, _, _ = scifact(args.data)
    sentences = stsb_sentences(args.data)
    onnx, openvino = OnnxBackend(card, int8=True), OpenVinoInt8(card)
    backends = [onnx, ExactLength(onnx), openvino, ExactLength(openvino)]
    datasets = {"SciFact docs (128)": docs[:128], "STS-B sentences (1,024)": sentences[:1024]}
    for backend in backends:
        backend.embed(sentences[:64], 32)  # warm up
    ratios: dict[tuple[str, str], list[float]] = {}
    for name, texts in datasets.items():
        for round_number in range(args.rounds):
            seconds = {}
            for backend in backends[round_number % len(backends) :] + backends[: round_number % len(backends)]:
                started = time.perf_counter()
                backend.embed(texts, 32)
                seconds[backend.name] = time.perf_counter() - started
            for backend in backends:
                ratios.setdefault((name, backend.name), []).append(seconds["onnx-int8"] / seconds[backend.name])
    print(f"load average at the end: {os.getloadavg()[0]:.1f}; {args.rounds} interleaved rounds, batch 32\n")
    print("| variant | " + " | ".join(datasets) + " | alone vs batch, mixed lengths |")
    print("|---|" + "---:|" * (len(datasets) + 1))
    for backend in backends:
        speeds = [f"{statistics.median(ratios[(name, backend.name)]):.2f}" for name in datasets]
        print(
            f"| {backend.name} | " + " | ".join(speeds) + f" | {invariance(backend, sentences[:16], docs[:16]):.6f} |"
        )


if __name__ == "__main__":
    main()
