"""Counters an operator watches: webhook outcomes, intake decisions, run status changes, dispatch retries."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class WhitepaperMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.webhook = Counter("torghut_whitepaper_webhook_deliveries_total", "GitHub deliveries by outcome",
                               ["outcome"], registry=registry)
        self.intake = Counter("torghut_whitepaper_intake_total", "Issue events by intake decision",
                              ["reason"], registry=registry)
        self.transitions = Counter("torghut_whitepaper_run_transitions_total", "Run status changes",
                                   ["status"], registry=registry)
        self.control = Counter("torghut_whitepaper_control_requests_total", "Control API requests by outcome",
                               ["route", "outcome"], registry=registry)
