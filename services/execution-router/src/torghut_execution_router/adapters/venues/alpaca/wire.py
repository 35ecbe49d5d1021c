"""Reading Alpaca's JSON (REST orders and ``trade_updates`` frames) into venue-neutral values.

The adapter asks alpaca-py for raw data and reads it here, so an event type or status Alpaca adds
tomorrow is mapped or counted as missing fields rather than crashing the SDK's model parsing inside
the stream loop (where a parse error would drop the event silently).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from torghut_contracts.enums import Adapter, OrderType, Side, TimeInForce

from ....domain.orders import EventSource, VenueEvent, VenueOrder, event_for_status, parse_event, parse_status

_FRACTION = re.compile(r"(\.\d{6})\d+")
_ORDER_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": OrderType.MARKET,
                "stop_limit": OrderType.LIMIT, "trailing_stop": OrderType.MARKET}
"""Stop orders are never placed by the router; they are read (to cancel them on a kill switch) by the
order type that executes when triggered."""


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(r"\1", value.replace("Z", "+00:00"))  # Alpaca may send nanoseconds
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def order_from_alpaca(raw: Any) -> VenueOrder | None:
    """None when the order lacks what identifies or describes it (counted as missing fields)."""
    if not isinstance(raw, dict):
        return None
    client_order_id = raw.get("client_order_id")
    status = parse_status(raw.get("status"))
    symbol = raw.get("symbol")
    qty = parse_decimal(raw.get("qty"))
    try:
        side = Side(str(raw.get("side")))
        tif = TimeInForce(str(raw.get("time_in_force") or "day"))
    except ValueError:
        return None
    if not client_order_id or status is None or not isinstance(symbol, str) or qty is None:
        return None
    order_type = _ORDER_TYPES.get(str(raw.get("order_type") or raw.get("type") or "market"), OrderType.MARKET)
    avg = parse_decimal(raw.get("filled_avg_price"))
    return VenueOrder(
        venue=Adapter.ALPACA, client_order_id=str(client_order_id)[:48],
        venue_order_id=str(raw["id"]) if raw.get("id") else None, symbol=symbol, side=side, qty=qty, status=status,
        filled_qty=parse_decimal(raw.get("filled_qty")) or Decimal(0),
        filled_avg_price=avg if avg is not None and avg > 0 else None, order_type=order_type,
        limit_price=parse_decimal(raw.get("limit_price")), time_in_force=tif,
        submitted_at=parse_time(raw.get("submitted_at")) or parse_time(raw.get("created_at")),
        updated_at=parse_time(raw.get("updated_at")), created_at=parse_time(raw.get("created_at")),
        extended_hours=raw["extended_hours"] if isinstance(raw.get("extended_hours"), bool) else None,
    )


def parse_uuid(value: Any) -> UUID | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def event_from_stream(data: Any) -> VenueEvent | None:
    """One ``trade_updates`` frame's ``data``; None when it is not a usable order event."""
    if not isinstance(data, dict):
        return None
    order = order_from_alpaca(data.get("order"))
    if order is None:
        return None
    event = parse_event(data.get("event") or data.get("event_type")) or event_for_status(order.status)
    timestamp = parse_time(data.get("timestamp")) or parse_time(data.get("t")) or order.updated_at \
        or order.submitted_at
    if timestamp is None:
        return None
    fill_qty = parse_decimal(data.get("qty")) if data.get("event") in ("fill", "partial_fill") else None
    fill_price = parse_decimal(data.get("price")) if fill_qty is not None else None
    return VenueEvent(order=order, event=event, timestamp=timestamp, source=EventSource.STREAM,
                      fill_qty=fill_qty, fill_price=fill_price if fill_price and fill_price > 0 else None,
                      position_qty=parse_decimal(data.get("position_qty")),
                      execution_id=parse_uuid(data.get("execution_id")), raw=data)
