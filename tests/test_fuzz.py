"""Fuzzing the Python API (issue 10, "Keep it fixed"): hypothesis-generated texts (surrogates, control characters,
empty, long), ids, metadata (deep, wide, odd types), vectors (extreme, non-finite) and filters.

Invariant for every input: either a SimvecError, or the documents read back identically and every search ranks as
brute force over the stored vectors does (with filters: over the documents a reference evaluator says match).
Never another exception, never a wrong answer. Bounded by the `fuzz` profile (deterministic, fixed example counts).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from simvec import Collection, SimvecError

DIM = 384
# SIMVEC_FUZZ_EXAMPLES raises the count for a deeper run (benchmarks/reliability.py); 60 keeps `make test` quick.
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("SIMVEC_FUZZ_EXAMPLES", "60")),
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
FUZZ = settings.get_profile("fuzz")

ODD_CHARACTERS = st.sampled_from(["\ud800", "\udfff", "\x00", "\n", "\x1b", "\u202e", "é", "日", "🙂", "/", "\\", "'"])
CHARS = st.one_of(st.characters(), ODD_CHARACTERS)
CLEAN = st.characters(codec="utf-8")  # any character UTF-8 can encode (no lone surrogates)
# Clean inputs are drawn three times as often as hostile ones, so most examples get stored and searched.
TEXTS = st.one_of(*[st.text(CLEAN, max_size=40)] * 3, st.text(CHARS, max_size=40), st.just(""),
                  st.text(CLEAN, min_size=2000, max_size=3000))  # fmt: skip
IDS = st.one_of(*[st.text(CLEAN, min_size=1, max_size=30)] * 5, st.text(CHARS, min_size=0, max_size=30))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(CHARS, max_size=20),
)
METADATA_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(CHARS, max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


def deep(levels: int) -> dict:
    node: dict = {"leaf": 1}
    for _ in range(levels):
        node = {"n": node}
    return node


CLEAN_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              st.text(CLEAN, max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(CLEAN, max_size=8), inner, max_size=4)),
    max_leaves=20,
)  # fmt: skip
METADATA = st.one_of(
    st.none(),
    *[st.dictionaries(st.text(CLEAN, max_size=10), CLEAN_VALUES, max_size=6)] * 4,
    st.dictionaries(st.text(CHARS, max_size=10), METADATA_VALUES, max_size=6),
    st.integers(min_value=1, max_value=60).map(deep),
    st.dictionaries(st.text(max_size=6), st.integers(), min_size=500, max_size=600),  # wide
    st.sampled_from([[], "x", 3, {1: "int key"}]),  # not an object
)
SPECIAL = st.sampled_from([0.0, -0.0, 1e-25, 1e20, 3e38, 1e-45, float("nan"), float("inf"), -1.0])


@st.composite
def vectors(draw) -> list[float]:
    base = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(DIM)
    scale = draw(st.sampled_from([1.0, 1.0, 1.0, 1e-25, 1e20, 0.0]))
    values = (base * scale).tolist()
    if draw(st.integers(0, 4)) == 4:  # hypothesis favours small draws: the rare branch is the large one
        for _ in range(draw(st.integers(1, 3))):
            values[draw(st.integers(0, DIM - 1))] = draw(SPECIAL)
    if draw(st.integers(0, 20)) == 20:
        values = values[: draw(st.integers(0, DIM - 1))]  # wrong dimension
    return values


CLEAN_DOCUMENTS = st.lists(
    st.tuples(
        st.text(CLEAN, min_size=1, max_size=30),
        st.one_of(st.text(CLEAN, max_size=60), st.text(CLEAN, min_size=2000, max_size=3000)),
        st.one_of(st.none(), st.dictionaries(st.text(CLEAN, max_size=10), CLEAN_VALUES, max_size=6)),
        st.builds(lambda seed, scale: (np.random.default_rng(seed).standard_normal(DIM) * scale).tolist(),
                  st.integers(0, 2**32 - 1), st.sampled_from([1.0, 1e-25, 1e20, 1e-3])),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda d: d[0],
)  # fmt: skip
DOCUMENT = st.tuples(IDS, TEXTS, METADATA, vectors())
DOCUMENTS = st.one_of(
    *[st.lists(DOCUMENT, min_size=1, max_size=3, unique_by=lambda d: d[0])] * 3,
    st.lists(DOCUMENT, min_size=1, max_size=3),
)


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    collection = Collection.create(tmp_path_factory.mktemp("fuzz") / "c")
    yield collection
    collection.close()


def brute_force(collection: Collection, query: np.ndarray, k: int, allowed: set[str] | None = None) -> list[str]:
    ids, matrix = collection.matrix()
    keep = [i for i, doc_id in enumerate(ids) if allowed is None or doc_id in allowed]
    scores = matrix[keep] @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [ids[keep[j]] for j in order], scores[order]


def same_ranking(hits, expected_ids, expected_scores) -> bool:
    """Equal ids, or equal scores where ties may order differently."""
    got = [h.id for h in hits]
    if got == expected_ids:
        return True
    scores = np.array([h.score for h in hits], dtype=np.float64)
    return len(got) == len(expected_ids) and np.allclose(scores, expected_scores, atol=1e-5)


def reads_back_and_searches_as_brute_force(collection: Collection, documents: list) -> None:
    for doc_id, text, meta, vector in documents:
        stored = collection.get(doc_id, include_vectors=True)
        assert stored is not None and stored.text == text
        assert json.dumps(stored.metadata, sort_keys=True) == json.dumps(meta or {}, sort_keys=True)
        expected = np.asarray(vector, dtype=np.float64)
        expected = expected / np.linalg.norm(expected)
        np.testing.assert_allclose(stored.vector, expected, atol=1e-6)
        hits = collection.search(stored.vector, 5)
        want_ids, want_scores = brute_force(collection, stored.vector, 5)
        assert same_ranking(hits, want_ids, want_scores)
        assert collection.search(stored.vector, 5, exact=True)[0].score == pytest.approx(want_scores[0], abs=1e-5)
        assert doc_id in [hit.id for hit in collection.search(stored.vector, 5, exact=True)] or (
            want_scores[4] >= 1 - 1e-6  # five or more identical vectors
        )


@FUZZ
@given(documents=CLEAN_DOCUMENTS)
def test_valid_documents_are_always_stored_read_back_and_found(collection, documents):
    collection.add([d[1] for d in documents], ids=[d[0] for d in documents], metadata=[d[2] for d in documents],
                   vectors=[d[3] for d in documents])  # fmt: skip
    reads_back_and_searches_as_brute_force(collection, documents)


@FUZZ
@given(documents=DOCUMENTS)
def test_hostile_documents_are_refused_clearly_or_stored_correctly(collection, documents):
    try:
        collection.add([d[1] for d in documents], ids=[d[0] for d in documents], metadata=[d[2] for d in documents],
                       vectors=[d[3] for d in documents])  # fmt: skip
    except SimvecError as exc:
        event(f"refused: {type(exc).__name__}: {str(exc)[:40]}")
        return
    event("stored")
    reads_back_and_searches_as_brute_force(collection, documents)


# ---- filters against a reference evaluator ---------------------------------------------------------------

FIELDS = ["a", "b", "c"]
FILTER_VALUES = st.one_of(st.integers(-3, 3), st.sampled_from(["x", "y", "3", "[1]"]))


def leaf_filters() -> st.SearchStrategy:
    field = st.sampled_from(FIELDS)
    value = FILTER_VALUES
    return st.one_of(
        st.builds(lambda f, v: {f: v}, field, value),
        st.builds(lambda f, op, v: {f: {op: v}}, field, st.sampled_from(["$eq", "$ne"]), value),
        st.builds(
            lambda f, op, vs: {f: {op: vs}}, field, st.sampled_from(["$in", "$nin"]), st.lists(value, max_size=3)
        ),
    )


FILTERS = st.recursive(
    leaf_filters(),
    lambda inner: st.builds(
        lambda op, parts: {op: parts}, st.sampled_from(["$and", "$or"]), st.lists(inner, min_size=1, max_size=3)
    ),
    max_leaves=12,
)


def equal(stored, value) -> bool:
    return isinstance(stored, (int, str)) and type(stored) is type(value) and stored == value


def matches(meta: dict, node: dict) -> bool:
    """The README's semantics for the generated subset: type-strict equality; a missing field is "not equal"."""
    results = []
    for key, spec in node.items():
        if key == "$and":
            results.append(all(matches(meta, part) for part in spec))
        elif key == "$or":
            results.append(any(matches(meta, part) for part in spec))
        else:
            op, value = next(iter(spec.items())) if isinstance(spec, dict) else ("$eq", spec)
            if op in ("$eq", "$ne"):
                hit = key in meta and equal(meta[key], value)
                results.append(hit if op == "$eq" else not hit)
            else:
                hit = key in meta and any(equal(meta[key], v) for v in value)
                results.append(hit if op == "$in" else not hit)
    return all(results)


