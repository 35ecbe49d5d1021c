"""The router's Prometheus metrics: seed 001's order-feed counters plus routing and venue health."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..domain.feed import FeedVerdict


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        p = "torghut_trading_order_feed_"
        self.messages = Counter(p + "messages_total", "Venue order events received, by venue and source.",
                                ["venue", "source"], registry=registry)
        self.events_persisted = Counter(p + "events_persisted_total", "Order events stored (any verdict).",
                                        ["venue"], registry=registry)
        self.duplicates = Counter(p + "duplicates_total",
                                  "Repeated events: same fingerprint, or a state already applied.",
                                  ["venue", "kind"], registry=registry)
        self.out_of_order = Counter(p + "out_of_order_total", "Stale events kept but not applied.",
                                    ["venue", "reason"], registry=registry)
        self.missing_fields = Counter(p + "missing_fields_total", "Venue events without status or identity.",
                                      ["venue"], registry=registry)
        self.apply_updates = Counter(p + "apply_updates_total", "Events applied to an execution (and published).",
                                     ["venue"], registry=registry)
        self.consumer_errors = Counter(p + "consumer_errors_total",
                                       "Failures handling venue events (stream, reconcile, outbox).",
                                       ["source"], registry=registry)
        self.orders = Counter("torghut_execution_orders_total", "Approved orders handled, by venue and outcome.",
                              ["venue", "outcome"], registry=registry)
        self.fallbacks = Counter("torghut_execution_fallback_total", "Orders sent to the fallback venue, by reason.",
                                 ["reason"], registry=registry)
        self.cancels = Counter("torghut_execution_cancels_total", "Cancels sent because of the control posture.",
                               ["venue"], registry=registry)
        self.rate_limit_waits = Counter("torghut_execution_rate_limit_waits_total",
                                        "Times a venue call waited for the rate limit.", ["venue"], registry=registry)
        self.reconciles = Counter("torghut_execution_reconcile_runs_total", "Reconciliation passes, by trigger.",
                                  ["venue", "trigger"], registry=registry)
        self.venue_healthy = Gauge("torghut_execution_venue_healthy", "1 when the venue answered its last check.",
                                   ["venue"], registry=registry)
        self.snapshots = Counter("torghut_execution_account_snapshots_total", "Account snapshots published.",
                                 ["venue", "trigger"], registry=registry)

    def count_verdict(self, verdict: FeedVerdict, venue: str) -> None:
        """An event stored with ``verdict``: applied, a repeated state, or stale (an unlinked one is neither)."""
        if verdict is FeedVerdict.APPLY:
            self.apply_updates.labels(venue=venue).inc()
        elif verdict is FeedVerdict.UNCHANGED:
            self.duplicates.labels(venue=venue, kind="state").inc()
        elif verdict.is_stale:
            self.out_of_order.labels(venue=venue, reason=verdict.value).inc()
