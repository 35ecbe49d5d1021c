"""Prometheus metrics of the risk-firewall (on the runtime's registry, served at /metrics).

The handlers count through ``after_commit``, so a verdict rolled back is never counted.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class FirewallMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.verdicts = Counter("torghut_risk_verdicts", "Verdicts by outcome", ["outcome"], registry=registry)
        self.reasons = Counter("torghut_risk_veto_reasons", "Failing checks by reason code", ["reason"],
                               registry=registry)
        self.clamps = Counter("torghut_risk_clamps", "Approvals with a quantity clamp", registry=registry)
        self.replayed = Counter("torghut_risk_replayed_decisions",
                                "Decisions already judged: the stored verdict was republished", registry=registry)
        self.latches = Counter("torghut_risk_latches", "Latched stops by reason", ["reason"], registry=registry)
        self.trade_updates = Counter("torghut_risk_trade_updates", "Trade updates by outcome", ["outcome"],
                                     registry=registry)
        self.flatten_orders = Counter("torghut_risk_flatten_orders", "Scheduled closing orders emitted",
                                      registry=registry)
