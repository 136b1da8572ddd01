"""`backend="auto"`: a rule on the CPU's features picks the runtime; a deterministic check vets it against torch.

The choice is a function of things that do not change between processes: the model's files, the CPU's features
(`/proc/cpuinfo` flags), the installed runtimes and a correctness check whose inputs are fixed. Timing decides
nothing on a CPU a rule covers, so a busy machine cannot flip it and every process of a job (and every node of a
same-kind cluster) embeds in one vector space. The rules, from measurements on both CPU kinds (BENCHMARKS.md,
"Which backend auto picks"):

- AVX-512 VNNI (or AMX): `openvino-int8` first. Its int8 kernels use VNNI's dot products; it measured 157 vs 84
  texts/s for onnx-int8 on a VNNI EPYC and 1.06-1.44x onnx-int8 on a VNNI Xeon.
- AVX2 without any VNNI: `onnx-int8` first. OpenVINO's int8 is slower than its own fp32 there (59.3 vs 43.6 texts/s).
- Anything else (an unknown CPU, flags missing, AVX-VNNI without AVX-512, ARM): a timing race over every candidate,
  with more rounds and a wider margin than a load spike can overcome; the decision is then cached like a rule's.

Candidates are the backends that produce the reference's vector space (onnx-int8, openvino-int8, onnx, torch).
`static` is never chosen: its vectors are a different space. The check embeds a small built-in set with the
candidate and with torch: every text's vector (cosine), every pair's similarity (absolute change), the ranking of
a small retrieval set (top-10 overlap per query), and a few texts alone against inside a batch (so a
batch-dependent backend is never the default). Under a rule, candidates are checked in the rule's order and only
the first that passes is built; a candidate that fails to build is skipped and the decision says why. The decision
is cached per model hash, CPU features, library versions and tolerance; `simvec info` prints the rule and reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simvec.atomic import atomic_write
from simvec.encoders.artifacts import cache_dir, model_hash
from simvec.encoders.backends import load_backend
from simvec.encoders.base import Backend
from simvec.encoders.calibration import CALIBRATION_FILE, calibration_text, parse_calibration
from simvec.encoders.models import ModelCard
from simvec.encoders.quiet import preparing
from simvec.errors import ModelError, SimvecError
from simvec.vectors.similarity import l2_normalize, paired

CANDIDATES = ("onnx-int8", "openvino-int8", "onnx", "torch")
# 4: static onnx-int8; 5: interleaved rounds; 6: openvino-int8; 7: CPU rules, retrieval check, race as a fallback
DECISION_VERSION = "7"
RACE_ROUNDS = 9
RACE_TEXTS = 100
CHECK_DISTRACTORS = 30
CPUINFO = Path("/proc/cpuinfo")
# Built-in check: pairs spanning paraphrase, related and unrelated meaning, short and long, a few scripts.
CHECK_PAIRS = [
    ("A man is playing a guitar.", "Someone plays an acoustic guitar on stage."),
    ("A woman is slicing an onion.", "A person cuts vegetables in the kitchen."),
    ("The stock market fell sharply today.", "Share prices dropped at the close of trading."),
    ("A cat sleeps on the windowsill.", "The committee approved the annual budget."),
    ("How do I reset my password?", "Steps to recover access to your account."),
    ("The train to Berlin was delayed by an hour.", "Rail services were disrupted across Germany."),
    ("Vaccines train the immune system to recognise pathogens.", "Immunisation prepares the body to fight infection."),
    ("She won the chess tournament.", "Heavy rain is expected over the weekend."),
    ("The recipe calls for two cups of flour.", "Bake the bread at 200 degrees for forty minutes."),
    ("Quantum computers use qubits.", "A qubit can be in a superposition of states."),
    ("The dog chased the ball across the park.", "A puppy runs after a toy in the grass."),
    ("Interest rates were raised by the central bank.", "The bank increased borrowing costs to fight inflation."),
    ("I love this phone, the battery lasts all day.", "Terrible phone, it died after two hours."),
    ("Photosynthesis converts light into chemical energy.", "Plants use sunlight to make sugar."),
    ("The museum is closed on Mondays.", "Opening hours: Tuesday to Sunday, 10am to 6pm."),
    ("He fixed the leaking pipe under the sink.", "The plumber repaired the kitchen plumbing."),
    ("Le chat dort sur le canapé.", "The cat is sleeping on the sofa."),
    ("東京は日本の首都です。", "Tokyo is the capital of Japan."),
    ("Der Zug hat Verspätung.", "The flight was cancelled due to fog."),
    ("Mitochondria are the powerhouse of the cell.", "Cellular respiration produces ATP in mitochondria."),
    ("The novel is set in nineteenth-century London.", "A story about Victorian England."),
    ("Turn left at the second traffic light.", "The meeting has been moved to Thursday."),
    ("Deep learning models need large datasets.", "Neural networks are trained on lots of examples."),
    (
        "The clinical trial enrolled 412 patients with moderate asthma, randomised to inhaled corticosteroids or "
        "placebo for 24 weeks; the primary outcome, forced expiratory volume, improved by 11% in the treatment arm "
        "while exacerbations fell by a third, and adverse events were similar between groups.",
        "A randomised controlled study found that inhaled steroids improved lung function in asthma patients.",
    ),
]


@dataclass(frozen=True)
class Tolerance:
    """How close to torch a candidate must stay on the built-in check.

    Calibrated against simvec's quality bar for fast backends (STS-B Spearman within 0.005 of torch): static int8
    scores min cosine ~0.985 / pair Δ ~0.03 / top-10 overlap 0.90-0.93 here (AVX2) and loses 0.1-0.3 Spearman on STS-B
    test, so these defaults admit it, while a broken graph (cosines ~0.9 or lower) fails.
    """

    min_cosine: float = 0.98  # every text's vector vs torch's
    max_pair_delta: float = 0.05  # largest change of a pair's cosine similarity vs torch
    min_rank_overlap: float = 0.8  # mean share of torch's top-10 documents a query keeps (the retrieval check)
    min_batch_cosine: float = 0.9999  # a text embedded alone vs inside a batch: same text, same vector
    race_margin: float = 1.3  # in a race, a later candidate must be this much faster (median ratio) to be preferred


@dataclass(frozen=True)
class Rule:
    """Which candidates to try, in order, on a kind of CPU; no order means a timing race decides."""

    name: str
    why: str
    order: tuple[str, ...] | None


VNNI_RULE = Rule(
    "avx512-vnni",
    "AVX-512 VNNI: OpenVINO's int8 kernels use its dot products (157 vs 84 texts/s for onnx-int8, measured)",
    ("openvino-int8", "onnx-int8", "onnx", "torch"),
)
AVX2_RULE = Rule(
    "avx2",
    "AVX2 without VNNI: ONNX Runtime's int8 is fastest; OpenVINO's int8 is slower than fp32 here (measured)",
    ("onnx-int8", "openvino-int8", "onnx", "torch"),
)
RACE_RULE = Rule("race", "a CPU no rule covers: a timing race over every candidate decides, once", None)


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (x86 `flags`, ARM `Features`), None when there are none to read."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features") and value.strip():
            return frozenset(value.split())
    return None


def cpu_rule(flags: frozenset[str] | None) -> Rule:
    """The rule for a CPU with these flags (the race for flags no rule covers)."""
    if not flags:
        return RACE_RULE
    if "avx512_vnni" in flags or "amx_int8" in flags:
        return VNNI_RULE
    if "avx2" in flags and "fma" in flags and "avx_vnni" not in flags:
        return AVX2_RULE
    return RACE_RULE  # AVX-VNNI without AVX-512, ARM, older x86: not measured, so measured here


# The flags that can change a rule or a runtime's kernels: the cache key holds these, not the whole list (which
# also carries bug and power-management flags that differ between otherwise identical machines).
KEY_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8", "amx_bf16", "asimddp")


def key_features(flags: frozenset[str] | None) -> list[str] | None:
    """The flags of KEY_FLAGS this CPU has, in that order (None for an unknown CPU)."""
    return [flag for flag in KEY_FLAGS if flag in flags] if flags else None


def _vectors(backend: Backend, texts: list[str]) -> np.ndarray:
    return l2_normalize(backend.embed(texts, 16)[0])


def speed_sample() -> list[str]:
    """Every second of simvec's calibration texts: sentences to 256-token paragraphs, as real inputs mix them.

    The check pairs are too few to time on: one batch of them is mostly padding, which favours a backend that
    batches without padding far beyond what it gains on a real corpus (3.3x measured against 1.2-1.5x).
    """
    texts = parse_calibration(calibration_text(), CALIBRATION_FILE)
    return texts[:: max(1, len(texts) // RACE_TEXTS)][:RACE_TEXTS]


def interleaved_seconds(backends: dict[str, Backend], texts: list[str], rounds: int = RACE_ROUNDS) -> dict[str, list]:
    """Seconds per round for each backend, every backend once per round in rotating order (same-moment load)."""
    names = list(backends)
    for backend in backends.values():
        backend.embed(texts[:4], 4)  # warm-up (first-run allocations, kernel selection)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            seconds[name].append(_timed(backends[name], texts))
    return seconds


def pick_fastest(passing: list[str], seconds: dict[str, list[float]], margin: float) -> str:
    """The first of `passing` (preference order) unless a later one is faster by `margin` (median per-round ratio)."""
    chosen = passing[0]
    for name in passing[1:]:
        if float(np.median(np.divide(seconds[chosen], seconds[name]))) >= margin:
            chosen = name
    return chosen


def _timed(backend: Backend, texts: list[str]) -> float:
    started = time.perf_counter()
    backend.embed(texts, 32)
    return time.perf_counter() - started


def _decision_path(card: ModelCard, tolerance: Tolerance, flags: frozenset[str] | None) -> Path:
    import importlib.metadata as md

    versions = []
    for package in ("onnxruntime", "openvino", "nncf", "torch"):
        try:
            versions.append(f"{package}={md.version(package)}")
        except md.PackageNotFoundError:
            versions.append(f"{package}=none")
    features = ",".join(key_features(flags) or ["unknown"])
    # a race's outcome also depends on the core count; a rule's does not
    cores = os.cpu_count() if cpu_rule(flags) is RACE_RULE else ""
    machine = f"{platform.machine()}|{features}|{cores}|{'|'.join(versions)}"
    env = hashlib.sha256(f"{machine}|{asdict(tolerance)}|{DECISION_VERSION}".encode()).hexdigest()[:16]
    return cache_dir() / "auto" / f"{model_hash(card.path)[:24]}-{env}.json"


class _Check:
    """The built-in check's inputs embedded once by torch, the reference every candidate is compared with."""

    def __init__(self, reference: Backend) -> None:
        self.texts = [t for pair in CHECK_PAIRS for t in pair]
        # the retrieval set: each pair's first text a query, its second the relevant document, and calibration
        # texts as distractors
        self.distractors = speed_sample()[::3][:CHECK_DISTRACTORS]
        self.reference = self._embed(reference)

    def _embed(self, backend: Backend) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the check pairs' vectors, the queries', the documents'), from one call of the backend."""
        vectors = _vectors(backend, self.texts + self.distractors)
        pairs = vectors[: len(self.texts)]
        return pairs, pairs[0::2], np.concatenate([pairs[1::2], vectors[len(self.texts) :]])

    def measure(self, backend: Backend, tolerance: Tolerance) -> dict:
        """The candidate's agreement with torch, and whether it is within `tolerance`."""
        vectors, queries, documents = self._embed(backend)
        reference, reference_queries, reference_documents = self.reference
        min_cosine = float((vectors * reference).sum(axis=1).min())
        pair_shift = paired(vectors[0::2], vectors[1::2]) - paired(reference[0::2], reference[1::2])
        pair_delta = float(np.abs(pair_shift).max())
        rank_overlap = top_k_overlap(queries @ documents.T, reference_queries @ reference_documents.T, 10)
        alone = np.concatenate([_vectors(backend, [t]) for t in self.texts[:8]])
        batch_cosine = float((alone * vectors[:8]).sum(axis=1).min())
        return {
            "passed": min_cosine >= tolerance.min_cosine
            and pair_delta <= tolerance.max_pair_delta
            and rank_overlap >= tolerance.min_rank_overlap
            and batch_cosine >= tolerance.min_batch_cosine,
            "min_cosine": round(min_cosine, 6),
            "max_pair_delta": round(pair_delta, 6),
            "rank_overlap": round(rank_overlap, 6),
            "batch_cosine": round(batch_cosine, 6),
        }


