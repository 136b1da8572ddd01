"""The HTTP API in-process (FastAPI TestClient, real model): endpoints, auth, limits, errors."""

import asyncio
import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from simvec.server import Limits, ServerConfig, create_app
from simvec.server.batching import BatchResult, DynamicBatcher

pytestmark = pytest.mark.model

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client(encoder, tmp_path_factory):
    limits = Limits(max_texts=16, max_chars=500, max_k=50, max_body_bytes=64 * 1024)
    config = ServerConfig(
        collections_dir=tmp_path_factory.mktemp("collections"), api_keys=(KEY, "second-key"), limits=limits
    )
    with TestClient(create_app(config, encoder=encoder)) as test_client:
        yield test_client


def assert_error(response, status, *fragments):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type"}
    for fragment in fragments:
        assert fragment in body["error"]["message"]
    assert "Traceback" not in response.text


# ---- auth ----------------------------------------------------------------------------------------


def test_healthz_needs_no_key(client):
    assert client.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": "Basic " + KEY}]
)
@pytest.mark.parametrize(
    "method, path",
    [("POST", "/v1/embeddings"), ("GET", "/v1/collections"), ("GET", "/metrics"), ("GET", "/openapi.json")],
)
def test_every_other_endpoint_requires_a_key(client, headers, method, path):
    response = client.request(method, path, headers=headers, json={"input": "x"})
    assert_error(response, 401, "API key")
    assert response.headers["www-authenticate"] == "Bearer"


def test_any_configured_key_works(client):
    assert client.get("/v1/models", headers={"Authorization": "Bearer second-key"}).status_code == 200


# ---- embeddings ----------------------------------------------------------------------------------


def test_embeddings_float_match_encoder(client, encoder):
    texts = ["A man is playing a guitar.", "The stock market fell.", ""]
    body = client.post("/v1/embeddings", json={"input": texts, "model": "all-MiniLM-L6-v2"}, headers=AUTH).json()
    assert body["object"] == "list" and body["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert [d["index"] for d in body["data"]] == [0, 1, 2] and all(d["object"] == "embedding" for d in body["data"])
    vectors = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    np.testing.assert_allclose(vectors, encoder.encode(texts), atol=1e-5)
    tokens = sum(encoder.count_tokens(texts))
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_embeddings_base64_and_dimensions(client, encoder):
    body = client.post(
        "/v1/embeddings", json={"input": "hello", "encoding_format": "base64", "dimensions": 64}, headers=AUTH
    ).json()
    vector = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, encoder.encode("hello", truncate_dim=64), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vector), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "payload, status, fragment",
    [
        ({"input": "x", "model": "gpt-4"}, 404, "model 'gpt-4' is not served"),
        ({"input": [1, 2, 3]}, 422, "body.input"),
        ({"input": []}, 422, "input must not be empty"),
        ({"input": "x", "dimensions": 0}, 422, "dimensions must be in 1..384"),
        ({"input": "x", "dimensions": 385}, 422, "dimensions must be in 1..384"),
        ({"input": "x", "encoding_format": "int8"}, 422, "encoding_format"),
        ({"input": ["x"] * 17}, 413, "the limit is 16 (max_texts)"),
        ({"input": ["ok", "y" * 501]}, 422, "input[1] has 501 characters; the limit is 500 (max_chars)"),
    ],
)
def test_embeddings_bad_requests(client, payload, status, fragment):
    assert_error(client.post("/v1/embeddings", json=payload, headers=AUTH), status, fragment)


def test_body_size_limit(client):
    big = b'{"input": "' + b"x" * (70 * 1024) + b'"}'
    assert_error(
        client.post("/v1/embeddings", content=big, headers={**AUTH, "Content-Type": "application/json"}),
        413,
        "65536 bytes (max_body_bytes)",
    )

    def chunks():  # no Content-Length: the streamed size is checked too
        yield b'{"input": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}'

    assert_error(
        client.post("/v1/embeddings", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}),
        413,
        "max_body_bytes",
    )


def test_malformed_json_is_422(client):
    assert_error(
        client.post("/v1/embeddings", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}), 422
    )


# ---- similarity ----------------------------------------------------------------------------------


