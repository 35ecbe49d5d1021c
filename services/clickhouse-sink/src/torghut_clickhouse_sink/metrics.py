"""clickhouse-sink's Prometheus metrics, on the runtime's registry (served at /metrics).

Rows and skips are counted after the batch's transaction commits (``torghut_runtime.after_commit``),
so a batch that rolls back and runs again counts its rows once. Failures and latency describe each
INSERT as it happens, whatever became of its transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .domain.rows import Skip

#: Why an INSERT failed (the ``reason`` label of the failures counter).
UNAVAILABLE, REFUSED = "unavailable", "refused"


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry, tables: Iterable[str]) -> None:
        self.rows_written = Counter(
            "torghut_clickhouse_sink_rows_written_total",
            "Rows ClickHouse acknowledged, in batches whose transaction committed.", ["table"], registry=registry)
        self.skipped = Counter(
            "torghut_clickhouse_sink_skipped_total",
            "Messages that give no row, by reason: " + ", ".join(reason.value for reason in Skip) + ".",
            ["table", "reason"], registry=registry)
        self.insert_failures = Counter(
            "torghut_clickhouse_sink_insert_failures_total",
            "INSERTs that failed: unavailable (ClickHouse down or the table gone: the topics wait) or refused "
            "(the rows' fault: the batch is retried record by record, then dead-lettered).",
            ["table", "reason"], registry=registry)
        self.insert_seconds = Histogram(
            "torghut_clickhouse_sink_insert_seconds", "Time one INSERT took, acknowledged or not.", ["table"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=registry)
        self.up = Gauge(
            "torghut_clickhouse_sink_up",
            "1 while ClickHouse takes rows; 0 while the topics wait for it (records held, nothing committed).",
            registry=registry)
        for table in tables:  # every series shows from the start, at zero
            self.rows_written.labels(table=table)
            self.insert_seconds.labels(table=table)
            for reason in Skip:
                self.skipped.labels(table=table, reason=reason.value)
            for why in (UNAVAILABLE, REFUSED):
                self.insert_failures.labels(table=table, reason=why)
