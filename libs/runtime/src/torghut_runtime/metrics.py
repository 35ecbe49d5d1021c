"""Prometheus metrics the Kafka wiring keeps for every service.

Each service owns a :class:`CollectorRegistry` rather than the global one, so several services
(or several test instances) can live in one process without clashing registrations.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "torghut_consumer_messages_total",
            "Messages consumed, by topic and outcome (processed, duplicate, retried, dead_lettered).",
            ["topic", "outcome"], registry=registry,
        )
        self.dead_lettered = Counter(
            "torghut_dead_lettered_total",
            "Messages sent to <topic>.dlq, by reason (malformed, schema, handler_error).",
            ["topic", "reason"], registry=registry,
        )
        self.handler_seconds = Histogram(
            "torghut_handler_seconds", "Time spent handling one message, publishes included.",
            ["topic"], registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.lanes_stalled = Gauge(
            "torghut_lanes_stalled", "Consumer lanes whose records keep failing (their topic stands still).",
            registry=registry,
        )
        self.records_held = Gauge(
            "torghut_consumer_records_held",
            "Records fetched and held, unhandled and uncommitted, because their topic's gate is closed "
            "(a run-time switch such as a feature flag is off).",
            registry=registry,
        )
        self.published = Counter(
            "torghut_published_messages_total", "Messages published, by topic.", ["topic"], registry=registry,
        )
        self.outbox_published = Counter(
            "torghut_outbox_published_total", "Outbox rows published and marked, by outbox.", ["outbox"],
            registry=registry,
        )
        self.outbox_failures = Counter(
            "torghut_outbox_failures_total",
            "Outbox rounds that failed (a broker or database hiccup); the relay retries them.", ["outbox"],
            registry=registry,
        )
