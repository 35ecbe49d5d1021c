"""Prometheus metrics of the decision-engine (on the runtime's registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RunMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter("torghut_decision_engine_runs_total",
                            "Finished runs by outcome: the action (buy, sell, hold) or the error code.",
                            ["outcome"], registry=registry)
        self.seconds = Histogram("torghut_decision_engine_run_seconds", "Run duration, creation to terminal event.",
                                 registry=registry, buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 90, 300))
        self.live = Gauge("torghut_decision_engine_live_runs", "Runs executing in this process.", registry=registry)
        self.streams = Gauge("torghut_decision_engine_open_streams", "Open SSE streams.", registry=registry)
