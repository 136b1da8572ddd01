"""Compression trade-offs: measure codec configurations on real vectors, benchmark them on BEIR, tune under a RAM budget.

Every configuration runs the same code a compressed collection runs (`CodeIndex` first stage, `RescoreStore`
memory-mapped second stage) on the same stored vectors, and is compared with exact float32 search in the same run:
nDCG@10 (pytrec_eval, through the retrieval runner's `score_run`) when there are judged queries, recall@10 against
float32 exact top-10 always. RAM bytes/vector counts the codes the first stage keeps in RAM; disk bytes/vector the
memory-mapped rescoring rows (read per candidate; the 8-byte label per vector that every index has is left out).
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simvec.atomic import atomic_write
from simvec.encoders import Encoder
from simvec.errors import CodecError
from simvec.eval.readers import BeirData, read_beir
from simvec.eval.retrieval import build_collection, collection_for, default_cache_dir, ranked_run, score_run
from simvec.index import exact_search
from simvec.index.compressed import CodeIndex, RescoreStore, rescore
from simvec.vectors.compression_spec import (
    CompressionSpec,
    disk_bytes_per_vector,
    parse_compression,
    ram_bytes_per_vector,
)

K = 10
Progress = Callable[[str], None]  # receives one line of progress ("measuring pq48", "skipped ...")
ST_RESCORE_MULTIPLIER = 4  # sentence-transformers' semantic_search_faiss default for binary rescoring


def bench_specs(dimension: int) -> list[str | dict]:
    """The benchmark grid: plain precisions, binary with/without rotation and rescoring, PQ/OPQ, truncation x codec."""
    grid: list[str | dict] = [
        "float16",
        "int8",
        {"codec": "binary", "rescore": "none"},
        "binary",
        {"codec": "binary", "rescore": "float32"},
        {"codec": "binary-itq", "rescore": "none"},
        "binary-itq",
    ]
    for m in (16, 24, 32, 48, 64):
        grid += [{"codec": f"pq{m}", "rescore": "none"}, f"pq{m}"]
    grid += ["opq24", "opq48"]
    for t in (256, 192, 128):
        grid += [
            f"t{t}-float32",
            f"t{t}-int8",
            {"codec": "binary", "truncate_dim": t, "rescore": "none"},
            f"t{t}-binary",
            f"t{t}-binary-itq",
        ]
    for p in (256, 192, 128):  # PCA then ITQ: the whole spectrum squeezed into fewer balanced bits
        grid += [f"pca{p}-binary-itq", {"codec": "binary-itq", "pca_dim": p, "rescore": "float32"}]
    grid += [{"codec": "binary-itq", "pca_dim": 192, "rescore_multiplier": 4}, {"codec": "pq24", "rescore": "float32"}]
    return [spec for spec in grid if _valid(spec, dimension)]


def tune_specs(dimension: int) -> list[str | dict]:
    """The tuner's candidates: cheap-to-fit configurations spanning 4-1536 bytes/vector."""
    grid: list[str | dict] = ["float16", "int8", "binary", "binary-itq"]
    grid += [f"pca{p}-binary-itq" for p in (256, 192, 128, 64)]
    grid += [f"pq{m}" for m in (8, 16, 24, 32, 48, 64, 96)]
    grid += [f"t{t}-int8" for t in (256, 192, 128)]
    return [spec for spec in grid if _valid(spec, dimension)]


def _valid(spec: str | dict, dimension: int) -> bool:
    try:
        parse_compression(spec, dimension=dimension)
        return True
    except CodecError:
        return False


@dataclass
class Measurement:
    """One configuration measured against float32 exact search on the same queries."""

    config: str
    ram_bytes_per_vector: int
    disk_bytes_per_vector: int
    recall_at_10: float
    ndcg_at_10: float | None = None
    retention: float | None = None  # nDCG@10 / float32 exact nDCG@10 (with qrels), else recall@10
    qps: float = 0.0
    anchor: str | None = None
    spec: dict | None = None  # the CompressionSpec fields (None for float32 exact), to apply it

    def as_dict(self) -> dict:
        return asdict(self)


