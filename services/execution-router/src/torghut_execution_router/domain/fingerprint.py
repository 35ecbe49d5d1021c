"""The trade-update fingerprint: what makes two deliveries of one event recognisably the same."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal


def canonical_decimal(value: Decimal | None) -> str | None:
    """``10``, ``10.0`` and ``1E+1`` are one quantity; the fingerprint must not tell them apart."""
    if value is None:
        return None
    normalised = value.normalize()
    return format(normalised, "f") if normalised != 0 else "0"


def trade_update_fingerprint(*, account: str, venue_order_id: str | None, client_order_id: str, event: str,
                             status: str, filled_qty: Decimal | None, filled_avg_price: Decimal | None,
                             timestamp: datetime) -> str:
    """sha256 hex of the sorted-keys JSON of the fields that identify one order event (upstream §1.5)."""
    body = {
        "account": account,
        "venue_order_id": venue_order_id,
        "client_order_id": client_order_id,
        "event": event,
        "status": status,
        "filled_qty": canonical_decimal(filled_qty),
        "filled_avg_price": canonical_decimal(filled_avg_price),
        "timestamp": timestamp.astimezone(UTC).isoformat(),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
