"""The portfolio a decision request carries, from the account's latest snapshot.

Fail closed: no snapshot, or one too old at the trigger's event time, is not a portfolio, and the
caller holds instead of asking an engine to size a trade against numbers that may be wrong. Event
time (not the wall clock) is compared so a replay reaches the same verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from torghut_contracts.decision_engine import PortfolioContext, PortfolioPosition
from torghut_contracts.models import AccountSnapshot

from . import reasons


@dataclass(frozen=True)
class PortfolioUnavailable:
    reason: str
    detail: str


def portfolio_context(snapshot: AccountSnapshot | None, *, symbol: str, at: datetime,
                      max_age: timedelta) -> PortfolioContext | PortfolioUnavailable:
    if snapshot is None:
        return PortfolioUnavailable(reasons.PORTFOLIO_UNAVAILABLE, "no account snapshot received yet")
    age = at - snapshot.as_of
    if age > max_age:
        return PortfolioUnavailable(
            reasons.PORTFOLIO_STALE,
            f"snapshot {snapshot.snapshot_id} as of {snapshot.as_of.isoformat()} is {age.total_seconds():.0f}s old "
            f"at the trigger (limit {max_age.total_seconds():.0f}s)")
    held = next((p for p in snapshot.positions if p.symbol == symbol), None)
    return PortfolioContext(
        equity=snapshot.equity,
        buying_power=snapshot.buying_power,
        current_exposure=sum((abs(p.market_value) for p in snapshot.positions), Decimal(0)),
        position=PortfolioPosition(symbol=held.symbol, qty=held.qty, market_value=held.market_value) if held else None,
        as_of=snapshot.as_of,
    )


def is_newer(candidate: AccountSnapshot, current: AccountSnapshot | None) -> bool:
    """Whether ``candidate`` should replace ``current``: a late, older snapshot never wins."""
    if current is None:
        return True
    return (candidate.as_of, candidate.snapshot_id) > (current.as_of, current.snapshot_id)