class Workbench:
    """Document vectors, query vectors and the float32 exact ground truth, ready to measure configurations on."""

    def __init__(
        self,
        ids: list[str],
        vectors: np.ndarray,
        queries: np.ndarray,
        *,
        metric: str = "ip",
        query_ids: list[str] | None = None,
        qrels: dict[str, dict[str, int]] | None = None,
    ) -> None:
        self.ids, self.vectors, self.queries, self.metric = (
            np.asarray(ids),
            np.ascontiguousarray(vectors, np.float32),
            np.ascontiguousarray(queries, np.float32),
            metric,
        )
        self.labels = np.arange(1, len(ids) + 1, dtype=np.int64)
        self.query_ids, self.qrels = query_ids, qrels
        self.dimension = self.vectors.shape[1]
        self._dir = tempfile.TemporaryDirectory(prefix="simvec-bench-")
        start = time.perf_counter()
        scores, labels = exact_search(self.queries, self.vectors, self.labels, K, metric)
        self.exact_qps = len(self.queries) / (time.perf_counter() - start)
        self.truth = labels
        self.exact_ndcg = self._ndcg(scores, labels)

    def close(self) -> None:
        self._dir.cleanup()

    def _ndcg(self, scores: np.ndarray, labels: np.ndarray) -> float | None:
        if self.qrels is None:
            return None
        # labels are 1-based positions in self.ids; FAISS pads missing hits with -1 (a negative position)
        return score_run(self.qrels, ranked_run(self.query_ids, self.ids, scores, labels - 1))["ndcg@10"]

    def _result(
        self,
        config: str,
        spec: CompressionSpec | None,
        scores: np.ndarray,
        labels: np.ndarray,
        seconds: float,
        anchor: str | None = None,
    ) -> Measurement:
        recall = float(
            np.mean(
                [len(set(found[found > 0]) & set(truth)) / K for found, truth in zip(labels, self.truth, strict=False)]
            )
        )
        ndcg = self._ndcg(scores, labels)
        return Measurement(
            config,
            ram_bytes_per_vector(spec, self.dimension),
            disk_bytes_per_vector(spec, self.dimension),
            recall,
            ndcg,
            ndcg / self.exact_ndcg if ndcg is not None else recall,
            len(self.queries) / seconds,
            anchor,
            spec.as_dict() if spec else None,
        )

    def exact(self) -> Measurement:
        """float32 exact search: the reference every retention is relative to."""
        start = time.perf_counter()
        scores, labels = exact_search(self.queries, self.vectors, self.labels, K, self.metric)
        return self._result("float32 (exact)", None, scores, labels, time.perf_counter() - start, "exact float32")

    def measure(self, spec: str | dict | CompressionSpec, anchor: str | None = None) -> Measurement:
        """Fit `spec` on the documents, then time first stage + rescoring of every query (one batch)."""
        spec = parse_compression(spec, dimension=self.dimension)
        index = CodeIndex.build(spec, self.metric, self.dimension, self.labels, self.vectors)
        store = None
        if spec.rescore != "none":
            store = RescoreStore.write(
                Path(self._dir.name) / f"{re.sub(r'[^a-z0-9]', '_', spec.name)}.vec",
                spec.rescore,
                self.labels,
                self.vectors,
                generation=0,
            )
        start = time.perf_counter()
        depth = K * spec.rescore_multiplier if store else K
        scores, labels = index.search(self.queries, depth)
        if store is not None:
            scores, labels = rescore(
                self.queries, labels, K, self.metric, lambda wanted: store.vectors(wanted, _no_missing)
            )
        return self._result(spec.name, spec, scores, labels, time.perf_counter() - start, anchor)

    def measure_binary_asymmetric(self) -> Measurement:
        """The sentence-transformers recipe: Hamming top 4k, rescored by the float query against the +-1 bits."""
        spec = parse_compression({"codec": "binary", "rescore": "none"}, dimension=self.dimension)
        index = CodeIndex.build(spec, self.metric, self.dimension, self.labels, self.vectors)
        codes = index.compressor.encode(self.vectors)
        start = time.perf_counter()
        _, labels = index.search(self.queries, K * ST_RESCORE_MULTIPLIER)
        signs = lambda wanted: np.unpackbits(codes[wanted - 1], axis=1, count=self.dimension).astype(np.float32) * 2 - 1  # noqa: E731
        scores, labels = rescore(self.queries, labels, K, "ip", signs)
        result = self._result(
            "binary+float-query-vs-bits",
            spec,
            scores,
            labels,
            time.perf_counter() - start,
            "binary, sentence-transformers rescoring",
        )
        return result


