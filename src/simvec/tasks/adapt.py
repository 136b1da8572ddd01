"""Query-side adapters: a small map applied to query vectors only, learned against frozen document vectors.

Stored document vectors stay valid (nothing is re-embedded): the adapter moves queries towards the documents judged
relevant to them. Every kind is identity plus a learned change, so an untrained adapter is the base model:

    lowrank   q + (q A) B                 A: (d, r), B: (r, d)      default, r = 32
    linear    q (I + W)                   W: (d, d)
    mlp       q + relu(q W1 + b1) W2      W1: (d, h), W2: (h, d)

followed by L2 normalisation. Training minimises a contrastive (InfoNCE) loss over in-batch negatives (the positives
of the other queries in the batch) plus hard negatives mined from the documents themselves (the base model's top
ranked non-relevant documents), with weight decay pulling the change towards zero. Early stopping watches nDCG@10 on
a held-apart slice of the training queries, ranked against the documents given, and keeps the best epoch — epoch 0,
the identity, included, so an adapter that does not help is reported as such rather than shipped as a gain.

Plain torch on the CPU: a few hundred pairs train in seconds on 2 cores. The nDCG here is only the stopping
criterion; reported metrics come from `simvec.eval` (pytrec_eval).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from simvec.errors import InputError
from simvec.vectors.similarity import l2_normalize

KINDS = ("lowrank", "linear", "mlp")
MIN_PAIRS = 32  # fewer (query, document) pairs than this cannot train anything that generalises
FORMAT_VERSION = 1


@dataclass(frozen=True)
class AdapterConfig:
    """How a query adapter is trained (the defaults suit a few hundred to a few thousand pairs)."""

    kind: str = "lowrank"
    rank: int = 32  # lowrank: r; mlp: hidden width
    temperature: float = 0.05
    learning_rate: float = 3e-3
    weight_decay: float = 1e-3
    batch_size: int = 64
    hard_negatives: int = 30
    max_epochs: int = 60
    patience: int = 8
    holdout: float = 0.2  # share of the training queries held apart for early stopping
    seed: int = 0

    def check(self) -> AdapterConfig:
        """This config, or an InputError naming the bad field."""
        if self.kind not in KINDS:
            raise InputError(f"unknown adapter kind {self.kind!r}; valid: {', '.join(KINDS)}")
        positive = ("rank", "batch_size", "max_epochs", "patience")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"adapter {name} must be a positive integer, got {value!r}")
        if self.batch_size < 2:
            raise InputError(f"adapter batch_size must be at least 2 (in-batch negatives), got {self.batch_size}")
        if isinstance(self.hard_negatives, bool) or not isinstance(self.hard_negatives, int) or self.hard_negatives < 0:
            raise InputError(f"adapter hard_negatives must be a non-negative integer, got {self.hard_negatives!r}")
        for name in ("temperature", "learning_rate"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InputError(f"adapter {name} must be a positive number, got {value!r}")
        if not (isinstance(self.weight_decay, int | float) and self.weight_decay >= 0):
            raise InputError(f"adapter weight_decay must be a non-negative number, got {self.weight_decay!r}")
        if not (isinstance(self.holdout, int | float) and 0 <= self.holdout < 1):
            raise InputError(f"adapter holdout must be in [0, 1), got {self.holdout!r}")
        return self


@dataclass
class QueryAdapter:
    """A trained query-side map (numpy at inference); `apply` maps query vectors, documents are left alone."""

    kind: str
    dimension: int
    weights: dict[str, np.ndarray]
    info: dict = field(default_factory=dict)  # what it was trained for and how (JSON-ready)

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """The adapted, unit-length query vectors: (n, d) -> (n, d) float32."""
        q = np.asarray(vectors, dtype=np.float32)
        w = self.weights
        if self.kind == "lowrank":
            out = q + (q @ w["A"]) @ w["B"]
        elif self.kind == "linear":
            out = q + q @ w["W"]
        else:
            out = q + np.maximum(q @ w["W1"] + w["b1"], 0) @ w["W2"]
        return l2_normalize(out.astype(np.float32))

    def to_bytes(self) -> bytes:
        """The weights as an .npz archive (the metadata lives beside it, in `info`)."""
        buffer = io.BytesIO()
        np.savez(buffer, **{name: np.asarray(value, dtype=np.float32) for name, value in self.weights.items()})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, kind: str, dimension: int, data: bytes, info: dict | None = None) -> QueryAdapter:
        """An adapter from `to_bytes` output; checks the arrays fit `kind` and `dimension`."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            weights = {name: archive[name] for name in archive.files}
        adapter = cls(kind, int(dimension), weights, dict(info or {}))
        adapter.check()
        return adapter

    def check(self) -> None:
        """An InputError when the weights do not have the shapes of `kind` at `dimension`."""
        d, w = self.dimension, self.weights
        expected = {"lowrank": ("A", "B"), "linear": ("W",), "mlp": ("W1", "b1", "W2")}.get(self.kind)
        if expected is None or set(w) != set(expected):
            raise InputError(f"adapter of kind {self.kind!r} has weights {sorted(w)}, expected {expected}")
        ok = {
            "lowrank": lambda: w["A"].shape[0] == d and w["B"].shape == (w["A"].shape[1], d),
            "linear": lambda: w["W"].shape == (d, d),
            "mlp": lambda: w["W1"].shape[0] == d and w["W2"].shape == (w["W1"].shape[1], d),
        }[self.kind]()
        if not ok:
            shapes = {name: value.shape for name, value in w.items()}
            raise InputError(f"adapter weights {shapes} do not fit kind {self.kind!r} at dimension {d}")