def test_similarity_pairs_and_matrix(client, encoder):
    pairs = [
        ["A man is playing a guitar.", "Someone plays guitar."],
        ["A man is playing a guitar.", "The stock market fell."],
    ]
    scores = client.post("/v1/similarity", json={"pairs": pairs}, headers=AUTH).json()["scores"]
    assert scores[0] > 0.7 > 0.2 > scores[1]
    body = client.post(
        "/v1/similarity", json={"texts": ["a", "b"], "others": ["a", "b", "c"], "metric": "dot"}, headers=AUTH
    ).json()
    vectors = encoder.encode(["a", "b", "c"])
    np.testing.assert_allclose(body["matrix"], vectors[:2] @ vectors.T, atol=1e-5)
    assert_error(client.post("/v1/similarity", json={}, headers=AUTH), 422, "exactly one of 'pairs' or 'texts'")


# ---- collections ---------------------------------------------------------------------------------

DOCS = [
    {"id": "cat", "text": "The cat sleeps on the warm windowsill.", "metadata": {"topic": "pets", "year": 2021}},
    {"id": "dog", "text": "A dog fetches the ball in the park.", "metadata": {"topic": "pets", "year": 2023}},
    {
        "id": "stocks",
        "text": "Stocks fell sharply after weak earnings.",
        "metadata": {"topic": "finance", "year": 2023},
    },
]


@pytest.fixture(scope="module")
def docs_collection(client):
    assert client.post("/v1/collections", json={"name": "docs"}, headers=AUTH).status_code == 201
    body = client.post("/v1/collections/docs/documents", json={"documents": DOCS}, headers=AUTH).json()
    assert body == {"ids": ["cat", "dog", "stocks"], "added": 3, "updated": 0, "unchanged": 0}
    return "docs"


def test_collection_lifecycle(client, docs_collection):
    names = [c["name"] for c in client.get("/v1/collections", headers=AUTH).json()["collections"]]
    assert "docs" in names
    info = client.get("/v1/collections/docs", headers=AUTH).json()
    assert (info["count"], info["dimension"], info["model"]) == (3, 384, "sentence-transformers/all-MiniLM-L6-v2")
    assert info["provenance"]["backend"] == info["backend_in_use"]  # recorded at create from the server's encoder
    assert_error(client.post("/v1/collections", json={"name": "docs"}, headers=AUTH), 409, "already exists")
    assert client.get("/v1/collections/docs/documents/dog", headers=AUTH).json() == {
        "id": "dog",
        "text": DOCS[1]["text"],
        "metadata": DOCS[1]["metadata"],
    }
    assert_error(client.get("/v1/collections/docs/documents/nope", headers=AUTH), 404, "document 'nope' not found")
    again = client.post("/v1/collections/docs/documents", json={"documents": DOCS[:1]}, headers=AUTH).json()
    assert again["unchanged"] == 1


def test_search_modes_and_filters(client, docs_collection):
    def search(**body):
        response = client.post("/v1/collections/docs/search", json=body, headers=AUTH)
        assert response.status_code == 200, response.text
        return [h["id"] for h in response.json()["hits"]]

    assert search(query="a kitten napping", k=1) == ["cat"]
    assert search(query="a kitten napping", k=3, filter={"year": 2023}) == ["dog", "stocks"]
    assert search(query="earnings", k=3, mode="keyword") == ["stocks"]
    assert search(query="pets in the park", k=2, mode="hybrid", filter={"topic": {"$in": ["pets"]}})[0] == "dog"
    assert search(query="x", k=3, filter={"topic": "none"}) == []


def test_search_with_vector_and_errors(client, encoder, docs_collection):
    vector = encoder.encode("Markets dropped").tolist()
    hits = client.post("/v1/collections/docs/search", json={"query": vector, "k": 1}, headers=AUTH).json()["hits"]
    assert hits[0]["id"] == "stocks"
    assert_error(
        client.post("/v1/collections/docs/search", json={"query": [0.1, 0.2], "k": 1}, headers=AUTH), 400, "384"
    )
    assert_error(
        client.post("/v1/collections/docs/search", json={"query": "x", "k": 51}, headers=AUTH),
        422,
        "k=51 exceeds the limit of 50 (max_k)",
    )
    assert_error(client.post("/v1/collections/docs/search", json={"query": "x", "k": 0}, headers=AUTH), 422, "body.k")
    assert_error(
        client.post(
            "/v1/collections/docs/search", json={"query": "x", "filter": {"year": {"$regex": 1}}}, headers=AUTH
        ),
        400,
        "$regex",
    )
    assert_error(
        client.post("/v1/collections/missing/search", json={"query": "x"}, headers=AUTH),
        404,
        "collection 'missing' not found",
    )


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", "x" * 65, "sp ace", "semi;colon"])
def test_collection_names_are_validated(client, name):
    assert_error(client.post("/v1/collections", json={"name": name}, headers=AUTH), 422, "invalid collection name")