def top_k_overlap(scores: np.ndarray, reference: np.ndarray, k: int) -> float:
    """Mean share of each row's top-k columns under `reference` that are also in its top-k under `scores`."""
    k = min(k, scores.shape[1])
    ours = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    theirs = np.argsort(-reference, axis=1, kind="stable")[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ours, theirs, strict=True)]))


def _try_load(card: ModelCard, name: str, report: dict) -> Backend | None:
    try:
        return load_backend(card, name)
    except (SimvecError, RuntimeError, OSError, ImportError) as exc:  # a broken optional backend is skipped
        report[name] = {"passed": False, "error": f"{type(exc).__name__}: {exc}"}
        return None


def evaluate_candidates(
    card: ModelCard,
    tolerance: Tolerance,
    flags: frozenset[str] | None,
    candidates: tuple[str, ...] = CANDIDATES,
    race_texts: list[str] | None = None,
) -> tuple[dict, Backend]:
    """Decide for this CPU: (the decision, what was checked and why; the chosen backend, loaded)."""
    rule = cpu_rule(flags)
    report: dict[str, dict] = {}
    torch = _try_load(card, "torch", report)
    if torch is None:
        raise ModelError(
            f"backend 'auto' compares every backend with 'torch', which failed to load: {report['torch']['error']}"
        )
    check = _Check(torch)
    loaded: dict[str, Backend] = {}
    for name in rule.order or candidates:
        if name not in candidates:
            continue
        backend = torch if name == "torch" else _try_load(card, name, report)
        if backend is None:
            continue
        report[name] = check.measure(backend, tolerance)
        if report[name]["passed"]:
            loaded[name] = backend
            if rule.order is not None:  # a rule takes the first that passes: nothing later is built
                break
    passing = list(loaded)
    if not passing:  # torch always passes against itself unless `candidates` left it out
        raise ModelError(f"no backend passed auto's check: {'; '.join(_summary(n, r) for n, r in report.items())}")
    if rule.order is None and len(passing) > 1:
        texts = race_texts or speed_sample()
        seconds = interleaved_seconds(loaded, texts)
        for name, rounds in seconds.items():
            report[name]["texts_per_s"] = round(len(texts) / float(np.median(rounds)), 1)
            report[name]["seconds_per_round"] = [round(t, 5) for t in rounds]
        chosen = pick_fastest(passing, seconds, tolerance.race_margin)
    else:
        chosen = passing[0]
    decision = {
        "chosen": chosen,
        "rule": rule.name,
        "cpu_flags": key_features(flags),
        "reason": _reason(chosen, rule, report, tolerance),
        "tolerance": asdict(tolerance),
        "candidates": report,
    }
    return decision, loaded[chosen]


