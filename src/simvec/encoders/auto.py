"""`backend="auto"`: the fastest backend whose vectors stay within tolerance of the torch reference.

Candidates are the backends that produce the reference's vector space (onnx-int8, openvino-int8, onnx, torch).
`static` is never chosen: its vectors are a different space, so picking it silently would make vectors from two
machines (or two runs) incomparable. The check embeds a small built-in set of sentence pairs with each candidate
and compares with torch: every text's vector (cosine) and every pair's similarity (absolute change); it also
embeds a few texts alone and checks they get the vectors they got inside a batch, so a batch-dependent
backend (dynamically quantised int8, whose activation scales come from each batch) is never the default.
Both int8 backends are statically quantised (calibrated activation scales; OpenVINO's texts padded to fixed
bucket widths), so they pass that check; the first in preference order wins unless a later one is clearly faster
on this machine (`openvino-int8` was on a Xeon with AVX-512 VNNI, not on an AVX2-only EPYC). A candidate that
fails to load (e.g. a graph that cannot be quantised) is skipped and the decision says why. The decision is
cached per model hash, machine and library versions, and tolerance; `simvec info` prints its reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass

import numpy as np

from simvec.atomic import atomic_write
from simvec.encoders.artifacts import cache_dir, model_hash
from simvec.encoders.backends import load_backend
from simvec.encoders.base import Backend
from simvec.encoders.calibration import CALIBRATION_FILE, calibration_text, parse_calibration
from simvec.encoders.models import ModelCard
from simvec.errors import ModelError, SimvecError
from simvec.vectors.similarity import l2_normalize, paired

CANDIDATES = ("onnx-int8", "openvino-int8", "onnx", "torch")
# 4: onnx-int8 became static (batch-invariant); 5: interleaved speed rounds, margin; 6: openvino-int8
DECISION_VERSION = "6"
SPEED_ROUNDS = 5
SPEED_TEXTS = 100

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
    scores min cosine ~0.98-0.99 / pair Δ ~0.03 here and loses ~0.001 Spearman on STS-B test, so these defaults
    admit it, while a broken graph (cosines ~0.9 or lower) fails.
    """

    min_cosine: float = 0.98  # every text's vector vs torch's
    max_pair_delta: float = 0.05  # largest change of a pair's cosine similarity vs torch
    min_batch_cosine: float = 0.9999  # a text embedded alone vs inside a batch: same text, same vector
    switch_margin: float = 1.15  # a later candidate must be this much faster (median ratio) to be preferred


def _vectors(backend: Backend, texts: list[str]) -> np.ndarray:
    return l2_normalize(backend.embed(texts, 16)[0])


