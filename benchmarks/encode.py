"""Encode speed and quality: every simvec backend vs sentence-transformers, same model, same texts, same run.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/encode.py                 # full run (takes a while)
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/encode.py --quick         # a reduced run in a few minutes
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/encode.py --backends torch --no-quality

Speed: texts/s and tokens/s of `Encoder(backend=...).encode` and of `SentenceTransformer.encode` on STS-B test
sentences and SciFact documents (title + " " + text) at several batch sizes; the ratio is simvec / ST measured in
this run: the texts are split into --rounds chunks, every contender embeds each chunk in turn (rotating order),
and the ratio is the median of the per-chunk ratios (timings on a shared machine are noisy, so only same-run,
same-moment ratios mean anything). texts/s is the total over all chunks. Tokens are the model's
tokenizer count after truncation, the same for every backend, so tokens/s is texts/s scaled by the mean length.
Latency: one text per call, p50/p99 over STS-B sentences. Quality: STS-B test Spearman (simvec.eval.sts) and
SciFact nDCG@10 on the 300 test queries (exact top-k from simvec.vectors.similarity, scored by simvec.eval's
pytrec_eval runner), both read with simvec.eval's readers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from simvec.encoders.backends import CONCRETE_BACKENDS as ALL_BACKENDS  # after HF_HUB_OFFLINE: nothing may
from simvec.eval.readers import read_beir  # reach the Hub
from simvec.eval.retrieval import ranked_run, score_run
from simvec.eval.sts import evaluate_sts, read_stsb
from simvec.vectors.similarity import top_k

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("SIMVEC_DATA", REPO.parent / "shared" / "data"))
ANCHOR = "sentence-transformers"
# Peers besides the anchor (benchmark-only dependencies: `pip install simvec[bench]`). Each is tried and, when
# it cannot load the local model offline, reported with the exact reason instead of a number.
PEERS = ("st-onnx", "st-onnx-int8-avx512_vnni", "st-openvino", "fastembed", "openvino", "openvino-int8-static")


def stsb_sentences(data: Path) -> list[str]:
    """Distinct STS-B test sentences in file order (simvec's STS-B reader)."""
    pairs = read_stsb(data / "stsb", "test")
    return list(dict.fromkeys(s for pair in zip(pairs.sentences1, pairs.sentences2, strict=True) for s in pair))


def scifact(data: Path) -> tuple[list[str], list[str], dict[str, str], dict[str, dict[str, int]]]:
    """SciFact through simvec's BEIR reader: doc ids, doc texts (title + " " + text), test queries, test qrels."""
    beir = read_beir(data / "scifact", "test")
    return list(beir.corpus), list(beir.corpus.values()), beir.queries, beir.qrels


def load_contender(name: str):
    """encode(texts, batch_size) -> vectors for an `Encoder` backend, the sentence-transformers anchor, or a peer."""
    if name == ANCHOR:
        from sentence_transformers import SentenceTransformer

        from simvec.encoders.models import default_model_path

        model = SentenceTransformer(str(default_model_path()), device="cpu")
        return lambda texts, batch_size: model.encode(
            texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )
    if name in PEERS:
        return load_peer(name)
    from simvec import Encoder

    encoder = Encoder(backend=name)
    return lambda texts, batch_size: encoder.encode(texts, batch_size=batch_size, show_progress=False)


def _serve(name: str, connection) -> None:
    """A contender's own process: load it, then answer (texts, batch_size) with (seconds, vectors) until None."""
    try:
        started = time.perf_counter()
        encode = load_contender(name)
        encode(["warm up the kernels and allocators", "a second, longer warm-up sentence " * 8], 2)
        connection.send(("ready", time.perf_counter() - started))
    except Exception as exc:  # reported by the parent as "unavailable", with the reason
        connection.send(("error", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"))
        return
    while (request := connection.recv()) is not None:
        texts, batch_size = request
        started = time.perf_counter()
        vectors = np.asarray(encode(texts, batch_size), dtype=np.float32)
        connection.send((time.perf_counter() - started, vectors))


class Contender:
    """One thing being timed, in its own process: runtimes keep thread pools (torch's OpenMP threads spin after
    each call, OpenVINO's and ONNX Runtime's have their own), and in one process they would slow each other down.
    Seconds are measured inside that process, so the pipe's transfer is not counted."""

    def __init__(self, name: str) -> None:
        import multiprocessing

        self.name = name
        self.connection, child = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=_serve, args=(name, child), daemon=True)
        self.process.start()
        status, value = self.connection.recv()
        if status == "error":
            self.process.join()
            raise RuntimeError(value)
        self.load_seconds, self.last_seconds = value, 0.0

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        self.connection.send((list(texts), batch_size))
        self.last_seconds, vectors = self.connection.recv()
        return vectors

    def close(self) -> None:
        self.connection.send(None)
        self.process.join(timeout=30)


def _st(backend: str, **kwargs):
    from sentence_transformers import SentenceTransformer

    from simvec.encoders.models import default_model_path

    return SentenceTransformer(str(default_model_path()), device="cpu", backend=backend, **kwargs)


def load_peer(name: str):
    """encode(texts, batch_size) -> normalised vectors for a peer; raises with the reason it cannot run here."""
    if name.startswith("st-"):
        if name == "st-onnx-int8-avx512_vnni":
            from sentence_transformers import export_dynamic_quantized_onnx_model

            model = _st("onnx")
            export_dynamic_quantized_onnx_model(model, "avx512_vnni", str(bench_dir() / "st-onnx"))
            model = _st("onnx", model_kwargs={"file_name": "onnx/model_qint8_avx512_vnni.onnx"})
        else:
            model = _st(name.removeprefix("st-"))
        return lambda texts, batch_size: model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
    if name == "fastembed":
        from fastembed import TextEmbedding  # noqa: F401  (local-files loading is not reached: see BENCHMARKS.md)
    # OpenVINO runtime on the same torch.onnx export as simvec, behind simvec's tokenise/sort/pool loop: the
    # configuration sentence-transformers' openvino backend runs (optimum-intel -> openvino), and its static int8
    # export (NNCF post-training quantisation, calibrated here on simvec's own calibration texts).
    from simvec.encoders.base import TokenBackend
    from simvec.encoders.models import resolve_model
    from simvec.encoders.openvino import import_without_telemetry
    from simvec.vectors.similarity import l2_normalize

    ov = import_without_telemetry("openvino")
    card = resolve_model(None)
    path = openvino_model(card, int8=name == "openvino-int8-static")
    compiled = ov.Core().compile_model(path, "CPU", {"PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    names = {port.get_any_name() for port in compiled.inputs}

    class OpenVinoPeer(TokenBackend):
        def forward(self, input_ids, attention_mask):
            feed = {"input_ids": input_ids, "attention_mask": attention_mask}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.zeros_like(input_ids)
            return request.infer(feed)[0].copy()

    peer = OpenVinoPeer(card)
    return lambda texts, batch_size: l2_normalize(peer.embed(texts, batch_size)[0])


def bench_dir() -> Path:
    from simvec.encoders.artifacts import cache_dir

    return cache_dir() / "bench-peers"


def openvino_model(card, int8: bool) -> str:
    """The raw torch.onnx export (no ORT fusions: OpenVINO does its own), NNCF-quantised for int8; built once."""
    from simvec.encoders.onnx import export_fp32
    from simvec.encoders.openvino import import_without_telemetry

    ov = import_without_telemetry("openvino")

    out = bench_dir() / "openvino"
    raw, quantised = out / "raw.onnx", out / "int8.xml"
    if not raw.exists():
        out.mkdir(parents=True, exist_ok=True)
        from unittest import mock

        with mock.patch.object(Path, "unlink", lambda self, *a, **k: None):  # keep export_fp32's raw.onnx
            export_fp32(card, out)
    if int8 and not quantised.exists():
        nncf = import_without_telemetry("nncf")

        from simvec.encoders.base import load_tokenizer
        from simvec.encoders.calibration import calibration_text, parse_calibration

        tokenizer = load_tokenizer(card)
        feeds = []
        for encoding in tokenizer.encode_batch(parse_calibration(calibration_text(), "calibration.txt")):
            ids = np.asarray([encoding.ids], dtype=np.int64)
            feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
        model = ov.Core().read_model(str(raw))
        quantized = nncf.quantize(
            model, nncf.Dataset(feeds), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(feeds)
        )
        ov.save_model(quantized, str(quantised))
    return str(quantised if int8 else raw)


def timed(contender: Contender, texts: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    vectors = contender.encode(texts, batch_size)
    return contender.last_seconds, vectors


def interleaved(contenders: list[Contender], texts: list[str], batch_size: int, rounds: int):
    """Time every contender on the same chunks, round by round, in rotating order.

    The machine is shared, so load drifts during a run: a ratio taken within one round compares contenders
    under (nearly) the same load, and the median over rounds discards rounds a load spike hit unevenly.
    Returns total seconds per contender, its median per-round speed ratio vs the anchor (contenders[0]),
    and each contender's vectors for all of `texts`.
    """
    bounds = np.linspace(0, len(texts), min(rounds, len(texts)) + 1).astype(int)
    seconds = {c.name: [] for c in contenders}
    parts: dict[str, list[np.ndarray]] = {c.name: [] for c in contenders}
    for k, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=False)):
        for contender in contenders[k % len(contenders) :] + contenders[: k % len(contenders)]:
            took, vectors = timed(contender, texts[start:stop], batch_size)
            seconds[contender.name].append(took)
            parts[contender.name].append(vectors)
    anchor = np.asarray(seconds[contenders[0].name])
    ratios = {name: float(np.median(anchor / np.asarray(s))) for name, s in seconds.items()}
    return {n: sum(s) for n, s in seconds.items()}, ratios, {n: np.concatenate(p) for n, p in parts.items()}


def latency_ms(contender: Contender, texts: list[str]) -> tuple[float, float]:
    """p50 and p99 milliseconds of encoding one text per call."""
    samples = []
    for text in texts:
        contender.encode([text], 1)
        samples.append(contender.last_seconds * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.99 * len(samples)))]


def batch_invariance(contender: Contender, short: list[str], long: list[str]) -> float:
    """Min cosine between a text embedded alone and the same text inside batches of 32 mixed-length texts."""
    alone = np.concatenate([_unit(contender.encode([t], 1)) for t in short])
    mixed = [t for pair in zip(short, long, strict=True) for t in pair]
    batched = _unit(contender.encode(mixed, 32))[0::2]
    return float((alone * batched).sum(axis=1).min())


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, np.shape(vectors)[-1])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def ndcg_at_10(doc_ids: list[str], doc_vecs: np.ndarray, query_ids: list[str], query_vecs: np.ndarray, qrels) -> float:
    """Mean nDCG@10 of exact cosine top-10 (simvec.vectors.similarity), scored as `simvec eval retrieval` scores."""
    scores, positions = top_k(query_vecs, doc_vecs, 10, "cosine")
    return score_run(qrels, ranked_run(query_ids, doc_ids, scores, positions))["ndcg@10"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared/data folder (stsb/, scifact/)")
    parser.add_argument("--backends", default=",".join(ALL_BACKENDS), help="comma-separated simvec backends")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers (empty: none)")
    parser.add_argument("--batch-sizes", default="1,32,128")
    parser.add_argument("--limit", type=int, default=None, help="at most this many texts per dataset (speed)")
    parser.add_argument(
        "--bs1-limit", type=int, default=200, help="STS-B texts timed at batch size 1 (SciFact: a quarter)"
    )
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds per cell (the texts split in chunks)")
    parser.add_argument("--latency-texts", type=int, default=100, help="single-text calls for the latency figures")
    parser.add_argument("--no-quality", action="store_true", help="skip STS-B Spearman and SciFact nDCG@10")
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput table (latency and quality only)")
    parser.add_argument("--no-anchor-quality", action="store_true", help="quality for simvec backends only")
    parser.add_argument("--quick", action="store_true", help="reduced run: --limit 400 --bs1-limit 50, small corpus")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.limit = args.limit or 400
        args.bs1_limit, args.latency_texts = min(args.bs1_limit, 50), min(args.latency_texts, 30)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    sts = stsb_sentences(args.data)
    doc_ids, docs, queries, qrels = scifact(args.data)
    datasets = {"STS-B test sentences": sts, "SciFact docs": docs}
    if args.limit:
        datasets = {name: texts[: args.limit] for name, texts in datasets.items()}

    contenders = [Contender(ANCHOR)]
    unavailable: dict[str, str] = {}
    for name in args.backends + args.peers:
        try:
            contenders.append(Contender(name))
        except RuntimeError as exc:  # a peer that cannot run here is reported with its reason, not dropped silently
            unavailable[name] = str(exc)
            print(f"  {name} unavailable: {unavailable[name]}", file=sys.stderr, flush=True)
    from simvec import Encoder

    token_counter = Encoder(backend="torch")
    results: dict = {"speed": [], "latency": {}, "quality": {}, "load_seconds": {}, "unavailable": unavailable}
    corpus_vectors: dict[str, np.ndarray] = {}  # the full SciFact corpus, when a speed run embedded it
    for dataset, texts in datasets.items() if not args.no_speed else ():
        for batch_size in args.batch_sizes:
            bs1_limit = args.bs1_limit if dataset.startswith("STS") else max(1, args.bs1_limit // 4)
            subset = texts[:bs1_limit] if batch_size == 1 else texts
            tokens = sum(token_counter.count_tokens(subset))
            seconds_by, ratio_by, vectors = interleaved(contenders, subset, batch_size, args.rounds)
            if dataset == "SciFact docs" and len(subset) == len(doc_ids):
                corpus_vectors.update(vectors)
            for contender in contenders:
                seconds, ratio = seconds_by[contender.name], ratio_by[contender.name]
                rate = len(subset) / seconds
                row = {
                    "dataset": dataset,
                    "batch_size": batch_size,
                    "texts": len(subset),
                    "contender": contender.name,
                    "texts_per_s": rate,
                    "tokens_per_s": tokens / seconds,
                    "ratio": ratio,
                }
                results["speed"].append(row)
                print(
                    f"  {dataset:<22} bs={batch_size:<4} {contender.name:<22} {rate:9.1f} texts/s  "
                    f"{tokens / seconds:10.0f} tok/s  x{ratio:.2f}",
                    file=sys.stderr,
                    flush=True,
                )
    latency_texts = sts[: args.latency_texts]
    results["invariance"] = {}
    for contender in contenders:
        results["latency"][contender.name] = latency_ms(contender, latency_texts)
        results["invariance"][contender.name] = batch_invariance(contender, sts[:40], docs[:40])
        results["load_seconds"][contender.name] = contender.load_seconds

    if not args.no_quality:
        results["quality"] = quality(args, contenders, corpus_vectors, doc_ids, docs, queries, qrels)
    for contender in contenders:
        contender.close()
    print_tables(results, datasets, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def quality(args, contenders, corpus_vectors, doc_ids, docs, queries, qrels) -> dict:
    """STS-B test Spearman and SciFact nDCG@10 per contender (quick runs use a corpus subset, labelled)."""
    pairs = read_stsb(args.data / "stsb", "test")
    if args.quick:  # the relevant documents plus the first --limit others: nDCG on a small, easier corpus
        relevant = {d for judged in qrels.values() for d in judged}
        keep = [i for i, d in enumerate(doc_ids) if d in relevant or i < (args.limit or 0)]
        doc_ids, docs = [doc_ids[i] for i in keep], [docs[i] for i in keep]
    query_ids, query_texts = list(queries), list(queries.values())
    out = {"corpus_docs": len(doc_ids)}
    for contender in contenders:
        if contender.name == ANCHOR and args.no_anchor_quality:
            continue
        sts = evaluate_sts(contender, pairs, n_resamples=200)  # Contender.encode(texts, batch_size=...)
        doc_vecs = corpus_vectors.get(contender.name)
        if doc_vecs is None or len(doc_vecs) != len(doc_ids):
            doc_vecs = contender.encode(docs, 64)
        ndcg = ndcg_at_10(doc_ids, doc_vecs, query_ids, contender.encode(query_texts, 64), qrels)
        out[contender.name] = {"spearman": sts.spearman / 100, "ndcg@10": ndcg}
        print(f"  quality {contender.name:<22} Spearman {sts.spearman / 100:.4f}  nDCG@10 {ndcg:.4f}", file=sys.stderr)
    return out


def print_tables(results: dict, datasets: dict, args) -> None:
    print(f"\n## Encode speed (texts/s, tokens/s; ratio = simvec / {ANCHOR} in this run)\n")
    print("| dataset | batch | texts | contender | texts/s | tokens/s | ratio |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for r in results["speed"]:
        print(
            f"| {r['dataset']} | {r['batch_size']} | {r['texts']} | {r['contender']} | {r['texts_per_s']:.1f} "
            f"| {r['tokens_per_s']:.0f} | {r['ratio']:.2f}× |"
        )
    print(f"\n## Single-text latency ({args.latency_texts} STS-B sentences, one per call) and load time\n")
    print("| contender | p50 ms | p99 ms | load s | batch invariance (min cosine alone vs mixed batch) |")
    print("|---|---:|---:|---:|---:|")
    for name, (p50, p99) in results["latency"].items():
        print(
            f"| {name} | {p50:.2f} | {p99:.2f} | {results['load_seconds'][name]:.1f} "
            f"| {results['invariance'][name]:.5f} |"
        )
    for name, why in results["unavailable"].items():
        print(f"\n{name}: not measured: {why}")
    quality_rows = {k: v for k, v in results["quality"].items() if isinstance(v, dict)}
    if quality_rows:
        reference = quality_rows.get("torch") or quality_rows[ANCHOR]
        print(f"\n## Quality (SciFact corpus: {results['quality']['corpus_docs']} docs, 300 test queries)\n")
        print("| contender | STS-B test Spearman | Δ vs torch | SciFact nDCG@10 | Δ vs torch |")
        print("|---|---:|---:|---:|---:|")
        for name, q in quality_rows.items():
            print(
                f"| {name} | {q['spearman']:.4f} | {q['spearman'] - reference['spearman']:+.4f} "
                f"| {q['ndcg@10']:.4f} | {q['ndcg@10'] - reference['ndcg@10']:+.4f} |"
            )


if __name__ == "__main__":
    main()
