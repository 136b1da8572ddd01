"""Load test of `simvec serve` on loopback: concurrent clients mixing embeddings and searches.

    python benchmarks/load.py --clients 64 --requests 10000
    python benchmarks/load.py --cpu --clients 64 --requests 2000    # server CPU per text vs in-process (issue 13)

Starts a server subprocess on a free loopback port (or uses --url), creates a collection from the
bundled sample corpus, then runs the clients with httpx. Prints errors, p50/p99 latency, requests/s,
texts/s, and, measured in the same run, the in-process encoder's texts/s on the same texts (batched,
and one text per call) as the anchor.

--cpu: embeddings only, every request 1-16 short texts; the server process's CPU-seconds per 1,000 texts
(read from the OS for the server PID with psutil, so the load generator's own CPU is not counted) against
the CPU-seconds per 1,000 texts of in-process batched `Encoder.encode` on the same texts, measured after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

SEARCH_SHARE = 0.3
SERVER_PIDS: dict[str, int] = {}  # url -> pid of the server running_server started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(collections: Path, api_key: str | None = None, timeout: float = 300.0):
    """A `simvec serve` subprocess on a free loopback port; yields its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "simvec",
        "serve",
        "--port",
        str(port),
        "--collections",
        str(collections),
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if api_key:
        env["SIMVEC_API_KEY"] = api_key
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    SERVER_PIDS[url] = proc.pid
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server did not become healthy within {timeout} s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def corpus_texts() -> list[str]:
    from simvec.demo import sample_corpus

    return [doc["text"] for doc in sample_corpus()]


async def run_load(
    url: str, clients: int, requests: int, api_key: str | None = None, seed: int = 0, max_seconds: float = 900.0
) -> dict:
    """Run `requests` requests from `clients` concurrent clients; returns counts, latencies and rates."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    texts = corpus_texts()
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        collection = f"load-{rng.randrange(10**9)}"
        response = await client.post("/v1/collections", json={"name": collection})
        response.raise_for_status()
        docs = [{"id": str(i), "text": t, "metadata": {"n": i}} for i, t in enumerate(texts)]
        (await client.post(f"/v1/collections/{collection}/documents", json={"documents": docs})).raise_for_status()
        plan = [
            ("search" if rng.random() < SEARCH_SHARE else "embed", f"{rng.choice(texts)} #{i}") for i in range(requests)
        ]
        latencies: list[float] = []
        errors: list[str] = []
        counter = iter(range(requests))

        async def worker() -> None:
            for i in counter:
                kind, text = plan[i]
                started = time.perf_counter()
                try:
                    if kind == "embed":
                        r = await client.post("/v1/embeddings", json={"input": text, "model": "all-MiniLM-L6-v2"})
                    else:
                        r = await client.post(f"/v1/collections/{collection}/search", json={"query": text, "k": 5})
                    if r.status_code != 200:
                        errors.append(f"{kind}: HTTP {r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{kind}: {type(exc).__name__} {exc}")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(clients))), max_seconds)
        elapsed = time.perf_counter() - started
        await client.delete(f"/v1/collections/{collection}")
    lat = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": requests,
        "errors": len(errors),
        "error_samples": errors[:5],
        "seconds": elapsed,
        "requests_per_s": requests / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "embed_requests": sum(1 for kind, _ in plan if kind == "embed"),
    }


def in_process_anchor(n: int, seed: int = 0) -> dict:
    """texts/s of Encoder.encode on the same kind of texts: batched, and one text per call."""
    from simvec import Encoder

    encoder = Encoder()
    rng = random.Random(seed)
    texts = [f"{rng.choice(corpus_texts())} #{i}" for i in range(n)]
    encoder.encode(texts[:64])  # warm-up
    started = time.perf_counter()
    encoder.encode(texts)
    batched = n / (time.perf_counter() - started)
    singles = texts[: min(n, 500)]
    started = time.perf_counter()
    for text in singles:
        encoder.encode(text)
    one_by_one = len(singles) / (time.perf_counter() - started)
    return {"batched_texts_per_s": batched, "single_texts_per_s": one_by_one}


def cpu_seconds(pid: int) -> float:
    """User + system CPU-seconds of a process, all its threads included."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def request_plan(requests: int, seed: int = 0) -> list[list[str]]:
    """`requests` lists of 1-16 short texts (sample-corpus sentences made distinct by a suffix)."""
    rng = random.Random(seed)
    texts = corpus_texts()
    return [[f"{rng.choice(texts)} #{i}.{j}" for j in range(rng.randint(1, 16))] for i in range(requests)]


