"""A real `simvec serve` process stopped with SIGTERM under write load: every upsert it acknowledged (200) is in
the collection afterwards (issue 10, "Keep it fixed")."""

from __future__ import annotations

import importlib.util
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from simvec import Collection

pytestmark = [pytest.mark.faults, pytest.mark.engine, pytest.mark.model]  # the server process loads the model

_spec = importlib.util.spec_from_file_location("load", Path(__file__).resolve().parents[2] / "benchmarks" / "load.py")
load = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(load)


def test_sigterm_under_load_keeps_every_acknowledged_write(tmp_path):
    acknowledged: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(url: str, worker: int) -> None:
        rng = np.random.default_rng(worker)
        with httpx.Client(base_url=url, timeout=30) as http:
            for n in range(10_000):
                if stop.is_set():
                    return
                doc_id = f"w{worker}-{n}"
                body = {"documents": [{"id": doc_id, "vector": rng.standard_normal(384).tolist()}]}
                try:
                    response = http.post("/v1/collections/c/documents", json=body)
                except httpx.TransportError:
                    return  # the server is gone: this write was not acknowledged
                if response.status_code == 200:
                    acknowledged.append(doc_id)
                elif response.status_code >= 500:
                    failures.append(response.text)

    with load.running_server(tmp_path / "collections") as url:
        assert httpx.post(f"{url}/v1/collections", json={"name": "c"}).status_code == 201
        threads = [threading.Thread(target=client, args=(url, w)) for w in range(6)]
        for thread in threads:
            thread.start()
        while len(acknowledged) < 150:
            time.sleep(0.01)
        os.kill(load.SERVER_PIDS[url], signal.SIGTERM)
        for thread in threads:
            thread.join(60)
        stop.set()
    assert not failures, failures[:3]
    with Collection.open(tmp_path / "collections" / "c") as collection:
        stored = set(collection.matrix()[0])
    lost = [doc_id for doc_id in acknowledged if doc_id not in stored]
    assert not lost, f"{len(lost)} acknowledged writes lost"
    print(f"acknowledged {len(acknowledged)}, stored {len(stored)}, lost 0")