@dataclass
class AdapterFit:
    """A trained adapter and how training went (holdout nDCG@10 per epoch, epoch 0 = the identity)."""

    adapter: QueryAdapter
    train_pairs: int
    train_queries: int
    holdout_queries: int
    base_holdout_ndcg: float | None
    best_holdout_ndcg: float | None
    best_epoch: int
    epochs_run: int
    seconds: float  # wall clock
    cpu_seconds: float = 0.0  # this process's CPU time: comparable across machine loads
    history: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("adapter")
        return data


def check_positives(positives: Sequence[tuple[int, int]], n_queries: int, n_docs: int) -> np.ndarray:
    """Positive (query row, document row) pairs as an (n, 2) int array, unique, every index in range."""
    pairs = np.asarray(list(positives), dtype=np.int64).reshape(-1, 2)
    bad = np.flatnonzero((pairs[:, 0] < 0) | (pairs[:, 0] >= n_queries) | (pairs[:, 1] < 0) | (pairs[:, 1] >= n_docs))
    if len(bad):
        raise InputError(
            f"positives[{bad[0]}] = {tuple(pairs[bad[0]])} is out of range ({n_queries} queries, {n_docs} documents)"
        )
    return np.unique(pairs, axis=0)


def mine_hard_negatives(
    query_vectors: np.ndarray, doc_vectors: np.ndarray, positives: np.ndarray, k: int, chunk: int = 256
) -> np.ndarray:
    """Each query's k best-scoring documents that are not its positives: (n_queries, k) rows, -1 where fewer."""
    n_q = len(query_vectors)
    mined = np.full((n_q, k), -1, dtype=np.int64)
    if k == 0:
        return mined
    own: dict[int, set[int]] = {}
    for q, d in positives:
        own.setdefault(int(q), set()).add(int(d))
    depth = min(len(doc_vectors), k + max((len(s) for s in own.values()), default=0))
    for start in range(0, n_q, chunk):
        scores = query_vectors[start : start + chunk] @ doc_vectors.T  # exact: the documents given are all scored
        top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth] if depth < scores.shape[1] else None
        for row in range(len(scores)):
            q = start + row
            candidates = top[row] if top is not None else np.arange(scores.shape[1])
            candidates = candidates[np.argsort(-scores[row, candidates], kind="stable")]
            kept = [d for d in candidates if d not in own.get(q, ())][:k]
            mined[q, : len(kept)] = kept
    return mined