async def run_cpu_load(url: str, pid: int, clients: int, plan: list[list[str]]) -> dict:
    """Embedding-only load; the server's CPU-seconds, statuses and latencies over the run."""
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    counter = iter(range(len(plan)))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await client.post("/v1/embeddings", json={"input": ["warm up"] * 16})

        async def worker() -> None:
            for i in counter:
                started = time.perf_counter()
                r = await client.post("/v1/embeddings", json={"input": plan[i]})
                latencies.append(time.perf_counter() - started)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 200 and len(r.json()["data"]) != len(plan[i]):
                    statuses[-1] = statuses.get(-1, 0) + 1  # a wrong answer counts as an error

        cpu_before, started = cpu_seconds(pid), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_before
    lat = np.array(latencies) * 1000
    texts = sum(len(p) for p in plan)
    return {
        "texts": texts,
        "requests": len(plan),
        "statuses": statuses,
        "seconds": elapsed,
        "server_cpu_s_per_1000": 1000 * cpu / texts,
        "server_texts_per_s": texts / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
    }


def in_process_cpu(plan: list[list[str]]) -> dict:
    """CPU-seconds per 1,000 texts of batched Encoder.encode (this process, nothing else running in it)."""
    from simvec import Encoder

    encoder = Encoder()
    texts = [t for request in plan for t in request]
    encoder.encode(texts[:64])  # warm-up
    cpu_before, started = time.process_time(), time.perf_counter()
    encoder.encode(texts, batch_size=64)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    return {
        "cpu_s_per_1000": 1000 * cpu / len(texts),
        "texts_per_s": len(texts) / elapsed,
        "backend": encoder.backend.name,
    }


def main_cpu(args: argparse.Namespace) -> None:
    plan = request_plan(args.requests)
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp)) as url:
        server = asyncio.run(run_cpu_load(url, SERVER_PIDS[url], args.clients, plan))
    anchor = in_process_cpu(plan)
    ratio = server["server_cpu_s_per_1000"] / anchor["cpu_s_per_1000"]
    errors = sum(n for status, n in server["statuses"].items() if status != 200)
    print(
        f"\n## Server CPU per text vs in-process ({args.clients} clients, {server['requests']} requests, "
        f"{server['texts']} texts, 1-16 texts each; backend {anchor['backend']})\n"
    )
    print("| | CPU-s / 1,000 texts | texts/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| server (its PID) | {server['server_cpu_s_per_1000']:.2f} | {server['server_texts_per_s']:.0f} | "
        f"{server['p50_ms']:.1f} | {server['p99_ms']:.1f} | {errors} |"
    )
    print(
        f"| in-process `Encoder.encode` (batch 64) | {anchor['cpu_s_per_1000']:.2f} | {anchor['texts_per_s']:.0f} | | | |"
    )
    print(f"\nratio server / in-process CPU per text: {ratio:.2f}x (target <= 1.25x); statuses {server['statuses']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--url", help="An already running server (default: start one).")
    parser.add_argument("--api-key")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="embedding-only run: server CPU per text vs in-process")
    args = parser.parse_args()
    if args.cpu:
        main_cpu(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.url:
            result = asyncio.run(run_load(args.url, args.clients, args.requests, args.api_key))
        else:
            with running_server(Path(tmp), args.api_key) as url:
                result = asyncio.run(run_load(url, args.clients, args.requests, args.api_key))
    anchor = in_process_anchor(result["embed_requests"])
    server_texts_per_s = result["embed_requests"] / result["seconds"]
    result.update(
        anchor,
        server_embed_texts_per_s=server_texts_per_s,
        ratio_vs_in_process_batched=server_texts_per_s / anchor["batched_texts_per_s"],
        ratio_vs_in_process_single=server_texts_per_s / anchor["single_texts_per_s"],
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        "| clients | requests | errors | p50 ms | p99 ms | req/s | server embed texts/s* | in-process batched texts/s | ratio | in-process one-by-one texts/s | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {result['clients']} | {result['requests']} | {result['errors']} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} | "
        f"{result['requests_per_s']:.0f} | {server_texts_per_s:.0f} | {anchor['batched_texts_per_s']:.0f} | "
        f"{result['ratio_vs_in_process_batched']:.2f} | {anchor['single_texts_per_s']:.0f} | {result['ratio_vs_in_process_single']:.2f} |"
    )
    print(
        "* embedding requests (one text each) completed per second of the whole mixed run, searches running alongside."
    )
    if result["errors"]:
        print("errors:", *result["error_samples"], sep="\n  ")


if __name__ == "__main__":
    main()
