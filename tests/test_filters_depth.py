"""Filter depth (issue 10 item 7): every filter within the limit runs through SQLite's parser (keyword search
renders filters as SQL), deeper ones are refused up front with a FilterError, never a parser error or RecursionError."""

from __future__ import annotations

import numpy as np
import pytest

from simvec import Collection, FilterError
from simvec.store import filters


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    collection = Collection.create(tmp_path_factory.mktemp("depth") / "c")
    collection.add(["a b c", "a d"], ids=["x", "y"], metadata=[{"f": 1, "g": 2}, {"f": 2}], vectors=np.ones((2, 384)))
    yield collection
    collection.close()


SIBLINGS = {"ne": lambda i: {"g": {"$ne": 100 + i}}, "eq": lambda i: {"g": 2}}
LEAVES = {"eq": {"f": 1}, "ne": {"f": {"$ne": 2}}, "multi": {"f": {"$ne": 2, "$nin": [3]}, "g": 2}}


def alternating(levels: int, leaf: dict, sibling) -> dict:
    node = leaf
    for i in range(levels):
        node = {"$and" if i % 2 else "$or": [node, sibling(i)]}
    return node


def deepest_accepted(leaf: dict, sibling) -> int:
    levels = 0
    while True:
        try:
            filters.parse_filter(alternating(levels + 1, leaf, sibling))
        except FilterError:
            return levels
        levels += 1


@pytest.mark.parametrize("leaf", LEAVES)
@pytest.mark.parametrize("sibling", SIBLINGS)
@pytest.mark.parametrize("mode", ["keyword", "dense"])
def test_the_deepest_accepted_filter_runs_and_one_deeper_is_a_filter_error(collection, leaf, sibling, mode):
    levels = deepest_accepted(LEAVES[leaf], SIBLINGS[sibling])
    assert levels >= 9  # what the documented limit promises for the worst construct
    query = "a" if mode == "keyword" else np.ones(384)
    hits = collection.search(query, 2, mode=mode, filter=alternating(levels, LEAVES[leaf], SIBLINGS[sibling]))
    assert "x" in [hit.id for hit in hits]
    with pytest.raises(FilterError, match="nested too deeply"):
        collection.search(query, 2, mode=mode, filter=alternating(levels + 1, LEAVES[leaf], SIBLINGS[sibling]))


def test_same_operator_nesting_is_flattened_so_any_depth_within_max_depth_runs(collection):
    node = {"f": 1}
    for _ in range(filters.MAX_DEPTH):
        node = {"$and": [node, {"g": 2}]}
    assert [hit.id for hit in collection.search("a", 2, mode="keyword", filter=node)] == ["x"]


def test_a_5000_level_filter_is_a_filter_error_not_a_recursion_error(collection):
    node: dict = {"f": 1}
    for i in range(5000):
        node = {"$or" if i % 2 else "$and": [node]}
    with pytest.raises(FilterError, match="nested deeper than 32 levels"):
        collection.search("a", 2, mode="keyword", filter=node)


@pytest.mark.parametrize("node", [{"\ud800": 1}, {"f": "x\udfff"}, {"f": {"$in": ["\ud800"]}}])
def test_a_lone_surrogate_in_a_filter_is_a_filter_error(collection, node):  # found by tests/test_fuzz.py
    for mode in ("dense", "keyword"):
        with pytest.raises(FilterError, match="lone surrogate"):
            collection.search("a" if mode == "keyword" else np.ones(384), 2, mode=mode, filter=node)
