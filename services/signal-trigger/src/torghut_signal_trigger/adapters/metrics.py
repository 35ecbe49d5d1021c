"""signal-trigger's Prometheus metrics, on the runtime's registry (served at /metrics)."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from torghut_strategies.engine import Evaluation


class TriggerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.signals = Counter(
            "torghut_signal_trigger_signals_total", "TA signals evaluated, by source (kafka, clickhouse).",
            ["source"], registry=registry)
        self.triggers = Counter(
            "torghut_signal_trigger_triggers_total", "Strategy triggers emitted, by strategy and direction.",
            ["strategy", "direction"], registry=registry)
        self.gated = Counter(
            "torghut_signal_trigger_gated_total",
            "Signals refused by a gate, by reason (a signal failing several gates counts under each).",
            ["reason"], registry=registry)
        self.suppressed = Counter(
            "torghut_signal_trigger_suppressed_total",
            "Triggers a strategy wanted but did not emit (outside_session, cooldown, filter_*), by strategy.",
            ["strategy", "reason"], registry=registry)
        self.lag = Histogram(
            "torghut_signal_trigger_lag_seconds", "Wall clock at evaluation minus the signal's event_ts.",
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 86_400))
        self.invalid_rows = Counter(
            "torghut_signal_trigger_invalid_rows_total",
            "ClickHouse rows that could not become a TaSignal (skipped, cursor moves on).", registry=registry)
        self.cursor_event_time = Gauge(
            "torghut_signal_trigger_clickhouse_cursor_event_time_seconds",
            "Event time (Unix seconds) of the last ClickHouse row committed: how far the source has read.",
            registry=registry)
        self.last_poll = Gauge(
            "torghut_signal_trigger_clickhouse_last_poll_success_seconds",
            "Wall clock (Unix seconds) of the last successful ClickHouse poll; alert when it stops moving.",
            registry=registry)

    def observe(self, source: str, evaluation: Evaluation, event_ts: datetime) -> None:
        self.signals.labels(source=source).inc()
        self.lag.observe(max((datetime.now(UTC) - event_ts).total_seconds(), 0.0))
        for reason in evaluation.gate_reasons:
            self.gated.labels(reason=reason.value).inc()
        for item in evaluation.suppressed:
            self.suppressed.labels(strategy=item.strategy_id, reason=item.reason).inc()
        for trigger in evaluation.triggers:
            self.triggers.labels(strategy=trigger.strategy_id, direction=trigger.direction.value).inc()
