"""A real `simvec serve` process on a loopback port, driven by real clients: the official openai
package, schemathesis (generated requests from our OpenAPI spec) and a small load test."""

import asyncio
import importlib.util
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.model

KEY = "live-test-key"
_spec = importlib.util.spec_from_file_location("load", Path(__file__).resolve().parents[1] / "benchmarks" / "load.py")
load = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(load)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    with load.running_server(tmp_path_factory.mktemp("served"), api_key=KEY) as url:
        yield url


@pytest.fixture(scope="module")
def openai_client(server_url):
    return openai.OpenAI(base_url=f"{server_url}/v1", api_key=KEY, max_retries=0, timeout=120)


TEXTS = ["A man is playing a guitar.", "Ein Mann spielt Gitarre.", "", "男人在弹吉他。", "word " * 400]


def cosines(a, b):
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_openai_client_gets_the_encoders_vectors(openai_client, encoder):
    response = openai_client.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS)  # base64 on the wire
    vectors = [d.embedding for d in response.data]
    assert cosines(vectors, encoder.encode(TEXTS)).min() >= 0.9999
    assert response.usage.prompt_tokens == sum(encoder.count_tokens(TEXTS))


def test_openai_client_float_format_and_dimensions(openai_client, encoder):
    response = openai_client.embeddings.create(
        model="sentence-transformers/all-MiniLM-L6-v2", input="hello there", encoding_format="float", dimensions=128
    )
    assert len(response.data[0].embedding) == 128
    assert cosines([response.data[0].embedding], [encoder.encode("hello there", truncate_dim=128)])[0] >= 0.9999


def test_openai_client_errors(server_url):
    bad_key = openai.OpenAI(base_url=f"{server_url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.embeddings.create(model="all-MiniLM-L6-v2", input="x")
    good = openai.OpenAI(base_url=f"{server_url}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError, match="is not served"):
        good.embeddings.create(model="text-embedding-3-small", input="x")


def test_small_load_has_no_errors(server_url):
    result = asyncio.run(load.run_load(server_url, clients=8, requests=200, api_key=KEY, max_seconds=600))
    assert result["errors"] == 0, result["error_samples"]
    assert result["requests"] == 200


def test_metrics_saw_batches(server_url):
    text = httpx.get(f"{server_url}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    count = next(line for line in text.splitlines() if line.startswith("simvec_batch_texts_count"))
    assert float(count.split()[-1]) > 0


def test_no_server_errors_on_generated_requests(server_url):
    """schemathesis generates requests for every operation of our OpenAPI spec: none may get a 5xx.

    (schemathesis' pytest plugin does not run under pytest 9, so hypothesis drives its strategies.)
    """
    auth = {"Authorization": f"Bearer {KEY}"}
    schema = schemathesis.openapi.from_url(f"{server_url}/openapi.json", headers=auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case):
            response = case.call(base_url=server_url, headers=auth, timeout=120)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            )

        no_server_error()