def beir_workbench(
    directory: str | Path, encoder: Encoder, *, split: str = "test", cache_dir: str | Path | None = None
) -> tuple[Workbench, BeirData]:
    """A BEIR dataset's corpus vectors (embedded once, kept in the cached corpus collection) and judged queries."""
    beir = read_beir(directory, split)
    path = collection_for(beir, Path(cache_dir) if cache_dir else default_cache_dir(), encoder)
    with build_collection(beir, path, encoder) as collection:  # embeds only documents not cached yet
        ids, vectors = collection.matrix()
    query_ids = list(beir.queries)
    queries = encoder.encode_queries([beir.queries[q] for q in query_ids], show_progress=False)
    return Workbench(ids, vectors, queries, query_ids=query_ids, qrels=beir.qrels), beir


def _no_missing(labels: np.ndarray) -> np.ndarray:
    raise AssertionError(f"{len(labels)} labels missing from a freshly written rescoring file")


def run_benchmark(
    workbench: Workbench, specs: list[str | dict] | None = None, *, progress: Progress | None = None
) -> list[Measurement]:
    """float32 exact, the sentence-transformers binary anchor, and every spec of the grid, in one run."""
    results = [workbench.exact(), workbench.measure_binary_asymmetric()]
    for spec in specs if specs is not None else bench_specs(workbench.dimension):
        if progress:
            progress(f"measuring {spec}")
        results.append(workbench.measure(spec))
    return results


def pareto_front(results: list[Measurement]) -> list[Measurement]:
    """Configurations no other beats on both RAM (lower) and retention (higher), cheapest first."""
    front, best = [], -np.inf
    for result in sorted(results, key=lambda r: (r.ram_bytes_per_vector, -(r.retention or 0))):
        if (result.retention or 0) > best:
            front.append(result)
            best = result.retention or 0
    return front


