"""Execution routing: which adapter to hint, why, and how much slippage the order may take.

The hint is advisory (the execution router resolves the final venue). LEAN is hinted only when the
request says LEAN is enabled and a rule selects it: the LEAN policy is ``all``, or the symbol is on
the LEAN allowlist (upstream's symbol routing), or LEAN is the request's primary adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from torghut_contracts.decision_engine import ExecutionContext
from torghut_contracts.enums import Adapter

from .config import RuleConfig

MIN_SLIPPAGE_BPS = Decimal("10")
DEFAULT_SLIPPAGE_BPS = Decimal("25")
SPREAD_TO_SLIPPAGE = Decimal("2")


@dataclass(frozen=True)
class Route:
    adapter: Adapter
    reason: str
    risk_flags: tuple[str, ...] = ()


def choose_adapter(symbol: str, execution: ExecutionContext, config: RuleConfig) -> Route:
    if execution.primary_adapter is Adapter.LEAN:
        if execution.lean_enabled:
            return Route(Adapter.LEAN, "primary adapter is lean and lean is enabled")
        return Route(Adapter.ALPACA, "primary adapter is lean but execution_context.lean_enabled is false; "
                                     "falling back to alpaca", ("lean_requested_but_disabled",))
    if execution.lean_enabled:
        if config.lean_policy == "all":
            return Route(Adapter.LEAN, "lean enabled and the lean policy routes every symbol")
        if symbol in config.lean_symbols:
            return Route(Adapter.LEAN, f"lean enabled and {symbol} is on the lean allowlist")
    return Route(execution.primary_adapter, f"primary adapter {execution.primary_adapter.value}")


def max_slippage_bps(spread_bps: Decimal | None, config: RuleConfig) -> Decimal:
    """Twice the quoted spread, at least 10 bps, at most the spread cap; 25 bps when no spread is known."""
    if spread_bps is None:
        return min(DEFAULT_SLIPPAGE_BPS, config.max_spread_bps)
    wanted = max(MIN_SLIPPAGE_BPS, spread_bps * SPREAD_TO_SLIPPAGE)
    return min(wanted, config.max_spread_bps).quantize(Decimal("0.01"))
