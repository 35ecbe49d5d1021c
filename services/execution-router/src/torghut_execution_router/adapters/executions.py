"""The router's record of one approved order (a row of ``executions``), as the store reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from torghut_contracts.enums import Adapter, OrderStatus, OrderType, Side, TimeInForce

from ..domain.feed import ExecutionFeedState, FeedOrder
from ..domain.orders import VenueOrder
from ..domain.submission import SubmitState


@dataclass(frozen=True)
class ExecutionRow:
    id: int
    account: str
    client_order_id: str
    decision_id: str
    correlation_id: str
    traceparent: str | None
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    time_in_force: TimeInForce
    extended_hours: bool
    expected_adapter: Adapter
    venue: Adapter
    fallback_reason: str | None
    submit_state: SubmitState
    venue_order_id: str | None
    status: OrderStatus
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    feed_seq: int
    last_venue_seq: int | None
    last_event_ts: datetime | None
    unknown_lookups: int
    reject_reason: str | None
    approved_at: datetime
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> ExecutionRow:
        return cls.from_values(row._mapping, row._mapping["id"])

    @classmethod
    def from_values(cls, m: Mapping[str, Any], id: int) -> ExecutionRow:
        """The row as its column values make it: read back, or about to be written (``id`` 0)."""
        return cls(
            id=id, account=m["account"], client_order_id=m["client_order_id"], decision_id=m["decision_id"],
            correlation_id=m["correlation_id"], traceparent=m["traceparent"], symbol=m["symbol"],
            side=Side(m["side"]), qty=m["qty"],
            order_type=OrderType(m["order_type"]), limit_price=m["limit_price"],
            time_in_force=TimeInForce(m["time_in_force"]), extended_hours=m["extended_hours"],
            expected_adapter=Adapter(m["expected_adapter"]),
            venue=Adapter(m["venue"]), fallback_reason=m["fallback_reason"],
            submit_state=SubmitState(m["submit_state"]), venue_order_id=m["venue_order_id"],
            status=OrderStatus(m["status"]), filled_qty=m["filled_qty"], filled_avg_price=m["filled_avg_price"],
            feed_seq=m["feed_seq"], last_venue_seq=m["last_venue_seq"], last_event_ts=m["last_event_ts"],
            unknown_lookups=m["unknown_lookups"], reject_reason=m["reject_reason"], approved_at=m["approved_at"],
            created_at=m["created_at"],
        )

    def feed_state(self) -> ExecutionFeedState:
        return ExecutionFeedState(status=self.status, filled_qty=self.filled_qty,
                                  filled_avg_price=self.filled_avg_price, last_venue_seq=self.last_venue_seq,
                                  last_event_ts=self.last_event_ts)

    def feed_order(self) -> FeedOrder:
        """What the order feed judges this execution's events against."""
        return FeedOrder(state=self.feed_state(), feed_seq=self.feed_seq, venue_order_id=self.venue_order_id,
                         extended_hours=self.extended_hours, decision_id=self.decision_id,
                         fallback_reason=self.fallback_reason)

    def venue_order(self) -> VenueOrder:
        """The router's own view of the order (what to cancel, what to report when the venue is silent)."""
        return VenueOrder(venue=self.venue, client_order_id=self.client_order_id, venue_order_id=self.venue_order_id,
                          symbol=self.symbol, side=self.side, qty=self.qty, status=self.status,
                          filled_qty=self.filled_qty, filled_avg_price=self.filled_avg_price,
                          order_type=self.order_type, limit_price=self.limit_price,
                          time_in_force=self.time_in_force, submitted_at=self.approved_at,
                          updated_at=self.last_event_ts, created_at=self.approved_at,
                          extended_hours=self.extended_hours)


def feed_columns(order: FeedOrder) -> dict[str, Any]:
    """The ``executions`` columns the order feed moves, as ``order`` leaves them."""
    state = order.state
    return {"status": state.status.value, "filled_qty": state.filled_qty, "filled_avg_price": state.filled_avg_price,
            "feed_seq": order.feed_seq, "venue_order_id": order.venue_order_id,
            "last_event_ts": state.last_event_ts, "last_venue_seq": state.last_venue_seq}