def plot(results: list[Measurement], path: str | Path, title: str) -> None:
    """Retention vs RAM bytes/vector (log scale): every configuration, and a zoom on 95-100% with the Pareto front named.

    Filled markers rescore candidates from disk; hollow ones use the first stage alone.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    colours = {
        "float": "tab:gray",
        "int8": "tab:blue",
        "binary": "tab:red",
        "pq": "tab:green",
        "opq": "tab:olive",
        "pca": "tab:purple",
    }

    def family(config: str) -> str:
        return next((key for key in ("pca", "opq", "pq", "binary", "int8") if key in config), "float")

    front = pareto_front(results)
    fig, axes = plt.subplots(1, 2, figsize=(16, 7), dpi=110, gridspec_kw={"width_ratios": [1, 1.4]})
    for ax, low in zip(axes, (None, 95.0), strict=False):
        for key, colour in colours.items():
            for rescored in (False, True):
                pts = [r for r in results if family(r.config) == key and (r.disk_bytes_per_vector > 0) == rescored]
                if pts:
                    ax.scatter(
                        [r.ram_bytes_per_vector for r in pts],
                        [100 * r.retention for r in pts],
                        s=40,
                        alpha=0.85,
                        facecolors=colour if rescored else "none",
                        edgecolors=colour,
                        linewidths=1.3,
                        label=f"{key}{' + rescore' if rescored else ''}",
                    )
        ax.step(
            [r.ram_bytes_per_vector for r in front],
            [100 * r.retention for r in front],
            where="post",
            color="black",
            lw=1.3,
            label="Pareto front",
        )
        for y in (97, 99, 99.5):
            ax.axhline(y, color="gray", ls="--", lw=0.7)
            ax.text(4.2, y + 0.05, f"{y}%", fontsize=7, color="gray")
        for x in (24, 48, 384):
            ax.axvline(x, color="gray", ls=":", lw=0.7)
        ax.set_xscale("log", base=2)
        ax.set_xlim(3.5, 2048)
        ax.set_xticks([4, 8, 16, 24, 32, 48, 64, 128, 256, 384, 768, 1536])
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("RAM bytes per vector (codes held in RAM; log scale)")
        ax.set_ylabel("nDCG@10 retention vs float32 exact (%)")
        ax.grid(True, alpha=0.25)
        if low is None:
            ax.set_ylim(min(100 * (r.retention or 0) for r in results) - 2, 101)
            ax.set_title("all configurations")
        else:
            ax.set_ylim(low, 100.6)
            ax.set_title("zoom: 95-100%, Pareto front named")
            for n, r in enumerate(front):
                ax.annotate(
                    r.config,
                    (r.ram_bytes_per_vector, 100 * r.retention),
                    textcoords="offset points",
                    xytext=(6, -14 if n % 2 else 6),
                    fontsize=8,
                    arrowprops={"arrowstyle": "-", "lw": 0.5},
                )
            ax.legend(loc="lower right", fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---- the tuner -------------------------------------------------------------------------------------


TUNE_FILE = "tune.json"  # `simvec tune` leaves its measurements in the collection's directory; the console charts them


def save_tune_report(directory: Path, report: dict) -> None:
    """Keep the last `simvec tune` report (JSON) beside the collection it measured."""
    atomic_write(Path(directory) / TUNE_FILE, lambda handle: handle.write(json.dumps(report, indent=1).encode()))


@dataclass
class TuneResult:
    """What the tuner measured and what it chose (None when nothing met the target)."""

    measured: list[Measurement]
    chosen: Measurement | None
    best: Measurement | None
    reason: str
    metric: str


def pseudo_queries(texts: list[str], n: int = 200, seed: int = 0) -> list[str]:
    """One sentence from each of n sampled documents (the longest of its first three): stand-in queries."""
    rng = np.random.default_rng(seed)
    picked = [texts[i] for i in rng.permutation(len(texts))[: min(n, len(texts))] if texts[i]]
    queries = []
    for text in picked:
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 10][:3]
        queries.append(max(sentences, key=len) if sentences else text[:200])
    return queries


def tune(
    workbench: Workbench,
    ram_budget: int,
    min_retention: float,
    specs: list[str | dict] | None = None,
    *,
    progress: Progress | None = None,
) -> TuneResult:
    """The cheapest configuration (RAM, then disk) within the budget whose retention meets the target."""
    metric = "nDCG@10 retention" if workbench.qrels is not None else "recall@10 vs float32 exact"
    candidates = [
        s
        for s in (specs or tune_specs(workbench.dimension))
        if ram_bytes_per_vector(parse_compression(s, dimension=workbench.dimension), workbench.dimension) <= ram_budget
    ]
    measured = []
    for spec in candidates:
        if progress:
            progress(f"measuring {spec}")
        try:
            measured.append(workbench.measure(spec))
        except CodecError as exc:  # e.g. PQ on a collection smaller than its codebooks
            if progress:
                progress(f"skipped {spec}: {exc}")
    meeting = [m for m in measured if m.retention >= min_retention]
    best = max(measured, key=lambda m: (m.retention, -m.ram_bytes_per_vector), default=None)
    if meeting:
        chosen = min(meeting, key=lambda m: (m.ram_bytes_per_vector, m.disk_bytes_per_vector, -m.retention))
        reason = (
            f"{chosen.config} is the cheapest of {len(meeting)} configuration(s) meeting {min_retention:.1%} "
            f"({metric} {chosen.retention:.2%}) within {ram_budget} RAM bytes/vector"
        )
        return TuneResult(measured, chosen, best, reason, metric)
    if best is None:
        reason = f"no configuration fits in {ram_budget} RAM bytes/vector (the smallest candidate needs more)"
    else:
        reason = (
            f"no configuration within {ram_budget} RAM bytes/vector reaches {min_retention:.1%} ({metric}); "
            f"best found: {best.config} at {best.retention:.2%} with {best.ram_bytes_per_vector} bytes/vector"
        )
    return TuneResult(measured, None, best, reason, metric)