def test_upsert_errors(client, docs_collection):
    url = "/v1/collections/docs/documents"
    assert_error(
        client.post(url, json={"documents": [{"id": "a", "text": "x"}, {"text": "y"}]}, headers=AUTH),
        422,
        "documents[1] has no id",
    )
    assert_error(
        client.post(url, json={"documents": [{"id": "a"}]}, headers=AUTH), 422, "documents[0] needs a text or a vector"
    )
    assert_error(
        client.post(url, json={"documents": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}, headers=AUTH),
        400,
        "'a'",
    )
    assert_error(
        client.post(url, json={"documents": [{"id": str(i), "text": "t"} for i in range(17)]}, headers=AUTH),
        413,
        "max_texts",
    )


def test_delete_documents_and_collection(client):
    client.post("/v1/collections", json={"name": "scratch"}, headers=AUTH)
    client.post("/v1/collections/scratch/documents", json={"documents": DOCS}, headers=AUTH)
    assert client.request(
        "DELETE", "/v1/collections/scratch/documents", json={"ids": ["cat", "unknown"]}, headers=AUTH
    ).json() == {"deleted": 1}
    hits = client.post("/v1/collections/scratch/search", json={"query": "a cat sleeping", "k": 3}, headers=AUTH).json()[
        "hits"
    ]
    assert "cat" not in [h["id"] for h in hits]
    assert client.delete("/v1/collections/scratch", headers=AUTH).json() == {"deleted": "scratch"}
    assert_error(client.get("/v1/collections/scratch", headers=AUTH), 404, "not found")


def test_metrics_exposition(client):
    client.post("/v1/embeddings", json={"input": "count me"}, headers=AUTH)
    text = client.get("/metrics", headers=AUTH).text
    assert 'simvec_requests_total{method="POST",route="/v1/embeddings",status="200"}' in text
    assert (
        "simvec_request_seconds_bucket" in text and "simvec_batch_texts_count" in text and "simvec_queue_depth" in text
    )
    for stage in ("queue", "tokenize", "inference"):  # where a request's time went, separately
        count = next(line for line in text.splitlines() if line.startswith(f"simvec_{stage}_seconds_count"))
        assert float(count.split()[-1]) >= 1
    assert KEY not in text


def test_openapi_documents_every_endpoint(client):
    paths = client.get("/openapi.json", headers=AUTH).json()["paths"]
    for path in (
        "/v1/embeddings",
        "/v1/similarity",
        "/v1/collections",
        "/v1/collections/{name}",
        "/v1/collections/{name}/documents",
        "/v1/collections/{name}/search",
        "/v1/collections/{name}/documents/{doc_id}",
        "/healthz",
        "/metrics",
    ):
        assert path in paths


# ---- dynamic batching (the batcher's own logic, with a deterministic embed function) ------------


def test_batcher_merges_concurrent_requests_and_keeps_order():
    calls = []

    def embed(texts, kind):
        calls.append(list(texts))
        return BatchResult(np.array([[len(t)] for t in texts], dtype=np.float32), [len(t) for t in texts])

    async def scenario():
        batcher = DynamicBatcher(embed, max_batch=8, max_wait_ms=50)
        batcher.start()
        results = await asyncio.gather(*(batcher.embed(["x" * i, "y" * (i + 10)]) for i in range(1, 7)))
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    for i, (vectors, tokens) in enumerate(results, start=1):
        assert tokens == [i, i + 10] and vectors[:, 0].tolist() == [i, i + 10]
    assert [len(c) for c in calls] == [8, 4]  # 12 texts, batches of at most 8, requests never split


