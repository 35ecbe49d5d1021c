"""Turning an applied venue event into the published ``TradeUpdate`` (and an account snapshot id).

The update parses with alpaca-py's ``TradeUpdate`` model whatever the venue: Alpaca's fields are set
beside v1's from the same values (``price``/``qty`` = ``fill_price``/``fill_qty``, ``order.type`` =
``order.order_type``), and what Alpaca's ``Order`` requires is always there, from the venue's facts:

* ``order.id``: Alpaca's order UUID when the order is on Alpaca and Alpaca has answered; otherwise
  (the paper venue, LEAN, an order no venue acknowledged yet) ``uuid5(ORDER_ID_NAMESPACE,
  client_order_id)``, so a replay reproduces it.
* ``execution_id``: Alpaca's, when its stream gave one (none on a REST answer); on the paper venue and
  LEAN ``uuid5(EXECUTION_ID_NAMESPACE, fingerprint)``.
* ``created_at`` / ``submitted_at`` / ``updated_at``: the venue's; where it gives none, the nearest
  time the event already carries (created = submitted, updated = the event's time). No clock is read
  here, so the same event always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from torghut_contracts.enums import Adapter
from torghut_contracts.headers import derived_message_id
from torghut_contracts.models import OrderState, TradeUpdate
from torghut_contracts.models.execution import derived_execution_id, derived_order_id

from .fingerprint import trade_update_fingerprint
from .orders import FillDelta, VenueEvent, VenueOrder


def event_fingerprint(account: str, event: VenueEvent) -> str:
    order = event.order
    return trade_update_fingerprint(account=account, venue_order_id=order.venue_order_id,
                                    client_order_id=order.client_order_id, event=event.event.value,
                                    status=order.status.value, filled_qty=order.filled_qty,
                                    filled_avg_price=order.filled_avg_price, timestamp=event.timestamp)


def trade_update_message_id(fingerprint: str) -> str:
    """One message id per venue event, whichever path (the outbox or a consumer's outputs) publishes it."""
    return derived_message_id("trade-update", fingerprint)


def order_uuid(order: VenueOrder) -> uuid.UUID:
    """Alpaca's own order id when there is one, else the one derived from the client_order_id."""
    if order.venue is Adapter.ALPACA and order.venue_order_id is not None:
        try:
            return uuid.UUID(order.venue_order_id)
        except ValueError:
            pass
    return derived_order_id(order.client_order_id)


def execution_uuid(event: VenueEvent, fingerprint: str) -> uuid.UUID | None:
    if event.execution_id is not None:
        return event.execution_id
    if event.order.venue is Adapter.ALPACA:
        return None  # an Alpaca event without Alpaca's id (a REST answer, the router's own): none invented
    return derived_execution_id(fingerprint)


def build_trade_update(*, account: str, event: VenueEvent, fingerprint: str, feed_seq: int, decision_id: str | None,
                       fallback_reason: str | None, delta: FillDelta | None) -> TradeUpdate:
    order = event.order
    created_at = order.created_at or order.submitted_at or event.timestamp
    fill_qty = delta.qty if delta is not None else None
    fill_price = delta.price if delta is not None else None
    return TradeUpdate(
        fingerprint=fingerprint, account=account, venue=order.venue, event=event.event, timestamp=event.timestamp,
        order=OrderState(
            venue_order_id=order.venue_order_id, client_order_id=order.client_order_id, symbol=order.symbol,
            side=order.side, qty=order.qty, filled_qty=order.filled_qty, filled_avg_price=order.filled_avg_price,
            status=order.status, order_type=order.order_type, limit_price=order.limit_price,
            time_in_force=order.time_in_force, submitted_at=order.submitted_at or created_at,
            updated_at=order.updated_at or event.timestamp,
            id=order_uuid(order), created_at=created_at, extended_hours=bool(order.extended_hours),
            type=order.order_type,
        ),
        fill_qty=fill_qty, fill_price=fill_price, qty=fill_qty, price=fill_price,
        execution_id=execution_uuid(event, fingerprint),
        position_qty=event.position_qty, feed_seq=feed_seq, decision_id=decision_id, fallback_reason=fallback_reason,
    )


def snapshot_id(account: str, venue: Adapter, as_of: datetime) -> str:
    """Deterministic: the same account, venue and instant always name the same snapshot."""
    text = f"{account}|{venue.value}|{as_of.astimezone(UTC).isoformat()}"
    return "snap-" + hashlib.sha256(text.encode()).hexdigest()[:32]
