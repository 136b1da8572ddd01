"""Prometheus metrics (prometheus_client), one registry per app so several apps can coexist in a process."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,  # noqa: F401  (re-exported for the /metrics route)
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from simvec.server.batching import BatchResult


class Metrics:
    """Request counts and latencies per route, model batch sizes, queue depth, and where batch time goes."""

    def __init__(self, queue_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "simvec_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "simvec_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.batch_size = Histogram(
            "simvec_batch_texts",
            "Texts per model batch formed by the dynamic batcher",
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
        )
        seconds = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
        self.queue_seconds = Histogram(
            "simvec_queue_seconds",
            "Time a request waited in the batcher's queue before its batch started",
            registry=self.registry,
            buckets=seconds,
        )
        self.tokenize_seconds = Histogram(
            "simvec_tokenize_seconds", "Tokenizer time per model batch", registry=self.registry, buckets=seconds
        )
        self.inference_seconds = Histogram(
            "simvec_inference_seconds",
            "Model time per batch (forward passes and pooling, without tokenizing)",
            registry=self.registry,
            buckets=seconds,
        )
        self.queue_depth = Gauge("simvec_queue_depth", "Texts waiting for the model", registry=self.registry)
        self.queue_depth.set_function(queue_depth)

    def observe_batch(self, queue_seconds: list[float], result: BatchResult) -> None:
        """Record one finished batch: each request's queue wait, the batch's tokenize and inference time."""
        for waited in queue_seconds:
            self.queue_seconds.observe(waited)
        self.tokenize_seconds.observe(result.tokenize_seconds)
        self.inference_seconds.observe(result.inference_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
