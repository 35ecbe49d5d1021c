"""Prometheus metrics of the decision-client (on the runtime's registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class DecisionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter("torghut_decision_client_decisions_total",
                                 "Decisions published, by transport and action.", ["transport", "action"],
                                 registry=registry)
        self.holds = Counter("torghut_decision_client_fail_closed_total",
                             "Fail-closed holds, by reason code.", ["reason"], registry=registry)
        self.replays = Counter("torghut_decision_client_replayed_total",
                               "Triggers answered from the stored decision (no engine run).", registry=registry)
        self.engine_seconds = Histogram("torghut_decision_client_engine_seconds",
                                        "Time to a decision outcome, by transport.", ["transport"],
                                        buckets=(0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 90, 120, 180, 240, 300),
                                        registry=registry)
        self.shadow = Counter("torghut_decision_client_shadow_verdicts_total",
                              "Shadow DSPy verdicts recorded, by action and agreement with the primary.",
                              ["action", "agrees"], registry=registry)
        self.engine_batch_runs = Histogram("torghut_decision_client_engine_batch_runs",
                                           "Runs per batch request to the decision engine (how well batches form).",
                                           buckets=(1, 2, 4, 8, 16, 32, 64), registry=registry)
        self.claims_in_hand = Gauge("torghut_decision_client_claims_in_hand",
                                    "Claimed triggers this process is deciding now (engine runs in flight).",
                                    registry=registry)
