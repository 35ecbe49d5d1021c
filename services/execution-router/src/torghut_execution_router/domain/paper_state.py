"""The paper venue's state as values: its fill model, prices, orders, account, fills, and what one
operation changes (``PaperStep``). The rules over them are ``domain.paper``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from torghut_contracts.enums import Adapter, OrderStatus, OrderType, Side, TimeInForce

from .orders import VenueEvent, VenueOrder

NEW_YORK = ZoneInfo("America/New_York")
AVG_PRICE_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True)
class FillModel:
    slippage_bps: Decimal = Decimal(5)
    partial_fill_above_qty: Decimal = Decimal(100)
    chunk_qty: Decimal = Decimal(100)
    max_price_age: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Quote:
    symbol: str
    price: Decimal
    event_ts: datetime
    seq: int

    def is_newer_than(self, other: Quote | None) -> bool:
        return other is None or (self.event_ts, self.seq) > (other.event_ts, other.seq)


@dataclass(frozen=True)
class PaperOrder:
    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    time_in_force: TimeInForce
    status: OrderStatus
    submitted_at: datetime
    updated_at: datetime
    reserve_price: Decimal
    """Price the unfilled part reserves buying power at (the limit, or the slipped price at submission)."""
    not_before: datetime
    """Prices older than this are stale for this order."""
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    seq: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)

    def venue_order(self) -> VenueOrder:
        return VenueOrder(venue=Adapter.PAPER, client_order_id=self.client_order_id,
                          venue_order_id=self.venue_order_id, symbol=self.symbol, side=self.side, qty=self.qty,
                          status=self.status, filled_qty=self.filled_qty, filled_avg_price=self.filled_avg_price,
                          order_type=self.order_type, limit_price=self.limit_price, time_in_force=self.time_in_force,
                          submitted_at=self.submitted_at, updated_at=self.updated_at, created_at=self.submitted_at)


@dataclass(frozen=True)
class PaperPosition:
    symbol: str
    qty: Decimal
    avg_entry_price: Decimal | None


@dataclass(frozen=True)
class PaperAccount:
    cash: Decimal
    realized_pl: Decimal = Decimal(0)
    positions: Mapping[str, PaperPosition] = field(default_factory=dict)
    last_fill_at: datetime | None = None
    """The venue's fill clock: fill times strictly increase, so a snapshot can say exactly which fills
    its positions include (``AccountSnapshot.fills_through``)."""

    def position_qty(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        return position.qty if position else Decimal(0)


@dataclass(frozen=True)
class PaperFill:
    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    realized_pl: Decimal
    at: datetime


@dataclass(frozen=True)
class PaperStep:
    """The outcome of one venue operation: orders changed, the account after, events and fills."""

    account: PaperAccount
    orders: list[PaperOrder] = field(default_factory=list)
    events: list[VenueEvent] = field(default_factory=list)
    fills: list[PaperFill] = field(default_factory=list)
    rejection: str | None = None
