"""Position sizing: the largest whole-share order the risk policy and the portfolio allow.

Buys are bounded by the per-trade notional cap, the position cap (a share of equity, less what the
position is already worth) and buying power. The reference engine never opens a short: a sell only
reduces an existing long position, because the request carries no borrow or margin policy that
could bound a short.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from torghut_contracts.decision_engine import PortfolioContext, RiskPolicyContext
from torghut_contracts.enums import Side

ZERO = Decimal(0)


@dataclass(frozen=True)
class SizingResult:
    max_qty: Decimal
    max_notional: Decimal
    binding_constraint: str | None
    """Which bound set the size (``max_notional_per_trade``, ``position_limit``, ``buying_power``,
    ``position_qty``), or None when there is no size."""
    position_value: Decimal
    headroom: Decimal | None
    reasons: tuple[str, ...] = ()
    """Why the size is zero, as reason codes."""


def whole_shares(notional: Decimal, price: Decimal) -> Decimal:
    if notional <= 0:
        return ZERO
    return (notional / price).to_integral_value(rounding=ROUND_FLOOR)


def _zero(reason: str, position_value: Decimal = ZERO, headroom: Decimal | None = None) -> SizingResult:
    return SizingResult(ZERO, ZERO, None, position_value, headroom, (reason,))


def size_position(symbol: str, direction: Side | None, price: Decimal | None, portfolio: PortfolioContext,
                  policy: RiskPolicyContext) -> SizingResult:
    if direction is None:
        return _zero("missing_direction")
    if price is None:
        return _zero("missing_price")
    position = portfolio.position
    if position is not None and position.symbol != symbol:
        return _zero("position_symbol_mismatch")
    position_value = position.market_value if position is not None else ZERO
    position_qty = position.qty if position is not None else ZERO

    if direction is Side.SELL:
        if position_qty <= 0:
            return _zero("no_long_position_to_sell", position_value)
        by_notional = whole_shares(policy.max_notional_per_trade, price)
        held = position_qty.to_integral_value(rounding=ROUND_FLOOR)
        qty, binding = (held, "position_qty") if held <= by_notional else (by_notional, "max_notional_per_trade")
        if qty <= 0:
            return _zero("size_below_one_share", position_value)
        return SizingResult(qty, qty * price, binding, position_value, None)

    if portfolio.equity <= 0:
        return _zero("non_positive_equity", position_value)
    headroom = policy.max_position_pct_equity * portfolio.equity - position_value
    caps = {
        "max_notional_per_trade": policy.max_notional_per_trade,
        "position_limit": headroom,
        "buying_power": portfolio.buying_power,
    }
    binding = min(caps, key=lambda name: caps[name])
    if caps[binding] <= 0:
        reason = {"max_notional_per_trade": "zero_notional_cap", "position_limit": "position_limit_reached",
                  "buying_power": "no_buying_power"}[binding]
        return _zero(reason, position_value, headroom)
    qty = whole_shares(caps[binding], price)
    if qty <= 0:
        return _zero("size_below_one_share", position_value, headroom)
    return SizingResult(qty, qty * price, binding, position_value, headroom)
