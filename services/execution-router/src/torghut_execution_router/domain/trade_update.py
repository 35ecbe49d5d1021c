"""Turning an applied venue event into the published ``TradeUpdate`` (and an account snapshot id)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from torghut_contracts.enums import Adapter
from torghut_contracts.models import OrderState, TradeUpdate

from .feed import FillDelta
from .fingerprint import trade_update_fingerprint
from .orders import VenueEvent


def event_fingerprint(account: str, event: VenueEvent) -> str:
    order = event.order
    return trade_update_fingerprint(account=account, venue_order_id=order.venue_order_id,
                                    client_order_id=order.client_order_id, event=event.event.value,
                                    status=order.status.value, filled_qty=order.filled_qty,
                                    filled_avg_price=order.filled_avg_price, timestamp=event.timestamp)


def build_trade_update(*, account: str, event: VenueEvent, fingerprint: str, feed_seq: int, decision_id: str | None,
                       fallback_reason: str | None, delta: FillDelta | None) -> TradeUpdate:
    order = event.order
    return TradeUpdate(
        fingerprint=fingerprint, account=account, venue=order.venue, event=event.event, timestamp=event.timestamp,
        order=OrderState(
            venue_order_id=order.venue_order_id, client_order_id=order.client_order_id, symbol=order.symbol,
            side=order.side, qty=order.qty, filled_qty=order.filled_qty, filled_avg_price=order.filled_avg_price,
            status=order.status, order_type=order.order_type, limit_price=order.limit_price,
            time_in_force=order.time_in_force, submitted_at=order.submitted_at, updated_at=order.updated_at,
        ),
        fill_qty=delta.qty if delta is not None else None,
        fill_price=delta.price if delta is not None else None,
        position_qty=event.position_qty, feed_seq=feed_seq, decision_id=decision_id, fallback_reason=fallback_reason,
    )


def snapshot_id(account: str, venue: Adapter, as_of: datetime) -> str:
    """Deterministic: the same account, venue and instant always name the same snapshot."""
    text = f"{account}|{venue.value}|{as_of.astimezone(UTC).isoformat()}"
    return "snap-" + hashlib.sha256(text.encode()).hexdigest()[:32]
