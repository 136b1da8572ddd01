"""Server reliability (issue 10): collection lifecycle under concurrent requests, one bad request among good ones,
a damaged collection among good ones, hygiene of error messages."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import pytest

from simvec.server import ServerConfig, create_app

pytestmark = pytest.mark.model

DIM = 384


@pytest.fixture()
def app(encoder, tmp_path):
    return create_app(ServerConfig(collections_dir=tmp_path / "collections"), encoder=encoder)


def run(app, scenario):
    """Drive `scenario(http)` against the app in-process, with its batcher running."""

    async def main():
        batcher = app.state.simvec.batcher
        batcher.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://simvec", timeout=120) as http:
                return await scenario(http)
        finally:
            await batcher.stop()
            await app.state.simvec.registry.close()

    return asyncio.run(main())


def vector(seed: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(DIM)
    return (v / np.linalg.norm(v)).tolist()


def upsert_body(i: int) -> dict:
    return {"documents": [{"id": f"doc-{i}", "vector": vector(i), "metadata": {"i": i}}]}


def test_delete_during_upserts_loses_no_acknowledged_write_and_frees_the_name(app):
    async def scenario(http):
        assert (await http.post("/v1/collections", json={"name": "c"})).status_code == 201
        done: dict[str, float] = {}

        async def upsert(i):
            response = await http.post("/v1/collections/c/documents", json=upsert_body(i))
            done[f"upsert {i}"] = time.monotonic()
            return response

        async def delete():
            await asyncio.sleep(0.01)
            response = await http.delete("/v1/collections/c")
            done["delete"] = time.monotonic()
            return response

        async def get():
            await asyncio.sleep(0.01)
            return await http.get("/v1/collections/c")

        tasks = [upsert(i) for i in range(60)] + [delete()] + [get() for _ in range(10)]
        tasks += [upsert(i) for i in range(60, 120)]
        responses = await asyncio.gather(*tasks)
        recreated = await http.post("/v1/collections", json={"name": "c"})
        after = await http.get("/v1/collections/c")
        listing = await http.get("/v1/collections")
        return responses, done, recreated, after, listing

    responses, done, recreated, after, listing = run(app, scenario)
    upserts, deleted, gets = responses[:60] + responses[71:], responses[60], responses[61:71]
    assert deleted.status_code == 200, deleted.text
    assert {r.status_code for r in upserts + gets} <= {200, 404}, [
        r.text for r in upserts + gets if r.status_code >= 500
    ]
    acknowledged = [i for i, r in zip([*range(60), *range(60, 120)], upserts, strict=True) if r.status_code == 200]
    late = [i for i in acknowledged if done[f"upsert {i}"] > done["delete"]]
    assert not late, f"upserts acknowledged after the delete answered (written to a deleted collection): {late}"
    assert recreated.status_code == 201, recreated.text  # the name is free at once
    assert after.status_code == 200 and after.json()["count"] == 0  # nothing from before leaks into the new one
    assert [c["name"] for c in listing.json()["collections"]] == ["c"]


def test_every_acknowledged_upsert_is_stored_under_concurrent_reads(app):
    async def scenario(http):
        await http.post("/v1/collections", json={"name": "c"})
        writes = [http.post("/v1/collections/c/documents", json=upsert_body(i)) for i in range(50)]
        reads = [http.post("/v1/collections/c/search", json={"query": vector(1000 + i), "k": 5}) for i in range(20)]
        responses = await asyncio.gather(*writes, *reads)
        stored = [await http.get(f"/v1/collections/c/documents/doc-{i}") for i in range(50)]
        return responses, stored

    responses, stored = run(app, scenario)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    assert all(r.status_code == 200 and r.json()["metadata"] == {"i": i} for i, r in enumerate(stored))


def test_one_unreadable_collection_does_not_break_the_listing(app, tmp_path):
    async def scenario(http):
        for name in ("good", "broken"):
            await http.post("/v1/collections", json={"name": name})
        await app.state.simvec.registry.close()  # as after a restart: nothing open
        (tmp_path / "collections" / "broken" / "collection.db").write_bytes(b"this is not a database" * 100)
        for wal in (tmp_path / "collections" / "broken").glob("collection.db-*"):
            wal.unlink()
        return await http.get("/v1/collections")

    listing = run(app, scenario)
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert [c["name"] for c in body["collections"]] == ["good"]
    assert [u["name"] for u in body["unreadable"]] == ["broken"]
    assert str(tmp_path) not in listing.text


def test_lone_surrogates_among_concurrent_good_requests_fail_alone(app):
    bad_raw = '{"input": ["fine", "x \\ud800"]}'
    good = [f"client {i} writes about the harbour at dawn" for i in range(80)]

    async def scenario(http):
        await http.post("/v1/collections", json={"name": "c"})
        await http.post("/v1/collections/c/documents", json={"documents": [{"id": "a", "text": "harbour at dawn"}]})
        bad_search_raw = '{"query": "harbour \\udfff", "k": 3}'
        calls = [http.post("/v1/embeddings", json={"input": [t]}) for t in good[:40]]
        calls += [http.post("/v1/collections/c/search", json={"query": t, "k": 3}) for t in good[40:]]
        calls.append(http.post("/v1/embeddings", content=bad_raw, headers={"content-type": "application/json"}))
        calls.append(
            http.post("/v1/collections/c/search", content=bad_search_raw, headers={"content-type": "application/json"})
        )
        return await asyncio.gather(*calls)

    responses = run(app, scenario)
    assert all(r.status_code == 200 for r in responses[:80]), [r.text for r in responses[:80] if r.status_code != 200]
    for bad, item in ((responses[80], "input[1]"), (responses[81], "query")):
        assert bad.status_code == 422, bad.text
        message = bad.json()["error"]["message"]
        assert item in message and "surrogate" in message, message


def test_keyword_search_does_not_wait_for_an_upsert_being_embedded(app):
    texts = [f"document {i} about lighthouses, tides and the long coastal road number {i}" for i in range(150)]

    async def scenario(http):
        await http.post("/v1/collections", json={"name": "c"})
        await http.post("/v1/collections/c/documents", json={"documents": [{"id": "seed", "text": "lighthouse"}]})
        finished: list[str] = []

        async def upsert():
            body = {"documents": [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]}
            response = await http.post("/v1/collections/c/documents", json=body)
            finished.append("upsert")
            return response

        async def keyword():
            await asyncio.sleep(0.05)  # the upsert is being embedded by now
            response = await http.post("/v1/collections/c/search", json={"query": "lighthouse", "mode": "keyword"})
            finished.append("keyword")
            return response

        responses = await asyncio.gather(upsert(), keyword())
        return responses, finished

    (upserted, searched), finished = run(app, scenario)
    assert upserted.status_code == 200 and upserted.json()["added"] == 150
    assert searched.status_code == 200 and searched.json()["hits"][0]["id"] == "seed"
    assert finished == ["keyword", "upsert"]


def test_errors_name_the_collection_not_the_server_path(app, tmp_path):
    async def scenario(http):
        await http.post("/v1/collections", json={"name": "c"})
        upsert = await http.post("/v1/collections/c/documents", json={"documents": [{"id": "a", "vector": [1, 2, 3]}]})
        search = await http.post("/v1/collections/c/search", json={"query": [1.0, 2.0], "k": 1})
        return upsert, search

    for response in run(app, scenario):
        assert response.status_code in (400, 422), response.text
        assert str(tmp_path) not in response.text and "'c'" in response.text


def test_an_empty_api_key_is_refused():
    from simvec import InputError

    for key in ("", "   "):
        with pytest.raises(InputError, match="empty"):
            ServerConfig(api_keys=(key,))


def test_metrics_need_the_key_and_odd_methods_make_no_new_series(encoder, tmp_path):
    app = create_app(ServerConfig(collections_dir=tmp_path, api_keys=("k1",)), encoder=encoder)
    auth = {"Authorization": "Bearer k1"}

    async def scenario(http):
        for i in range(20):
            await http.request(f"BREW{i}", "/v1/nothing")
        anonymous = await http.get("/metrics")
        scraped = await http.get("/metrics", headers=auth)
        return anonymous, scraped

    anonymous, scraped = run(app, scenario)
    assert anonymous.status_code == 401
    assert scraped.status_code == 200 and "BREW" not in scraped.text and 'method="other"' in scraped.text


def test_a_500_says_connection_close(app):
    def boom():
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)

    async def scenario(http):
        return await http.get("/boom")

    transport_app = app

    async def main():
        transport = httpx.ASGITransport(app=transport_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://simvec") as http:
            return await scenario(http)

    response = asyncio.run(main())
    assert response.status_code == 500 and response.headers["connection"] == "close"
    assert "a bug" not in response.text


def test_ids_with_slashes_can_be_written_and_read(app):
    async def scenario(http):
        await http.post("/v1/collections", json={"name": "c"})
        ids = ["a/b/c", "/lead", "line\n", "\n"]
        body = {"documents": [{"id": doc_id, "vector": vector(i)} for i, doc_id in enumerate(ids)]}
        written = await http.post("/v1/collections/c/documents", json=body)
        paths = ("a/b/c", "%2Flead", "line%0A", "%0A")
        return written, [await http.get(f"/v1/collections/c/documents/{path}") for path in paths]

    written, read = run(app, scenario)
    assert written.status_code == 200
    assert [r.json()["id"] for r in read] == ["a/b/c", "/lead", "line\n", "\n"]


def test_vectors_of_different_lengths_in_one_upsert_are_a_clear_error(app):  # found by tests/test_fuzz_server.py
    async def scenario(http):
        await http.post("/v1/collections", json={"name": "c"})
        body = {"documents": [{"id": "a", "vector": vector(1)}, {"id": "b", "vector": [1.0, 2.0]}]}
        return await http.post("/v1/collections/c/documents", json=body)

    response = run(app, scenario)
    assert response.status_code == 400 and "vectors[1] has shape (2,)" in response.json()["error"]["message"]