def test_batcher_never_mixes_queries_and_documents():
    calls = []

    def embed(texts, kind):
        calls.append((kind, list(texts)))
        return BatchResult(np.zeros((len(texts), 1), dtype=np.float32), [1] * len(texts))

    async def scenario():
        batcher = DynamicBatcher(embed, max_batch=64, max_wait_ms=50)
        batcher.start()
        await asyncio.gather(batcher.embed(["d1"]), batcher.embed(["q1"], kind="query"), batcher.embed(["d2"]))
        await batcher.stop()

    asyncio.run(scenario())
    assert sorted(calls) == [("document", ["d1"]), ("document", ["d2"]), ("query", ["q1"])]


def test_a_failing_batch_fails_only_its_own_requests():
    calls = []

    def embed(texts, kind):
        calls.append(list(texts))
        if "bad" in texts:
            raise ValueError("model exploded on 'bad'")
        return BatchResult(np.ones((len(texts), 1), dtype=np.float32), [1] * len(texts))

    async def scenario():
        batcher = DynamicBatcher(embed, max_batch=8, max_wait_ms=20)
        batcher.start()
        outcomes = await asyncio.gather(
            batcher.embed(["a"]), batcher.embed(["bad", "b"]), batcher.embed(["c"]), return_exceptions=True
        )
        await batcher.stop()
        return outcomes

    good, bad, other = asyncio.run(scenario())
    assert isinstance(bad, ValueError) and good[1] == [1] and other[1] == [1]
    assert calls[0] == ["a", "bad", "b", "c"] and sorted(calls[1:]) == [["a"], ["bad", "b"], ["c"]]  # retried alone


def test_batches_are_bounded_by_tokens_as_well_as_texts():
    calls = []

    def embed(texts, kind):
        calls.append(len(texts))
        return BatchResult(np.zeros((len(texts), 1), dtype=np.float32), [1] * len(texts))

    async def scenario():
        batcher = DynamicBatcher(embed, max_batch=64, max_wait_ms=50, max_batch_tokens=1000, max_tokens_per_text=256)
        batcher.start()
        await asyncio.gather(*(batcher.embed(["x" * 400]) for _ in range(8)))  # 256 tokens each at most
        await batcher.stop()

    asyncio.run(scenario())
    assert calls == [3, 3, 2]  # 3 x 256 <= 1000 < 4 x 256


@pytest.fixture()
def tight_app(encoder, tmp_path):
    """An app whose queue holds one text, driven concurrently in-process (httpx over ASGI)."""
    limits = Limits(max_queue=1, max_wait_ms=20)
    return create_app(ServerConfig(collections_dir=tmp_path, limits=limits), encoder=encoder)


def test_full_queue_answers_429_with_retry_after_and_every_accepted_request_is_right(tight_app, encoder):
    import httpx

    texts = [f"client {i} asks about the weather in city number {i}" for i in range(32)]

    async def scenario():
        batcher = tight_app.state.simvec.batcher
        batcher.start()
        transport = httpx.ASGITransport(app=tight_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://simvec") as http:
            responses = await asyncio.gather(*(http.post("/v1/embeddings", json={"input": [t]}) for t in texts))
        await batcher.stop()
        return responses

    responses = asyncio.run(scenario())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429} and 429 in statuses and 200 in statuses, statuses
    expected = encoder.encode(texts)
    for i, response in enumerate(responses):
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1 and "queue is full" in response.json()["error"]["message"]
        else:
            np.testing.assert_allclose(response.json()["data"][0]["embedding"], expected[i], atol=1e-5)


def test_healthz_is_not_ready_when_the_model_worker_is_dead(tight_app):
    import httpx

    async def scenario():
        batcher = tight_app.state.simvec.batcher
        batcher.start()
        transport = httpx.ASGITransport(app=tight_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://simvec") as http:
            ready = await http.get("/healthz")
            batcher._task.cancel()  # the worker loop dies (as after an uncaught BaseException)
            await asyncio.sleep(0)
            dead = await http.get("/healthz")
            refused = await http.post("/v1/embeddings", json={"input": "anyone there?"})
        await batcher.stop()
        return ready, dead, refused

    ready, dead, refused = asyncio.run(scenario())
    assert ready.status_code == 200
    assert dead.status_code == 503 and "not ready" in dead.json()["error"]["message"]
    assert refused.status_code == 503 and "worker" in refused.json()["error"]["message"]  # fails fast, no hang
