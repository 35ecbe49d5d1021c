"""``torghut.trade-updates.v1`` and ``torghut.account.snapshots.v1``: what the venues say happened."""

from __future__ import annotations

from pydantic import Field

from torghut_contracts.enums import Adapter, OrderStatus, OrderType, Side, TimeInForce, TradeEvent
from torghut_contracts.types import (
    Account,
    Identifier,
    Label,
    Money,
    NonNegative,
    Price,
    Quantity,
    SequenceNumber,
    SignedQuantity,
    Symbol,
    Text,
    UtcDatetime,
)

from .base import Contract


class OrderState(Contract):
    venue_order_id: Label | None = Field(default=None, max_length=128)
    client_order_id: Label = Field(min_length=1, max_length=48)
    symbol: Symbol
    side: Side
    qty: Quantity
    filled_qty: Quantity = 0  # type: ignore[assignment]
    filled_avg_price: Price | None = None
    status: OrderStatus
    order_type: OrderType = OrderType.MARKET
    limit_price: Price | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    submitted_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None


class TradeUpdate(Contract):
    """One order event in Alpaca's vocabulary, whatever the venue.

    ``fingerprint`` identifies the event (order, event type, status, cumulative fill, timestamp), so a
    duplicate delivered twice, by the venue or by a replay, is recognised and applied once.
    """

    fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$")
    account: Account
    venue: Adapter
    event: TradeEvent
    timestamp: UtcDatetime
    order: OrderState
    fill_qty: Quantity | None = Field(default=None, description="This fill's quantity, on fill events.")
    fill_price: Price | None = None
    position_qty: SignedQuantity | None = None
    feed_seq: SequenceNumber | None = Field(default=None, description="Per-order sequence from the router.")
    decision_id: Identifier | None = None
    fallback_reason: Text | None = Field(default=None, max_length=500)


class Position(Contract):
    symbol: Symbol
    qty: SignedQuantity
    avg_entry_price: Price | None = None
    market_value: Money
    unrealized_pl: Money | None = None


class AccountSnapshot(Contract):
    snapshot_id: Identifier
    account: Account
    venue: Adapter
    as_of: UtcDatetime
    equity: Money
    last_equity: Money | None = Field(default=None, description="Equity at the previous close (day P&L base).")
    cash: Money
    buying_power: NonNegative
    realized_pl_today: Money | None = None
    positions: list[Position] = Field(default_factory=list)
    fills_through: UtcDatetime | None = Field(
        default=None,
        description="The venue's fill clock: every fill timestamped at or before this is in `positions`, none "
                    "after. Set by a venue whose fill times strictly increase (the paper venue); absent, "
                    "consumers take `as_of`, which holds only when fills and snapshots share a clock.")
