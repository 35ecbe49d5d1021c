"""``torghut.trade-updates.v1`` and ``torghut.account.snapshots.v1``: what the venues say happened.

A trade update parses with alpaca-py's own model (``alpaca.trading.models.TradeUpdate``) whatever the
venue: beside the fields v1 was released with, it carries Alpaca's names for the same facts, set from
the same values by the producer (``price``/``qty`` = ``fill_price``/``fill_qty``, ``order.type`` =
``order.order_type``, ``order.id`` = the order's UUID, ``venue_order_id`` its venue's own id). The one
exception is ``order.status = "unknown"`` (sent, outcome not known), which is Torghut's and not in
Alpaca's ``OrderStatus``: alpaca-py refuses that update.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import Field, WithJsonSchema

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

ORDER_ID_NAMESPACE = uuid.UUID("1eb59601-d89f-57aa-ad43-645c27642efe")
"""uuid5 namespace of ``order.id`` for venues without Alpaca order UUIDs (the paper venue, LEAN)."""
EXECUTION_ID_NAMESPACE = uuid.UUID("902fd40b-60ab-5348-8b8f-ed4c0ae7e545")
"""uuid5 namespace of ``execution_id`` for venues without Alpaca execution ids (the paper venue, LEAN)."""


def derived_order_id(client_order_id: str) -> uuid.UUID:
    """The order's UUID where the venue has none of Alpaca's kind: the same client_order_id, the same id
    (so a replay reproduces it, and a consumer can compute it)."""
    return uuid.uuid5(ORDER_ID_NAMESPACE, client_order_id)


def derived_execution_id(fingerprint: str) -> uuid.UUID:
    """An event's execution id where the venue gives none: one per event, as its fingerprint is."""
    return uuid.uuid5(EXECUTION_ID_NAMESPACE, fingerprint)


Uuid = Annotated[uuid.UUID, WithJsonSchema({
    "type": "string", "format": "uuid",
    "pattern": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$(?!\n)",
    "description": "a UUID, hyphenated"}, mode="validation")]
"""A UUID on the wire as its hyphenated string (Alpaca's order and execution ids)."""


class OrderClass(StrEnum):
    """Alpaca's order classes; the router places only ``simple`` orders."""

    SIMPLE = "simple"
    BRACKET = "bracket"
    OCO = "oco"
    OTO = "oto"
    MLEG = "mleg"


class OrderState(Contract):
    """The order as the venue reports it, under v1's names and (optional, added later) Alpaca's."""

    venue_order_id: Label | None = Field(default=None, max_length=128,
                                         description="The venue's own order id (Alpaca's UUID, LEAN's or the "
                                                     "paper venue's id).")
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
    # Alpaca's Order fields (optional, added in v1 without a new version); the router always sets them.
    id: Uuid | None = Field(default=None, description="Alpaca's `id`: the Alpaca order UUID; on the paper venue, "
                                                       "LEAN, or before a venue acknowledged the order, "
                                                       "uuid5(ORDER_ID_NAMESPACE, client_order_id).")
    created_at: UtcDatetime | None = None
    extended_hours: bool = False
    order_class: OrderClass = OrderClass.SIMPLE
    type: OrderType | None = Field(default=None, description="Alpaca's name for `order_type`: the same value.")


class TradeUpdate(Contract):
    """One order event in Alpaca's vocabulary, whatever the venue.

    ``fingerprint`` identifies the event (order, event type, status, cumulative fill, timestamp), so a
    duplicate delivered twice, by the venue or by a replay, is recognised and applied once.
    ``price``/``qty`` are Alpaca's names for ``fill_price``/``fill_qty`` and carry the same values.
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
    # Alpaca's TradeUpdate fields (optional, added in v1 without a new version).
    price: Price | None = Field(default=None, description="Alpaca's name for `fill_price`: the same value.")
    qty: Quantity | None = Field(default=None, description="Alpaca's name for `fill_qty`: the same value.")
    execution_id: Uuid | None = Field(default=None, description="Alpaca's execution id when the Alpaca stream "
                                                                  "gave one; on the paper venue and LEAN "
                                                                  "uuid5(EXECUTION_ID_NAMESPACE, fingerprint).")


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
