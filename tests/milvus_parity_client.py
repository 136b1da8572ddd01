"""The same documents and operations on a native collection and on a Milvus-backed one; every answer as JSON.

Run by tests/test_milvus_server.py inside the Milvus server's network namespace:
`python tests/milvus_parity_client.py URI DIRECTORY` prints {"native": {...}, "milvus": {...}}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from simvec import Collection, Encoder

TEXTS = [
    "The cat sat on the mat.",
    "A kitten sleeps on the sofa.",
    "Dogs bark at the mailman.",
    "Le chat dort sur le canapé.",
    "Stock prices fell sharply on Monday.",
    "The central bank raised interest rates.",
    "Python is a programming language.",
    "Rust guarantees memory safety without a garbage collector.",
    "How do I reset my card PIN?",
    "My card payment was declined at the shop.",
    "The recipe needs two eggs and flour.",
    "Bake the bread for forty minutes.",
]
LANGS = ["en", "en", "en", "fr", "en", None, "en", "de", "en", "en", "fr", None]  # None: the field is missing
QUERIES = ["a sleeping cat", "bank card problems", "cooking"]
FILTERS = [
    None,
    {"lang": "en"},
    {"lang": {"$ne": "en"}},
    {"lang": {"$in": ["fr", "de"]}},
    {"lang": {"$nin": ["en"]}},
    {"lang": None},
    {"note": None},
    {"note": {"$ne": None}},
    {"year": {"$gte": 2015, "$lt": 2022}},
    {"$or": [{"lang": "fr"}, {"year": {"$lt": 2012}}]},
    {"$and": [{"lang": "en"}, {"year": {"$gt": 2015}}, {"flag": True}]},
    {"lang": {"$in": []}},
    {"title": 'O\'Brien "quoted" \\ back'},
    {"flag": 1},
    {"flag": {"$in": [False, 7]}},
]


def metadata(i: int) -> dict:
    """Metadata with missing fields, a JSON null, booleans and a value full of quotes and backslashes."""
    meta: dict = {"year": 2010 + i, "flag": i % 3 == 0}
    if LANGS[i] is not None:
        meta["lang"] = LANGS[i]
    if i % 4 == 1:
        meta["note"] = None
    if i == 5:
        meta["title"] = 'O\'Brien "quoted" \\ back'
    return meta


def exercise(collection: Collection) -> dict:
    """Every operation the parity test compares, in one order."""
    ids = [f"d{i}" for i in range(len(TEXTS))]
    out: dict = {}
    first = collection.add(TEXTS, ids=ids, metadata=[metadata(i) for i in range(len(TEXTS))])
    out["add"] = [first.added, first.updated, first.unchanged]
    again = collection.add(TEXTS[:2], ids=ids[:2], metadata=[metadata(0), {"lang": "la"}])
    out["re_add"] = [again.added, again.updated, again.unchanged]  # unchanged, metadata-only: no re-embedding
    vector = collection.encoder.encode(["a vector given without text"])[0]
    collection.add(ids=["v1"], vectors=np.asarray([vector]), metadata=[{"lang": "xx"}])
    out["deleted"] = collection.delete(["d2", "absent"])
    out["count"] = collection.count()
    out["order"] = [doc_id for doc_id, _, _ in collection]
    out["get"] = [d and [d.id, d.text, d.metadata] for d in collection.get(["d1", "v1", "absent", "d5"])]
    out["search"] = [  # per filter, per query: (id, score) best first
        [[[hit.id, round(hit.score, 4)] for hit in hits] for hits in collection.search_batch(QUERIES, 20, filter=where)]
        for where in FILTERS
    ]
    out["by_vector"] = [hit.id for hit in collection.search(vector, k=3)]
    return out


def main() -> None:
    uri, root = sys.argv[1], Path(sys.argv[2])
    encoder = Encoder()
    answers = {}
    with Collection.create(root / "native", model=encoder) as native:
        answers["native"] = exercise(native)
    with Collection.create(root / "milvus", model=encoder, backend="milvus", uri=uri) as milvus:
        answers["milvus"] = exercise(milvus)
        answers["info"] = milvus.info()
        try:
            milvus.search("cat", k=3, mode="hybrid")
            answers["hybrid"] = "answered"
        except Exception as exc:  # the test asserts the type and the message
            answers["hybrid"] = f"{type(exc).__name__}: {exc}"
    with Collection.open(root / "milvus", model=encoder) as reopened:  # a new client, the settings from disk
        answers["reopened"] = [hit.id for hit in reopened.search(QUERIES[0], k=3, filter={"lang": {"$ne": "en"}})]
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
