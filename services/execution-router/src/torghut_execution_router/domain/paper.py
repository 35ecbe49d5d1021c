"""The built-in paper venue's fill model: deterministic, side-aware, and honest about cash.

* Market orders fill at the latest TA price moved against the trader by ``slippage_bps`` and rounded
  adversely to the tick ($0.01, or $0.0001 under $1).
* A limit order fills only when a price crosses it (buy: price <= limit; sell: price >= limit), at the
  slipped price capped by the limit. A limit that is already crossed when it arrives fills at once, as a
  marketable limit does at a real venue.
* An order above ``partial_fill_above_qty`` fills ``chunk_qty`` per price observation (one chunk at
  submission when a fresh price exists, then one per later price), emitting ``partial_fill`` events and
  a final ``fill``.
* IOC takes what one observation allows and cancels the rest; FOK fills whole at once or is cancelled;
  DAY orders expire on the first price of a later New York trading date; OPG/CLS are refused.
* A price older than the order's approval minus ``max_price_age`` is stale and never fills it.
* It is a cash account: a buy needs cash net of what open buys reserve, a sell needs the shares net of
  open sells (no shorting).

Every function here is pure: the Postgres adapter loads the state, calls one, and writes the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from torghut_contracts.enums import OrderStatus, OrderType, Side, TimeInForce, TradeEvent

from .orders import EventSource, OrderRequest, VenueEvent
from .paper_state import (
    AVG_PRICE_QUANTUM,
    NEW_YORK,
    FillModel,
    PaperAccount,
    PaperFill,
    PaperOrder,
    PaperPosition,
    PaperStep,
    Quote,
)


def tick_size(price: Decimal) -> Decimal:
    return Decimal("0.01") if price >= 1 else Decimal("0.0001")


def slipped_price(side: Side, price: Decimal, slippage_bps: Decimal) -> Decimal:
    """The price moved against the trader and rounded adversely (up for a buy, down for a sell)."""
    factor = slippage_bps / Decimal(10_000)
    if side is Side.BUY:
        return (price * (1 + factor)).quantize(tick_size(price), rounding=ROUND_CEILING)
    floored = (price * (1 - factor)).quantize(tick_size(price), rounding=ROUND_FLOOR)
    return max(floored, tick_size(price))


def crossing_price(order: PaperOrder, price: Decimal, model: FillModel) -> Decimal | None:
    """The fill price for ``order`` at an observed ``price``, or None when a limit is not crossed."""
    slipped = slipped_price(order.side, price, model.slippage_bps)
    if order.order_type is OrderType.MARKET or order.limit_price is None:
        return slipped
    if order.side is Side.BUY:
        return min(slipped, order.limit_price) if price <= order.limit_price else None
    return max(slipped, order.limit_price) if price >= order.limit_price else None


def chunk_for(order: PaperOrder, model: FillModel) -> Decimal:
    if order.qty > model.partial_fill_above_qty:
        return min(model.chunk_qty, order.remaining)
    return order.remaining


def buying_power(account: PaperAccount, open_orders: Sequence[PaperOrder]) -> Decimal:
    reserved = sum((o.remaining * o.reserve_price for o in open_orders if o.is_open and o.side is Side.BUY),
                   Decimal(0))
    return max(account.cash - reserved, Decimal(0))


def sellable_qty(account: PaperAccount, open_orders: Sequence[PaperOrder], symbol: str) -> Decimal:
    held = sum((o.remaining for o in open_orders if o.is_open and o.side is Side.SELL and o.symbol == symbol),
               Decimal(0))
    return account.position_qty(symbol) - held


def _event(order: PaperOrder, event: TradeEvent, at: datetime, **extra: object) -> VenueEvent:
    return VenueEvent(order=order.venue_order(), event=event, timestamp=at, source=EventSource.PAPER,
                      venue_seq=order.seq, **extra)  # type: ignore[arg-type]


def _advance(order: PaperOrder, status: OrderStatus, at: datetime, **changes: object) -> PaperOrder:
    return replace(order, status=status, updated_at=max(at, order.updated_at), seq=order.seq + 1,
                   **changes)  # type: ignore[arg-type]


def _apply_fill(account: PaperAccount, order: PaperOrder, qty: Decimal, price: Decimal,
                at: datetime) -> tuple[PaperAccount, PaperFill]:
    positions = dict(account.positions)
    held = positions.get(order.symbol, PaperPosition(order.symbol, Decimal(0), None))
    realized = Decimal(0)
    if order.side is Side.BUY:
        new_qty = held.qty + qty
        avg = ((held.qty * (held.avg_entry_price or Decimal(0)) + qty * price) / new_qty).quantize(
            AVG_PRICE_QUANTUM, rounding=ROUND_HALF_UP)
        cash = account.cash - qty * price
        positions[order.symbol] = PaperPosition(order.symbol, new_qty, avg)
    else:
        realized = qty * (price - (held.avg_entry_price or price))
        new_qty = held.qty - qty
        cash = account.cash + qty * price
        if new_qty == 0:
            positions.pop(order.symbol, None)
        else:
            positions[order.symbol] = PaperPosition(order.symbol, new_qty, held.avg_entry_price)
    fill = PaperFill(order.client_order_id, order.symbol, order.side, qty, price, realized, at)
    return PaperAccount(cash=cash, realized_pl=account.realized_pl + realized, positions=positions,
                        last_fill_at=at), fill


def fill_time(account: PaperAccount, at: datetime) -> datetime:
    """``at``, or just after the account's last fill: two fills never share a time or go back in it.

    Prices and approvals of different symbols arrive out of time order, so their natural times can.
    A microsecond later keeps the fill where it happened and makes "every fill up to t" exact.
    """
    last = account.last_fill_at
    return at if last is None or at > last else last + timedelta(microseconds=1)


def _fill_once(order: PaperOrder, account: PaperAccount, price: Decimal, at: datetime,
               model: FillModel) -> tuple[PaperOrder, PaperAccount, VenueEvent, PaperFill] | None:
    fill_price = crossing_price(order, price, model)
    if fill_price is None or order.remaining <= 0:
        return None
    qty = chunk_for(order, model)
    at = fill_time(account, at)
    filled = order.filled_qty + qty
    avg = ((order.filled_qty * (order.filled_avg_price or Decimal(0)) + qty * fill_price) / filled).quantize(
        AVG_PRICE_QUANTUM, rounding=ROUND_HALF_UP)
    done = filled == order.qty
    order = _advance(order, OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, at,
                     filled_qty=filled, filled_avg_price=avg)
    account, fill = _apply_fill(account, order, qty, fill_price, order.updated_at)
    event = _event(order, TradeEvent.FILL if done else TradeEvent.PARTIAL_FILL, order.updated_at, fill_qty=qty,
                   fill_price=fill_price, position_qty=account.position_qty(order.symbol))
    return order, account, event, fill


def _usable(quote: Quote | None, order: PaperOrder) -> bool:
    return quote is not None and quote.symbol == order.symbol and quote.event_ts >= order.not_before


def submit(request: OrderRequest, *, venue_order_id: str, account: PaperAccount, open_orders: Sequence[PaperOrder],
           quote: Quote | None, model: FillModel) -> PaperStep:
    """Accept (and possibly fill) or refuse a new order. The caller has checked the id is new."""
    at = request.approved_at
    not_before = at - model.max_price_age
    fresh_price = quote.price if quote is not None and quote.symbol == request.symbol and \
        quote.event_ts >= not_before else None
    estimate = slipped_price(request.side, fresh_price or request.reference_price, model.slippage_bps)
    reserve = request.limit_price if request.order_type is OrderType.LIMIT and request.limit_price else estimate
    order = PaperOrder(client_order_id=request.client_order_id, venue_order_id=venue_order_id,
                       symbol=request.symbol, side=request.side, qty=request.qty, order_type=request.order_type,
                       limit_price=request.limit_price, time_in_force=request.time_in_force,
                       status=OrderStatus.NEW, submitted_at=at, updated_at=at, reserve_price=reserve,
                       not_before=not_before)

    refusal: str | None = None
    if request.time_in_force in (TimeInForce.OPG, TimeInForce.CLS):
        refusal = f"unsupported_time_in_force:{request.time_in_force.value}"
    elif request.side is Side.BUY and request.qty * reserve > buying_power(account, open_orders):
        refusal = "insufficient_buying_power"
    elif request.side is Side.SELL and request.qty > sellable_qty(account, open_orders, request.symbol):
        refusal = "insufficient_qty_available"
    if refusal is not None:
        rejected = replace(order, status=OrderStatus.REJECTED, seq=1)
        return PaperStep(account=account, orders=[rejected],
                         events=[_event(rejected, TradeEvent.REJECTED, at, reason=refusal)], rejection=refusal)

    order = replace(order, seq=1)
    events = [_event(order, TradeEvent.NEW, at)]
    fills: list[PaperFill] = []
    usable = quote if _usable(quote, order) else None
    if request.time_in_force is TimeInForce.FOK:
        whole = usable is not None and chunk_for(order, model) == order.qty and \
            crossing_price(order, usable.price, model) is not None
        if not whole:
            order = _advance(order, OrderStatus.CANCELED, at)
            events.append(_event(order, TradeEvent.CANCELED, order.updated_at, reason="fok_not_filled"))
            return PaperStep(account=account, orders=[order], events=events)
    if usable is not None:
        result = _fill_once(order, account, usable.price, max(at, usable.event_ts), model)
        if result is not None:
            order, account, event, fill = result
            events.append(event)
            fills.append(fill)
    if request.time_in_force is TimeInForce.IOC and order.is_open:
        order = _advance(order, OrderStatus.CANCELED, at)
        events.append(_event(order, TradeEvent.CANCELED, order.updated_at, reason="ioc_remainder"))
    return PaperStep(account=account, orders=[order], events=events, fills=fills)


def on_quote(quote: Quote, *, account: PaperAccount, open_orders: Sequence[PaperOrder],
             model: FillModel) -> PaperStep:
    """A new price: expire DAY orders from an earlier trading date, then give each open order one fill chance."""
    changed: list[PaperOrder] = []
    events: list[VenueEvent] = []
    fills: list[PaperFill] = []
    day = quote.event_ts.astimezone(NEW_YORK).date()
    candidates = sorted((o for o in open_orders if o.is_open and o.symbol == quote.symbol),
                        key=lambda o: (o.submitted_at, o.client_order_id))
    for order in candidates:
        if order.time_in_force is TimeInForce.DAY and day > order.submitted_at.astimezone(NEW_YORK).date():
            order = _advance(order, OrderStatus.EXPIRED, quote.event_ts)
            changed.append(order)
            events.append(_event(order, TradeEvent.EXPIRED, order.updated_at))
            continue
        if not _usable(quote, order):
            continue
        result = _fill_once(order, account, quote.price, quote.event_ts, model)
        if result is None:
            continue
        order, account, event, fill = result
        changed.append(order)
        events.append(event)
        fills.append(fill)
    return PaperStep(account=account, orders=changed, events=events, fills=fills)


def cancel(order: PaperOrder, *, account: PaperAccount, at: datetime, reason: str) -> PaperStep:
    if not order.is_open:
        return PaperStep(account=account)
    canceled = _advance(order, OrderStatus.CANCELED, at)
    return PaperStep(account=account, orders=[canceled],
                     events=[_event(canceled, TradeEvent.CANCELED, canceled.updated_at, reason=reason)])


@dataclass(frozen=True)
class PositionValue:
    symbol: str
    qty: Decimal
    avg_entry_price: Decimal | None
    market_value: Decimal
    unrealized_pl: Decimal | None


@dataclass(frozen=True)
class AccountValue:
    equity: Decimal
    cash: Decimal
    buying_power: Decimal
    positions: list[PositionValue]


def value_account(account: PaperAccount, prices: Mapping[str, Decimal],
                  open_orders: Sequence[PaperOrder]) -> AccountValue:
    """Mark positions at the latest price (at cost when no price is known) for a snapshot."""
    positions = []
    for symbol in sorted(account.positions):
        position = account.positions[symbol]
        mark = prices.get(symbol, position.avg_entry_price or Decimal(0))
        value = position.qty * mark
        unrealized = (value - position.qty * position.avg_entry_price
                      if position.avg_entry_price is not None else None)
        positions.append(PositionValue(symbol, position.qty, position.avg_entry_price, value, unrealized))
    equity = account.cash + sum((p.market_value for p in positions), Decimal(0))
    return AccountValue(equity=equity, cash=account.cash, buying_power=buying_power(account, open_orders),
                        positions=positions)
