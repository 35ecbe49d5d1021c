"""Assembly: the runtime, five consumers, the operator routes."""

from __future__ import annotations

from pathlib import Path

from torghut_contracts import topics
from torghut_runtime import ServiceRuntime
from torghut_runtime.flags import FeatureFlagSettings, wire_flags

from .adapters.handlers import FirewallHandlers
from .adapters.http import operator_routes
from .metrics import FirewallMetrics
from .settings import RiskFirewallSettings

MIGRATIONS = Path(__file__).parent / "migrations"


MARKS_READ_THROUGH_S = 5.0
"""How long a decision without a fresh mark waits for the signal lane to read its topic through before it
is vetoed: a bound, because the account lock is held meanwhile (and a flatten-window signal waits for it).
Long enough for the rebalance after a replica dies (2 s was not, once, on a loaded CI machine: the
signal partition was still being reassigned and a decision with a mark on its way was vetoed)."""


def build_runtime(settings: RiskFirewallSettings, *, flag_settings: FeatureFlagSettings | None = None,
                  **runtime_kwargs: object) -> ServiceRuntime:
    """``flag_settings`` defaults to the environment (``TRADING_FEATURE_FLAGS_*``)."""
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, **runtime_kwargs)  # type: ignore[arg-type]
    flags = wire_flags(runtime, "risk-firewall", settings, flag_settings)
    handlers = FirewallHandlers(accounts=settings.managed_accounts, limits=settings.risk_limits,
                                clock_mode=settings.clock, metrics=FirewallMetrics(runtime.registry),
                                flags=flags)
    # Control first: at start-up the compacted posture is read before decisions are judged as far as
    # the broker allows; until then the default posture (kill switch on) vetoes everything.
    # Every handler works in its transaction alone (claim_last): each claims its tracking record last.
    # The account's records commit in groups (a burst of decisions: one transaction, the account row
    # locked until it commits); control commands, rare and decisive, one at a time.
    runtime.produces(topics.RISK_VERDICTS, topics.ORDERS_APPROVED)
    runtime.consume(topics.CONTROL, handlers.on_control, claim_last=True)
    runtime.consume(topics.ACCOUNT_SNAPSHOTS, handlers.on_snapshot, group_commit=True)
    runtime.consume(topics.TRADE_UPDATES, handlers.on_trade_update, group_commit=True)
    runtime.consume(topics.TA_SIGNALS, handlers.on_signal, batch=settings.kafka_max_batch)
    runtime.consume(topics.DECISIONS, handlers.on_decision, group_commit=True)
    handlers.marks_read_through = lambda: runtime.kafka.read_through(topics.TA_SIGNALS, timeout_s=MARKS_READ_THROUGH_S)
    runtime.add_routes(operator_routes(runtime.engine, handlers, settings.managed_accounts,
                                       settings.risk_operator_token))
    return runtime
