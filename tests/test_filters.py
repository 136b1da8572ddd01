"""The filter language: compiled to parameterised SQL, pre-filters every mode, errors show the bad part."""

from __future__ import annotations

import numpy as np
import pytest

from simvec import Collection
from simvec.store.filters import FilterError, compile_filter

DIM = 384  # the default model's dimension; these collections only take vectors, so no model is loaded

DOCS = [
    ("a", {"lang": "en", "year": 2019, "score": 0.5, "draft": True, "tag": "x"}),
    ("b", {"lang": "en", "year": 2021, "score": 1.5, "draft": False}),
    ("c", {"lang": "fr", "year": 2020, "score": 2.5, "tag": "y"}),
    ("d", {"lang": "de", "year": "2020", "score": None}),
    ("e", {"lang": "O'Brien \"; DROP TABLE docs; --", "year": 2022}),
    ("f", {"lang": "日本語 ✓", "year": 2023, "nested": {"k": 1}}),
]


@pytest.fixture(scope="module", params=["native", pytest.param("milvus", marks=pytest.mark.engine)])
def collection(tmp_path_factory, request):
    """The same documents on both backends: every filter below must select the same ids on each."""
    rng = np.random.default_rng(1)
    collection = Collection.create(tmp_path_factory.mktemp("filters") / "c", backend=request.param)
    collection.add(
        [f"document {i}" for i, _ in DOCS],
        ids=[i for i, _ in DOCS],
        metadata=[m for _, m in DOCS],
        vectors=rng.standard_normal((len(DOCS), DIM)),
    )
    yield collection
    collection.close()


def matching(collection, filter) -> set[str]:
    query = np.ones(DIM, dtype=np.float32)
    return {hit.id for hit in collection.search(query, k=100, filter=filter)}


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({}, set("abcdef")),
        ({"lang": "en"}, {"a", "b"}),
        ({"lang": {"$eq": "fr"}}, {"c"}),
        ({"lang": {"$ne": "en"}}, {"c", "d", "e", "f"}),
        ({"year": {"$gt": 2020}}, {"b", "e", "f"}),  # "2020" (a string) is never compared with numbers
        ({"year": {"$gte": 2020}}, {"b", "c", "e", "f"}),
        ({"year": {"$lt": 2020}}, {"a"}),
        ({"year": {"$lte": 2020, "$gt": 2019}}, {"c"}),
        ({"year": "2020"}, {"d"}),  # type-strict: the string matches only the string
        ({"year": 2020}, {"c"}),
        ({"score": {"$gte": 1}}, {"b", "c"}),
        ({"score": None}, {"d", "e", "f"}),  # null or missing
        ({"tag": {"$in": ["x", "y"]}}, {"a", "c"}),
        ({"tag": {"$nin": ["x"]}}, {"b", "c", "d", "e", "f"}),  # missing counts as not in the list
        ({"tag": {"$in": []}}, set()),
        ({"draft": True}, {"a"}),
        ({"draft": False}, {"b"}),
        ({"$or": [{"lang": "fr"}, {"year": {"$gte": 2022}}]}, {"c", "e", "f"}),
        ({"$and": [{"lang": "en"}, {"year": {"$gt": 2019}}]}, {"b"}),
        ({"lang": "en", "draft": False}, {"b"}),
        ({"$or": [{"$and": [{"lang": "en"}, {"draft": True}]}, {"lang": "de"}]}, {"a", "d"}),
        ({"lang": "nobody"}, set()),
    ],
)
def test_filter_semantics(collection, filter, expected):
    assert matching(collection, filter) == expected


@pytest.mark.parametrize("value", ["O'Brien \"; DROP TABLE docs; --", "日本語 ✓"])
def test_quotes_sql_and_unicode_values_are_data(collection, value):
    ids = {"O'Brien \"; DROP TABLE docs; --": {"e"}, "日本語 ✓": {"f"}}[value]
    assert matching(collection, {"lang": value}) == ids
    assert matching(collection, {"lang": {"$in": [value, "' OR 1=1 --"]}}) == ids
    assert matching(collection, {"lang": "' OR '1'='1"}) == set()
    assert collection.count() == len(DOCS)  # nothing was dropped


def test_field_names_are_parameters_too(collection):
    assert matching(collection, {"lang') OR 1=1 --": "en"}) == set()
    sql, params = compile_filter({"x' OR 1=1": {"$in": ["a", "b"]}})
    assert "OR 1=1" not in sql and "x' OR 1=1" in params[0]


def test_filters_apply_in_keyword_and_hybrid_modes(tmp_path, encoder, backend):
    with Collection.create(tmp_path / "c", model=encoder, backend=backend) as collection:
        collection.add(
            ["red apples are sweet", "red cars are fast", "green apples are sour"],
            ids=["1", "2", "3"],
            metadata=[{"kind": "fruit"}, {"kind": "car"}, {"kind": "fruit"}],
        )
        for mode in ("dense", "keyword", "hybrid"):
            hits = collection.search("red", k=3, mode=mode, filter={"kind": "fruit"})
            assert {h.id for h in hits} <= {"1", "3"} and hits[0].id == "1", mode
            assert collection.search("red", k=3, mode=mode, filter={"kind": "boat"}) == []


@pytest.mark.parametrize(
    ("filter", "shown"),
    [
        ({"year": {"$regex": "20"}}, "unknown operator '$regex' for field 'year'"),
        ({"$nor": [{"a": 1}]}, "unknown operator '$nor'"),
        ({"$and": {"a": 1}}, '$and needs a non-empty list of filters in {"$and": {"a": 1}}'),
        ({"$or": []}, "$or needs a non-empty list"),
        ({"tag": {"$in": "x"}}, '$in needs a list of values, got str in {"tag": {"$in": "x"}}'),
        ({"year": {"$gt": None}}, '$gt needs a number or a string, got NoneType in {"year": {"$gt": null}}'),
        ({"year": {"$gt": [1]}}, "$gt needs a number or a string, got list"),
        ({"year": {}}, "no operator given for field 'year'"),
        ({"year": float("nan")}, "is not a finite number"),
        ({"year": [2020]}, "value of type list is not allowed"),
        ({"$and": ["lang"]}, "expected an object"),
        (["lang", "en"], "expected an object"),
        ({"": 1}, "field name '' is not allowed"),
    ],
)
def test_bad_filters_show_the_bad_part(collection, filter, shown):
    with pytest.raises(FilterError) as info:
        collection.search(np.ones(DIM), k=1, filter=filter)
    assert shown in str(info.value)
    assert str(info.value).startswith("invalid filter:")


def test_bad_filter_is_reported_even_on_an_empty_collection(tmp_path, backend):
    with Collection.create(tmp_path / "empty", backend=backend) as empty:
        assert empty.search(np.ones(DIM), k=3, filter={"a": 1}) == []
        with pytest.raises(FilterError, match=r"\$bad"):
            empty.search(np.ones(DIM), k=3, filter={"a": {"$bad": 1}})
