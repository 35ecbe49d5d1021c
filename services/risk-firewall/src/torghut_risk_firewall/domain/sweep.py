"""End-of-day duties: the scheduled flatten (15:45 ET) and the must-be-flat check (15:50 ET).

The firewall is the only producer of approved orders, so at the flatten time it emits one
closing order per open position itself: a market, DAY, reduce-only order for what the position
can still be reduced by (pending closing orders already count), approved with the reason code
``scheduled_flatten`` and a decision id derived from (account, trading day, symbol), so a replay
emits the same ``client_order_id``. Each symbol gets one such order per day; the order rate
limit still applies (what does not fit now goes out on a later sweep). The kill switch and
HALTED stop the flatten too: they mean "no orders at all".

From the must-be-flat time on, any position left latches ``must_be_flat_breached`` (REDUCING until
an operator resets it), once per trading day.

A sweep runs whenever the firewall handles an event for the account at or after those times
(every TA signal, decision, trade update and snapshot), judged at the event's time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from torghut_contracts.enums import Side, TradingState
from torghut_contracts.posture import TradingPosture

from . import reasons as r
from .evaluate import Verdict, effective_trading_state
from .exposure import pending_by_symbol, symbol_book
from .ids import client_order_id, flatten_decision_id
from .limits import RiskLimits
from .portfolio import RATE_WINDOW, reserve
from .state import ZERO, Latch, MarketState, PortfolioState
from .windows import SessionPhase, session_phase, trading_day


@dataclass(frozen=True, slots=True)
class FlattenOrder:
    decision_id: str
    symbol: str
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class SweepResult:
    portfolio: PortfolioState
    flatten_orders: tuple[FlattenOrder, ...] = ()
    new_latches: tuple[Latch, ...] = ()


def _rate_allows(portfolio: PortfolioState, limits: RiskLimits, now: datetime) -> bool:
    recent = [t for t in portfolio.recent_approvals if now - t < RATE_WINDOW]
    last_second = [t for t in recent if (now - t).total_seconds() < 1]
    return len(recent) < limits.max_orders_per_minute and len(last_second) < limits.max_orders_per_second


def sweep(portfolio: PortfolioState, control: TradingPosture, limits: RiskLimits, market: MarketState,
          now: datetime) -> SweepResult:
    if not limits.enforce_trading_windows:
        return SweepResult(portfolio)
    phase = session_phase(now, limits)
    if phase not in (SessionPhase.FLATTEN, SessionPhase.MUST_BE_FLAT):
        return SweepResult(portfolio)
    day = trading_day(now)
    latches: list[Latch] = []
    if phase is SessionPhase.MUST_BE_FLAT and portfolio.must_be_flat_checked != day:
        left = sorted(s for s, q in portfolio.positions.items() if q != ZERO)
        if left:
            latches.append(Latch(r.MUST_BE_FLAT_BREACHED, f"{day}: positions left in {', '.join(left)}", now))
        portfolio = replace(portfolio, must_be_flat_checked=day,
                            latches=(*portfolio.latches, *latches))

    state = effective_trading_state(control, portfolio)
    if not limits.scheduled_flatten_enabled or control.kill_switch or state is TradingState.HALTED:
        return SweepResult(portfolio, (), tuple(latches))
    flattened = set(portfolio.flattened_symbols) if portfolio.flatten_day == day else set()
    pending = pending_by_symbol(portfolio.open_orders)
    orders: list[FlattenOrder] = []
    for symbol in sorted(portfolio.positions):
        if symbol in flattened:
            continue
        book = symbol_book(portfolio, pending, symbol)
        side = Side.SELL if book.position > ZERO else Side.BUY
        qty = book.reduce_room(side)
        mark = market.marks.get(symbol)
        price: Decimal | None = mark.price if mark is not None else portfolio.position_marks.get(symbol)
        if qty <= ZERO or price is None or price <= ZERO:
            continue
        if not _rate_allows(portfolio, limits, now):
            break
        decision_id = flatten_decision_id(portfolio.account, day.isoformat(), symbol)
        verdict = Verdict(True, (r.SCHEDULED_FLATTEN,), side, qty, qty,
                          client_order_id(portfolio.account, decision_id), state, price, False, now)
        portfolio = reserve(portfolio, verdict, symbol)
        flattened.add(symbol)
        orders.append(FlattenOrder(decision_id, symbol, verdict))
    if orders:
        portfolio = replace(portfolio, flattened_symbols=tuple(sorted(flattened)), flatten_day=day)
    return SweepResult(portfolio, tuple(orders), tuple(latches))