def speed_sample() -> list[str]:
    """Every second of simvec's calibration texts: sentences to 256-token paragraphs, as real inputs mix them.

    The check pairs are too few to time on: one batch of them is mostly padding, which favours a backend that
    batches without padding far beyond what it gains on a real corpus (3.3x measured against 1.2-1.5x).
    """
    texts = parse_calibration(calibration_text(), CALIBRATION_FILE)
    return texts[:: max(1, len(texts) // SPEED_TEXTS)][:SPEED_TEXTS]


def interleaved_seconds(backends: dict[str, Backend], texts: list[str], rounds: int = SPEED_ROUNDS) -> dict[str, list]:
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


def _decision_path(card: ModelCard, tolerance: Tolerance) -> os.PathLike:
    import importlib.metadata as md

    versions = []
    for package in ("onnxruntime", "openvino", "torch"):
        try:
            versions.append(f"{package}={md.version(package)}")
        except md.PackageNotFoundError:
            versions.append(f"{package}=none")
    # the choice depends on this machine (cores, ISA) and on library versions, so they are part of the key
    machine = f"{platform.machine()}|{platform.processor()}|{os.cpu_count()}|{'|'.join(versions)}"
    env = hashlib.sha256(f"{machine}|{asdict(tolerance)}|{DECISION_VERSION}".encode()).hexdigest()[:16]
    return cache_dir() / "auto" / f"{model_hash(card.path)[:24]}-{env}.json"


def evaluate_candidates(card: ModelCard, tolerance: Tolerance) -> tuple[dict, dict[str, Backend]]:
    """Run the built-in check on every candidate: (decision, loaded backends by name)."""
    texts = [t for pair in CHECK_PAIRS for t in pair]
    loaded: dict[str, Backend] = {}
    report: dict[str, dict] = {}
    for name in CANDIDATES:
        try:
            loaded[name] = load_backend(card, name)
        except (SimvecError, RuntimeError, OSError, ImportError) as exc:  # a broken optional backend is skipped
            report[name] = {"passed": False, "error": f"{type(exc).__name__}: {exc}"}
    if "torch" not in loaded:
        raise ModelError(
            f"backend 'auto' compares every backend with 'torch', which failed to load: {report['torch']['error']}"
        )
    reference = _vectors(loaded["torch"], texts)
    for name, backend in loaded.items():
        vectors = _vectors(backend, texts)
        min_cosine = float((vectors * reference).sum(axis=1).min())
        pair_shift = paired(vectors[0::2], vectors[1::2]) - paired(reference[0::2], reference[1::2])
        pair_delta = float(np.abs(pair_shift).max())
        alone = np.concatenate([_vectors(backend, [t]) for t in texts[:8]])
        batch_cosine = float((alone * vectors[:8]).sum(axis=1).min())
        report[name] = {
            "passed": min_cosine >= tolerance.min_cosine
            and pair_delta <= tolerance.max_pair_delta
            and batch_cosine >= tolerance.min_batch_cosine,
            "min_cosine": round(min_cosine, 6),
            "max_pair_delta": round(pair_delta, 6),
            "batch_cosine": round(batch_cosine, 6),
        }
    speed_texts = speed_sample()
    seconds = interleaved_seconds(loaded, speed_texts)
    for name, rounds in seconds.items():
        report[name]["texts_per_s"] = round(len(speed_texts) / float(np.median(rounds)), 1)
        report[name]["seconds_per_round"] = [round(t, 5) for t in rounds]
    passing = [n for n in CANDIDATES if report[n]["passed"]]
    chosen = pick_fastest(passing, seconds, tolerance.switch_margin)
    return {
        "chosen": chosen,
        "reason": _reason(chosen, report, tolerance),
        "tolerance": asdict(tolerance),
        "candidates": report,
    }, loaded


def _summary(name: str, result: dict) -> str:
    if "error" in result:
        return f"{name} unavailable ({result['error']})"
    verdict = "within tolerance" if result["passed"] else "OUTSIDE tolerance"
    return (
        f"{name} {result['texts_per_s']} texts/s, min cosine {result['min_cosine']:.4f}, "
        f"pair Δ {result['max_pair_delta']:.4f}, alone-vs-batch cosine {result['batch_cosine']:.4f} ({verdict})"
    )


def _reason(chosen: str, report: dict, tolerance: Tolerance) -> str:
    return (
        f"{chosen} is the first backend within tolerance of torch on the built-in check "
        f"(min cosine ≥ {tolerance.min_cosine}, pair Δ ≤ {tolerance.max_pair_delta}, "
        f"alone-vs-batch cosine ≥ {tolerance.min_batch_cosine}) in the order {', '.join(CANDIDATES)} "
        f"that no later one beats by ×{tolerance.switch_margin} (median of {SPEED_ROUNDS} interleaved rounds on "
        f"{SPEED_TEXTS} of simvec's calibration texts): " + "; ".join(_summary(n, r) for n, r in report.items())
    )


def choose_backend(card: ModelCard, tolerance: Tolerance | None = None, refresh: bool = False) -> tuple[Backend, dict]:
    """(the chosen backend, loaded; the decision: what was measured and why), recorded once per machine."""
    tolerance = tolerance or Tolerance()
    path = _decision_path(card, tolerance)
    if not refresh:
        try:
            decision = json.loads(path.read_text(encoding="utf-8"))
            backend = load_backend(card, decision["chosen"])
            return backend, {**decision, "reason": decision["reason"] + " [cached decision]"}
        except (OSError, ValueError, KeyError):  # none recorded, unreadable, or its backend no longer loads
            pass
    decision, loaded = evaluate_candidates(card, tolerance)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: handle.write(json.dumps(decision, indent=2).encode()))
    return loaded[decision["chosen"]], decision
