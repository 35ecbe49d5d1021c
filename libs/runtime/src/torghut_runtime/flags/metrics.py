"""The flag metrics: fallbacks, changes, current values and the last answer of the flag server."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class FlagMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.fallbacks = Counter(
            "torghut_feature_flag_fallbacks_total",
            "Flag evaluations that fell back to the configured value, by flag and reason "
            "(unavailable, timeout, not_found, malformed, unauthorized).",
            ["flag", "reason"], registry=registry)
        self.changes = Counter(
            "torghut_feature_flag_changes_total", "Flag value changes, by flag and source (server, fallback).",
            ["flag", "source"], registry=registry)
        self.value = Gauge("torghut_feature_flag_value", "Current value of each flag (1 on, 0 off).", ["flag"],
                           registry=registry)
        self.last_answer = Gauge("torghut_feature_flag_last_answer_timestamp_seconds",
                                 "When the flag server last answered for a flag.", ["flag"], registry=registry)