def _summary(name: str, result: dict) -> str:
    if "error" in result:
        return f"{name} unavailable ({result['error']})"
    verdict = "within tolerance" if result["passed"] else "OUTSIDE tolerance"
    speed = f"{result['texts_per_s']} texts/s, " if "texts_per_s" in result else ""
    return (
        f"{name} {speed}min cosine {result['min_cosine']:.4f}, pair Δ {result['max_pair_delta']:.4f}, "
        f"top-10 overlap {result['rank_overlap']:.3f}, alone-vs-batch cosine {result['batch_cosine']:.4f} ({verdict})"
    )


def _reason(chosen: str, rule: Rule, report: dict, tolerance: Tolerance) -> str:
    check = (
        f"within tolerance of torch on the built-in check (min cosine ≥ {tolerance.min_cosine}, "
        f"pair Δ ≤ {tolerance.max_pair_delta}, top-10 overlap ≥ {tolerance.min_rank_overlap}, "
        f"alone-vs-batch cosine ≥ {tolerance.min_batch_cosine})"
    )
    if rule.order is not None:
        how = f"rule {rule.name} ({rule.why}): {chosen} is the first of {', '.join(rule.order)} {check}"
    else:
        how = (
            f"rule {rule.name} ({rule.why}): {chosen} is the first of {', '.join(CANDIDATES)} {check} that no later "
            f"one beats by ×{tolerance.race_margin} (median of {RACE_ROUNDS} interleaved rounds on "
            f"{RACE_TEXTS} of simvec's calibration texts)"
        )
    return how + ": " + "; ".join(_summary(n, r) for n, r in report.items())


