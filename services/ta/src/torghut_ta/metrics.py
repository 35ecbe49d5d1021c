"""ta's Prometheus metrics, on the runtime's registry (served at /metrics).

Counted after the handler's transaction commits (``torghut_runtime.after_commit``), so a batch
that rolls back and runs again counts each bar once.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from .domain.series import Skip


class TaMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.bars_applied = Counter(
            "torghut_ta_bars_applied_total", "Bars applied to a series (one signal each).", registry=registry)
        self.bars_skipped = Counter(
            "torghut_ta_bars_skipped_total",
            "Bars not applied, by reason: " + ", ".join(reason.value for reason in Skip) + ".",
            ["reason"], registry=registry)
        self.quotes = Counter(
            "torghut_ta_quotes_total",
            "Quotes consumed (one older than the symbol's stored quote is consumed but not kept).", registry=registry)
        self.state_resets = Counter(
            "torghut_ta_state_resets_total",
            "Stored series states dropped because their version is not this build's (the series warms up again).",
            registry=registry)
        self.series_loads = Counter(
            "torghut_ta_series_loads_total",
            "Series loaded by a transaction, by where the state came from: kept (this process committed it and "
            "the row is still at that revision), stored (read and unpickled), new (no row yet).",
            ["source"], registry=registry)
        for source in ("kept", "stored", "new"):
            self.series_loads.labels(source=source)
        for reason in Skip:  # every reason shows from the start, at zero
            self.bars_skipped.labels(reason=reason.value)