@pytest.fixture(scope="module")
def filtered(tmp_path_factory):
    rng = np.random.default_rng(3)
    metadata = []
    for _ in range(120):
        meta = {}
        for field in FIELDS:
            choice = rng.integers(0, 5)
            if choice == 1:
                meta[field] = int(rng.integers(-3, 4))
            elif choice == 2:
                meta[field] = ["x", "y", "3", "[1]"][rng.integers(0, 4)]
            elif choice == 3:
                meta[field] = [1]  # a list: never equal to a value
        metadata.append(meta)
    collection = Collection.create(tmp_path_factory.mktemp("fuzz") / "f")
    collection.add(ids=[f"d{i}" for i in range(120)], metadata=metadata, vectors=rng.standard_normal((120, DIM)))
    yield collection, metadata
    collection.close()


@FUZZ
@given(node=FILTERS, seed=st.integers(0, 1000))
def test_filtered_search_matches_a_reference_evaluator(filtered, node, seed):
    collection, metadata = filtered
    allowed = {f"d{i}" for i, meta in enumerate(metadata) if matches(meta, node)}
    query = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    query /= np.linalg.norm(query)
    try:
        hits = collection.search(query, 10, filter=node)
    except SimvecError as exc:
        event(f"refused: {str(exc)[:40]}")
        return
    event(f"matching {'none' if not allowed else 'some'}")
    want_ids, want_scores = brute_force(collection, query, 10, allowed)
    assert same_ranking(hits, want_ids, want_scores), (node, [h.id for h in hits], want_ids)


@FUZZ
@given(
    node=st.recursive(METADATA_VALUES, lambda inner: st.dictionaries(st.text(CHARS, max_size=5), inner), max_leaves=20)
)
def test_arbitrary_filters_are_a_filter_error_or_an_answer(filtered, node):
    collection, _ = filtered
    for mode in ("dense", "keyword"):
        query = "x" if mode == "keyword" else np.ones(DIM, dtype=np.float32)
        try:
            hits = collection.search(query, 5, filter=node, mode=mode)
        except SimvecError:
            continue
        assert len(hits) <= 5 and all(math.isfinite(h.score) for h in hits)
