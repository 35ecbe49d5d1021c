"""Venue-neutral order and event values, and Alpaca's status / event vocabulary.

Every venue (Alpaca, a LEAN runner, the built-in paper venue) is translated into these values at its
adapter, so the order-feed rules, the fingerprint and the published TradeUpdate are written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from torghut_contracts.enums import Adapter, OrderStatus, OrderType, Side, TimeInForce, TradeEvent
from torghut_contracts.models import ApprovedOrder

TERMINAL_STATUSES = frozenset({
    OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED, OrderStatus.REPLACED,
})
"""Statuses after which an order can no longer trade (``replaced`` hands over to a new order id)."""

OPEN_STATUSES = frozenset(set(OrderStatus) - TERMINAL_STATUSES - {OrderStatus.UNKNOWN})

_EVENT_FOR_STATUS: dict[OrderStatus, TradeEvent] = {
    OrderStatus.NEW: TradeEvent.NEW,
    OrderStatus.ACCEPTED: TradeEvent.ACCEPTED,
    OrderStatus.PENDING_NEW: TradeEvent.PENDING_NEW,
    OrderStatus.PARTIALLY_FILLED: TradeEvent.PARTIAL_FILL,
    OrderStatus.FILLED: TradeEvent.FILL,
    OrderStatus.DONE_FOR_DAY: TradeEvent.DONE_FOR_DAY,
    OrderStatus.CANCELED: TradeEvent.CANCELED,
    OrderStatus.EXPIRED: TradeEvent.EXPIRED,
    OrderStatus.REPLACED: TradeEvent.REPLACED,
    OrderStatus.PENDING_CANCEL: TradeEvent.PENDING_CANCEL,
    OrderStatus.PENDING_REPLACE: TradeEvent.PENDING_REPLACE,
    OrderStatus.REJECTED: TradeEvent.REJECTED,
    OrderStatus.SUSPENDED: TradeEvent.SUSPENDED,
    OrderStatus.STOPPED: TradeEvent.STOPPED,
    OrderStatus.CALCULATED: TradeEvent.CALCULATED,
    OrderStatus.HELD: TradeEvent.HELD,
    OrderStatus.UNKNOWN: TradeEvent.PENDING_NEW,
}

# Alpaca statuses our contract does not name, mapped to the nearest one.
_STATUS_ALIASES = {"pending_review": OrderStatus.HELD, "accepted_for_bidding": OrderStatus.ACCEPTED,
                   "partially_filled": OrderStatus.PARTIALLY_FILLED}


def event_for_status(status: OrderStatus) -> TradeEvent:
    """The event that reports an order reaching ``status`` (used when a venue gives a state, not an event)."""
    return _EVENT_FOR_STATUS[status]


def parse_status(value: object) -> OrderStatus | None:
    """A venue's status string in our vocabulary, or None when it is not one we know (fail closed)."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text in _STATUS_ALIASES:
        return _STATUS_ALIASES[text]
    try:
        return OrderStatus(text)
    except ValueError:
        return None


def parse_event(value: object) -> TradeEvent | None:
    if not isinstance(value, str):
        return None
    try:
        return TradeEvent(value.strip().lower())
    except ValueError:
        return None


@dataclass(frozen=True)
class OrderRequest:
    """What the router asks a venue to do: one approved order, nothing added."""

    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    time_in_force: TimeInForce
    extended_hours: bool
    reference_price: Decimal
    approved_at: datetime

    @classmethod
    def from_approved(cls, order: ApprovedOrder) -> OrderRequest:
        return cls(client_order_id=order.client_order_id, symbol=order.symbol, side=order.side, qty=order.qty,
                   order_type=order.order_type, limit_price=order.limit_price, time_in_force=order.time_in_force,
                   extended_hours=order.extended_hours, reference_price=order.reference_price,
                   approved_at=order.approved_at)


@dataclass(frozen=True)
class VenueOrder:
    """What a venue says about one order, in our vocabulary."""

    venue: Adapter
    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    status: OrderStatus
    venue_order_id: str | None = None
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    created_at: datetime | None = None
    extended_hours: bool | None = None
    """None when the venue does not say; the order feed fills it from the approved order (``feed.enrich``)."""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class EventSource(StrEnum):
    """Where an event came from; only venue facts move the per-order event-time cursor."""

    SUBMIT = "submit"
    STREAM = "stream"
    RECONCILE = "reconcile"
    PAPER = "paper"
    ROUTER = "router"


@dataclass(frozen=True)
class FillDelta:
    """One event's own fill (not the cumulative total): what a trade update reports as filled now."""

    qty: Decimal
    price: Decimal | None


@dataclass(frozen=True)
class VenueEvent:
    """One event about one order, from a venue or (``ROUTER``) synthesised by the router itself."""

    order: VenueOrder
    event: TradeEvent
    timestamp: datetime
    source: EventSource
    fill_qty: Decimal | None = None
    fill_price: Decimal | None = None
    position_qty: Decimal | None = None
    venue_seq: int | None = None
    reason: str | None = None
    execution_id: UUID | None = None
    """The venue's own id of this execution (Alpaca's stream gives one); None when it gives none."""
    raw: dict[str, object] | None = field(default=None, compare=False)

    @property
    def is_venue_fact(self) -> bool:
        return self.source is not EventSource.ROUTER

    def with_order(self, order: VenueOrder) -> VenueEvent:
        return replace(self, order=order)


def state_event(order: VenueOrder, source: EventSource, timestamp: datetime | None = None) -> VenueEvent:
    """An event reporting an order's current state (a REST answer or a reconciliation, not a stream event).

    Its time is the venue's ``updated_at`` so that asking twice yields the same fingerprint.
    """
    when = timestamp or order.updated_at or order.submitted_at
    if when is None:
        raise ValueError(f"order {order.client_order_id} has no timestamp to report its state with")
    return VenueEvent(order=order, event=event_for_status(order.status), timestamp=when, source=source)


def reconcile_event(order: VenueOrder, now: datetime) -> VenueEvent:
    """A lookup's answer as an event: at the venue's time, or ``now`` when the venue gives none."""
    return state_event(order, EventSource.RECONCILE, timestamp=order.updated_at or order.submitted_at or now)
