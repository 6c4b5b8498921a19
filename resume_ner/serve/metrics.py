"""The service's Prometheus metrics (prometheus_client), in a registry of its own per app:
requests by route and status, latency, micro-batch sizes and durations, texts and
characters processed, windows waiting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass
class Metrics:
    registry: Any
    requests: Any
    latency: Any
    batch_windows: Any
    batch_seconds: Any
    texts: Any
    characters: Any
    queued: Any

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def build_metrics(queued: Any) -> Metrics:
    """A registry with the service's metrics; `queued()` gives the windows waiting."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()
    waiting = Gauge("resume_ner_windows_queued", "Windows waiting for a forward", registry=registry)
    waiting.set_function(queued)
    return Metrics(
        registry=registry,
        requests=Counter(
            "resume_ner_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=registry,
        ),
        latency=Histogram(
            "resume_ner_request_seconds",
            "Request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        batch_windows=Histogram(
            "resume_ner_batch_windows",
            "Windows per forward (the micro-batch size)",
            buckets=BATCH_BUCKETS,
            registry=registry,
        ),
        batch_seconds=Histogram(
            "resume_ner_batch_seconds",
            "Seconds per forward",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        texts=Counter("resume_ner_texts", "Texts processed", registry=registry),
        characters=Counter("resume_ner_characters", "Characters processed", registry=registry),
        queued=waiting,
    )