def _holdout_ndcg(adapted: np.ndarray, doc_vectors: np.ndarray, relevant: list[set[int]]) -> float:
    """Mean binary nDCG@10 of each query ranked against every document given (the early-stopping criterion)."""
    scores = adapted @ doc_vectors.T
    depth = min(10, scores.shape[1])
    top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    discounts = 1.0 / np.log2(np.arange(2, depth + 2))
    total = 0.0
    for row, rel in enumerate(relevant):
        ranked = top[row][np.argsort(-scores[row, top[row]], kind="stable")]
        gains = np.array([1.0 if d in rel else 0.0 for d in ranked])
        ideal = discounts[: min(len(rel), depth)].sum()
        total += float(gains @ discounts) / ideal if ideal else 0.0
    return total / max(len(relevant), 1)


def train_query_adapter(
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    positives: Sequence[tuple[int, int]],
    *,
    config: AdapterConfig | None = None,
    hard_negatives: np.ndarray | None = None,
) -> AdapterFit:
    """Learn a query adapter from (query row, relevant document row) pairs against frozen document vectors.

    `query_vectors` (n_q, d) and `doc_vectors` (n_d, d) are unit-length rows of the same model. `hard_negatives`
    (n_q, h) document rows (-1 = none) replace the exact mining over `doc_vectors` when the caller has them (from
    an index over a larger collection). Needs at least MIN_PAIRS pairs on the training side of the holdout.
    """
    import torch

    config = (config or AdapterConfig()).check()
    started, cpu_started = time.perf_counter(), time.process_time()
    queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
    docs = np.ascontiguousarray(doc_vectors, dtype=np.float32)
    if queries.ndim != 2 or docs.ndim != 2 or queries.shape[1] != docs.shape[1]:
        raise InputError(f"query vectors {queries.shape} and document vectors {docs.shape} must be (n, d) of one d")
    pairs = check_positives(positives, len(queries), len(docs))
    if len(pairs) < MIN_PAIRS:
        raise InputError(f"too few training pairs: {len(pairs)}; a query adapter needs at least {MIN_PAIRS}")
    dimension = queries.shape[1]
    rng = np.random.default_rng(config.seed)

    judged = np.unique(pairs[:, 0])
    n_held = int(round(config.holdout * len(judged)))
    held = set(rng.permutation(judged)[:n_held].tolist()) if n_held >= 5 else set()
    train_pairs = pairs[[q not in held for q in pairs[:, 0]]]
    if len(train_pairs) < MIN_PAIRS:
        raise InputError(
            f"too few training pairs after holding {len(held)} queries apart: {len(train_pairs)}; "
            f"a query adapter needs at least {MIN_PAIRS}"
        )
    relevant: dict[int, set[int]] = {}
    for q, d in pairs:
        relevant.setdefault(int(q), set()).add(int(d))
    held_rows = sorted(held)
    held_relevant = [relevant[q] for q in held_rows]
    if hard_negatives is None:
        hard_negatives = mine_hard_negatives(queries, docs, pairs, config.hard_negatives)
    negatives = np.asarray(hard_negatives, dtype=np.int64).reshape(len(queries), -1)[:, : config.hard_negatives]

    torch.manual_seed(config.seed)
    params = _init_params(config, dimension, torch)
    optimizer = torch.optim.AdamW(list(params.values()), lr=config.learning_rate, weight_decay=config.weight_decay)
    q_all, d_all = torch.from_numpy(queries), torch.from_numpy(docs)

    def snapshot() -> QueryAdapter:
        return QueryAdapter(config.kind, dimension, {k: v.detach().numpy().copy() for k, v in params.items()})

    def holdout_score() -> float | None:
        if not held_rows:
            return None
        return _holdout_ndcg(snapshot().apply(queries[held_rows]), docs, held_relevant)

    best = snapshot()
    base_score = best_score = holdout_score()
    history = [base_score] if base_score is not None else []
    best_epoch, stale, epoch = 0, 0, 0
    for epoch in range(1, config.max_epochs + 1):
        order = rng.permutation(len(train_pairs))
        for start in range(0, len(order), config.batch_size):
            batch = train_pairs[order[start : start + config.batch_size]]
            loss = _batch_loss(batch, negatives, relevant, params, q_all, d_all, config, torch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        score = holdout_score()
        if score is None:
            best, best_epoch = snapshot(), epoch  # no holdout: train for max_epochs
            continue
        history.append(score)
        if score > best_score + 1e-6:
            best, best_score, best_epoch, stale = snapshot(), score, epoch, 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    best.info = {
        "format_version": FORMAT_VERSION,
        "config": asdict(config),
        "train_pairs": len(train_pairs),
        "best_epoch": best_epoch,
    }
    return AdapterFit(
        adapter=best,
        train_pairs=len(train_pairs),
        train_queries=len(np.unique(train_pairs[:, 0])),
        holdout_queries=len(held_rows),
        base_holdout_ndcg=base_score,
        best_holdout_ndcg=best_score,
        best_epoch=best_epoch,
        epochs_run=epoch,
        seconds=round(time.perf_counter() - started, 2),
        cpu_seconds=round(time.process_time() - cpu_started, 2),
        history=[round(h, 5) for h in history],
    )


def _init_params(config: AdapterConfig, d: int, torch: object) -> dict:
    """Parameters whose change starts at zero: the untrained adapter is the identity."""
    r = config.rank
    if config.kind == "lowrank":
        shapes = {"A": torch.randn(d, r) / math.sqrt(d), "B": torch.zeros(r, d)}
    elif config.kind == "linear":
        shapes = {"W": torch.zeros(d, d)}
    else:
        shapes = {"W1": torch.randn(d, r) / math.sqrt(d), "b1": torch.zeros(r), "W2": torch.zeros(r, d)}
    return {name: value.float().requires_grad_(True) for name, value in shapes.items()}


def _forward(q: object, params: dict, kind: str, torch: object) -> object:
    if kind == "lowrank":
        out = q + (q @ params["A"]) @ params["B"]
    elif kind == "linear":
        out = q + q @ params["W"]
    else:
        out = q + torch.relu(q @ params["W1"] + params["b1"]) @ params["W2"]
    return torch.nn.functional.normalize(out, dim=1)


def _batch_loss(
    batch: np.ndarray,
    negatives: np.ndarray,
    relevant: dict[int, set[int]],
    params: dict,
    q_all: object,
    d_all: object,
    config: AdapterConfig,
    torch: object,
) -> object:
    """InfoNCE of each pair's positive against the batch's positives and hard negatives (own positives masked)."""
    hard = negatives[batch[:, 0]].ravel()
    candidates = np.unique(np.concatenate([batch[:, 1], hard[hard >= 0]]))
    column = {int(d): i for i, d in enumerate(candidates)}
    target = torch.tensor([column[int(d)] for d in batch[:, 1]])
    mask = np.zeros((len(batch), len(candidates)), dtype=bool)
    for row, (q, d) in enumerate(batch):
        for other in relevant[int(q)]:
            if other != d and other in column:
                mask[row, column[other]] = True  # another relevant document is not a negative
    adapted = _forward(q_all[torch.from_numpy(batch[:, 0])], params, config.kind, torch)
    logits = adapted @ d_all[torch.from_numpy(candidates)].T / config.temperature
    logits = logits.masked_fill(torch.from_numpy(mask), float("-inf"))
    return torch.nn.functional.cross_entropy(logits, target)
