"""How the account state moves: approvals reserve, fills move positions, snapshots reconcile.

Pure transitions ``PortfolioState -> PortfolioState``; the store persists what they return.

* An approval adds an open order (its whole quantity counts against every limit), stamps the
  order-rate window and, when it adds exposure, the symbol's cooldown clock.
* A fill moves the position by the fill quantity (or by the growth of the order's cumulative
  filled quantity when the event carries no per-fill quantity) and shrinks the open order; a fill
  the last account snapshot already reflects (timestamp not after its fill clock, ``fills_through``
  or else ``as_of``) moves no position. A terminal event (filled, canceled, expired, rejected)
  releases what is left.
* An account snapshot replaces positions, equity and buying power (the broker is the truth),
  restarts the day's P&L base on a new New York trading day and raises the equity high-water mark.
  Fills applied since that it does not reflect (timestamped after its fill clock: it was taken
  before them and read after them, since Kafka orders a partition, not two topics) are applied
  again on top, and kept until a snapshot reflects them.
* Latches (daily loss, drawdown) are detected from equity and kept until an operator resets them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from torghut_contracts.enums import FILL_EVENTS, OrderStatus, Side, TradeEvent
from torghut_contracts.models import AccountSnapshot, TradeUpdate

from . import reasons as r
from .evaluate import Verdict
from .limits import RiskLimits
from .state import ZERO, Latch, OpenOrder, PortfolioState, UnconfirmedFill
from .windows import trading_day

RATE_WINDOW = timedelta(seconds=60)
#: A venue without snapshots never confirms fills; past this many the oldest are forgotten (a snapshot
#: read late then shows them as it has them: the behaviour without the list).
MAX_UNCONFIRMED_FILLS = 500
TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})
TERMINAL_EVENTS = frozenset({TradeEvent.CANCELED, TradeEvent.EXPIRED, TradeEvent.REJECTED})


def reserve(portfolio: PortfolioState, verdict: Verdict, symbol: str) -> PortfolioState:
    """Record an approval: the order counts against the limits until it fills or ends."""
    if not verdict.approved or verdict.side is None or verdict.reference_price is None:
        return portfolio
    order = OpenOrder(verdict.client_order_id, symbol, verdict.side, verdict.approved_qty, verdict.reference_price,
                      verdict.adds_exposure)
    now = verdict.decided_at
    recent = (*tuple(t for t in portfolio.recent_approvals if now - t < RATE_WINDOW), now)
    cooldowns = dict(portfolio.last_approval_by_symbol)
    if verdict.adds_exposure:
        cooldowns[symbol] = now
    return replace(portfolio, open_orders=(*portfolio.open_orders, order), recent_approvals=tuple(sorted(recent)),
                   last_approval_by_symbol=cooldowns)


def _fill_delta(portfolio: PortfolioState, update: TradeUpdate) -> Decimal:
    previous = portfolio.filled_by_order.get(update.order.client_order_id, ZERO)
    if update.fill_qty is not None:
        return update.fill_qty
    delta = update.order.filled_qty - previous
    return delta if delta > ZERO else ZERO


def apply_trade_update(portfolio: PortfolioState, update: TradeUpdate) -> PortfolioState:
    """Apply one (already de-duplicated) trade update."""
    coid = update.order.client_order_id
    filled = dict(portfolio.filled_by_order)
    positions = dict(portfolio.positions)
    buying_power = portfolio.buying_power
    orders = list(portfolio.open_orders)
    unconfirmed = portfolio.unconfirmed_fills
    index = next((i for i, o in enumerate(orders) if o.client_order_id == coid), None)

    if update.event in FILL_EVENTS:
        delta = _fill_delta(portfolio, update)
        filled[coid] = filled.get(coid, ZERO) + delta
        signed = delta if update.order.side is Side.BUY else -delta
        covered = portfolio.fills_through or portfolio.snapshot_as_of
        if delta > ZERO and (covered is None or update.timestamp > covered):
            fill = UnconfirmedFill(update.order.symbol, signed, update.fill_price or update.order.filled_avg_price,
                                   update.timestamp)
            buying_power = _move(positions, buying_power, fill)
            unconfirmed = (*unconfirmed, fill)[-MAX_UNCONFIRMED_FILLS:]
        if index is not None:
            order = orders[index]
            orders[index] = replace(order, remaining_qty=max(ZERO, order.remaining_qty - delta))

    terminal = update.event in TERMINAL_EVENTS or update.order.status in TERMINAL_STATUSES
    if index is not None and (terminal or orders[index].remaining_qty <= ZERO):
        del orders[index]
    if terminal:
        filled.pop(coid, None)
    return replace(portfolio, positions=positions, open_orders=tuple(orders), filled_by_order=filled,
                   buying_power=buying_power, unconfirmed_fills=unconfirmed)


def _move(positions: dict[str, Decimal], buying_power: Decimal | None, fill: UnconfirmedFill) -> Decimal | None:
    """Move ``positions`` by ``fill``; what it adds to exposure is spent from buying power at once (only
    the next snapshot gives it back: conservative)."""
    before = positions.get(fill.symbol, ZERO)
    after = before + fill.signed_qty
    if after == ZERO:
        positions.pop(fill.symbol, None)
    else:
        positions[fill.symbol] = after
    if abs(after) > abs(before) and buying_power is not None and fill.price is not None:
        buying_power = max(ZERO, buying_power - (abs(after) - abs(before)) * fill.price)
    return buying_power


def apply_snapshot(portfolio: PortfolioState, snapshot: AccountSnapshot, *,
                   day_from_stamp: bool = True) -> PortfolioState:
    """Reconcile with the broker; an older snapshot than the one applied is ignored.

    ``day_from_stamp``: the snapshot's ``as_of`` says which trading day it belongs to (live). In a
    replay it does not (the router stamps snapshots when it reads the account, by the wall clock):
    the day stays the one the session's decisions began (:func:`start_trading_day`).
    """
    if portfolio.snapshot_as_of is not None and snapshot.as_of < portfolio.snapshot_as_of:
        return portfolio
    positions = {p.symbol: p.qty for p in snapshot.positions if p.qty != ZERO}
    fills_through = snapshot.fills_through or snapshot.as_of
    unconfirmed = tuple(f for f in portfolio.unconfirmed_fills if f.at > fills_through)
    buying_power: Decimal | None = snapshot.buying_power
    for fill in unconfirmed:
        buying_power = _move(positions, buying_power, fill)
    marks = {p.symbol: abs(p.market_value / p.qty) for p in snapshot.positions if p.qty != ZERO and p.market_value}
    day, day_start = portfolio.trading_day, portfolio.day_start_equity
    if day_from_stamp:
        day = trading_day(snapshot.as_of)
        if day != portfolio.trading_day:
            day_start = None  # a new day starts with this snapshot
    if snapshot.last_equity is not None:  # the venue's own previous close (Alpaca's; the paper venue has none)
        day_start = snapshot.last_equity
    elif day_start is None:
        day_start = snapshot.equity
    peak = snapshot.equity if portfolio.peak_equity is None else max(portfolio.peak_equity, snapshot.equity)
    return replace(portfolio, positions=positions, position_marks=marks, equity=snapshot.equity,
                   buying_power=buying_power, day_start_equity=day_start, peak_equity=peak,
                   snapshot_as_of=snapshot.as_of, trading_day=day, fills_through=fills_through,
                   unconfirmed_fills=unconfirmed)


def start_trading_day(portfolio: PortfolioState, day: date) -> PortfolioState:
    """The session's time reached ``day`` (a replay): the day starts with the equity known now, as the
    first snapshot of a live day starts it. An earlier or the same day changes nothing."""
    if portfolio.trading_day is not None and day <= portfolio.trading_day:
        return portfolio
    return replace(portfolio, trading_day=day, day_start_equity=portfolio.equity)


def detect_latches(portfolio: PortfolioState, limits: RiskLimits, now: datetime) -> tuple[Latch, ...]:
    """New latched stops the current equity calls for (those already latched are not repeated)."""
    held = {latch.reason for latch in portfolio.latches}
    equity = portfolio.equity
    found: list[Latch] = []
    if equity is None:
        return ()
    start = portfolio.day_start_equity
    if r.DAILY_LOSS_STOP not in held and start is not None and start > ZERO:
        loss = (start - equity) / start
        if loss >= limits.daily_loss_stop_pct_equity:
            found.append(Latch(r.DAILY_LOSS_STOP, f"loss {loss:.4f} of day-start equity {start}", now))
    peak = portfolio.peak_equity
    if r.DRAWDOWN_STOP not in held and peak is not None and peak > ZERO:
        drawdown = (peak - equity) / peak
        if drawdown >= limits.drawdown_stop_pct_equity:
            found.append(Latch(r.DRAWDOWN_STOP, f"drawdown {drawdown:.4f} from peak equity {peak}", now))
    return tuple(found)


def with_latches(portfolio: PortfolioState, latches: tuple[Latch, ...]) -> PortfolioState:
    return portfolio if not latches else replace(portfolio, latches=(*portfolio.latches, *latches))