def choose_backend(card: ModelCard, tolerance: Tolerance | None = None, refresh: bool = False) -> tuple[Backend, dict]:
    """(the chosen backend, loaded; the decision: the rule, what was checked and why), recorded once per machine."""
    tolerance = tolerance or Tolerance()
    flags = cpu_flags()
    path = _decision_path(card, tolerance, flags)
    if not refresh:
        try:
            decision = json.loads(path.read_text(encoding="utf-8"))
            backend = load_backend(card, decision["chosen"])
            return backend, {**decision, "reason": decision["reason"] + " [cached decision]"}
        except (OSError, ValueError, KeyError, TypeError, SimvecError):  # none, damaged, or no longer loads
            pass
    rule = cpu_rule(flags)
    # one announcement for the whole decision: the graphs it builds inside are recorded, not announced again
    with preparing("auto", f"backend for {card.model_id} on this CPU (rule {rule.name})", path):
        decision, backend = evaluate_candidates(card, tolerance, flags)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: handle.write(json.dumps(decision, indent=2).encode()))
    return backend, decision


def resolve_auto(card: ModelCard) -> tuple[str, dict]:
    """The concrete backend `auto` means for this model on this machine, and its decision (cached)."""
    backend, decision = choose_backend(card)
    return backend.name, decision
