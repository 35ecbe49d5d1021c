"""The rows of ``execution_events`` that the trade-update outbox publishes (``outbox.py`` makes each a message)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from torghut_runtime.outbox import OutboxTable

from .tables import execution_events


@dataclass(frozen=True)
class PendingPublication:
    id: int
    payload: str
    fingerprint: str
    correlation_id: str | None
    traceparent: str | None


TRADE_UPDATES_OUTBOX = OutboxTable(
    "trade-updates", execution_events, key=execution_events.c.id, order_by=(execution_events.c.id,),
    pending=sa.and_(execution_events.c.payload.is_not(None), execution_events.c.published_at.is_(None)),
    published_at=execution_events.c.published_at)
"""The trade updates the runtime's relay publishes: one order's events are recorded under its row
lock, so their ids are in the order they happened."""
