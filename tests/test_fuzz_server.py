"""Fuzzing the server (issue 10, "Keep it fixed"): hypothesis-generated JSON bodies for upsert, search, get and
delete. Invariant: never a 5xx or a traceback; a 2xx upsert reads back identically through GET and is found by a
search for its own vector."""

from __future__ import annotations

import json
from urllib.parse import quote

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import event, given, settings
from hypothesis import strategies as st

from simvec.server import ServerConfig, create_app
from test_fuzz import CHARS, CLEAN_VALUES, DIM, METADATA_VALUES

pytestmark = pytest.mark.model

FUZZ = settings.get_profile("fuzz")
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(CHARS, max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(CHARS, max_size=6), inner, max_size=4)),
    max_leaves=15,
)  # fmt: skip


@st.composite
def upsert_body(draw) -> dict:
    """Mostly well-formed bodies (ids and vectors for all documents or none, as the API asks), with hostile values."""
    with_ids, with_vectors = draw(st.integers(0, 4)) != 4, draw(st.integers(0, 3)) != 3
    documents = []
    for _ in range(draw(st.integers(1, 3))):
        doc: dict = {}
        if with_ids:
            doc["id"] = draw(st.one_of(*[st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)] * 6, JSON))
        if not with_vectors or draw(st.booleans()):
            doc["text"] = draw(st.one_of(*[st.text(st.characters(codec="utf-8"), max_size=40)] * 6, JSON))
        if with_vectors:
            vector = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(DIM).tolist()
            doc["vector"] = vector if draw(st.integers(0, 9)) != 9 else draw(JSON)
        if draw(st.booleans()):
            doc["metadata"] = draw(
                st.one_of(*[st.dictionaries(st.text(max_size=6), CLEAN_VALUES, max_size=4)] * 4, METADATA_VALUES)
            )
        documents.append(doc)
    return {"documents": documents}


UPSERTS = st.one_of(*[upsert_body()] * 6, JSON)
SEARCHES = st.fixed_dictionaries(
    {"query": st.one_of(st.text(st.characters(codec="utf-8"), max_size=30), st.lists(st.floats(), max_size=4), JSON)},
    optional={"k": JSON, "filter": JSON, "mode": st.one_of(st.sampled_from(["dense", "keyword", "hybrid"]), JSON)},
)


@pytest.fixture(scope="module")
def client(encoder, tmp_path_factory):
    app = create_app(ServerConfig(collections_dir=tmp_path_factory.mktemp("fuzz-server")), encoder=encoder)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/v1/collections", json={"name": "c"}).status_code == 201
        yield client


def post_raw(client, url: str, body: object):
    """POST `body` as JSON text (not re-encoded by the client) and check it never caused a server error."""
    response = client.post(url, content=json.dumps(body), headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    event(f"status {response.status_code}")
    return response


@FUZZ
@given(body=UPSERTS)
def test_upsert_bodies(client, body):
    response = post_raw(client, "/v1/collections/c/documents", body)
    if response.status_code != 200:
        return
    for doc_id, doc in zip(response.json()["ids"], body["documents"], strict=True):
        if doc_id in (".", "..") or "/./" in f"/{doc_id}/" or "/../" in f"/{doc_id}/":
            continue  # dot segments are resolved by HTTP clients before the request is sent
        stored = client.get(f"/v1/collections/c/documents/{quote(doc_id, safe='/')}")
        assert stored.status_code == 200, (doc_id, stored.text)
        assert stored.json()["text"] == doc.get("text")
        assert json.dumps(stored.json()["metadata"], sort_keys=True) == json.dumps(
            doc.get("metadata") or {}, sort_keys=True
        )
        if "vector" in doc:
            hits = client.post("/v1/collections/c/search", json={"query": doc["vector"], "k": 3}).json()["hits"]
            assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)


@FUZZ
@given(body=SEARCHES)
def test_search_bodies(client, body):
    post_raw(client, "/v1/collections/c/search", body)
