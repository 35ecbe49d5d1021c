"""Publishing run lifecycle events that an HTTP request (not a Kafka handler) wrote.

Such events are committed with the status change, then published right after the commit; if the
broker is away at that moment the sweeper publishes them later. A row is marked published only
after the broker acknowledged it, and its Kafka message id is derived from the event id, so a
second publish of the same row is recognised downstream as the same message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders, derived_message_id
from torghut_contracts.models import WhitepaperRunEvent

from .run_store import run_events

log = structlog.get_logger("torghut.whitepaper.outbox")
Publish = Callable[[WhitepaperRunEvent, MessageHeaders], Awaitable[object]]


def event_headers(event: WhitepaperRunEvent) -> MessageHeaders:
    """One message id per event id; the run id correlates every event of a run."""
    return MessageHeaders.new(topics.WHITEPAPER_RUNS.name,
                              message_id=derived_message_id("whitepaper-run-event", event.event_id),
                              correlation_id=event.run_id)


class EventOutbox:
    def __init__(self, engine: AsyncEngine, publish: Publish, *, batch: int = 100) -> None:
        self.engine = engine
        self.publish = publish
        self.batch = batch
        self._lock = asyncio.Lock()

    async def flush(self) -> int:
        """Publish every unpublished event (oldest first); returns how many went out."""
        sent = 0
        async with self._lock:
            while True:
                async with self.engine.begin() as conn:
                    rows = (await conn.execute(
                        sa.select(run_events.c.event_id, run_events.c.payload)
                        .where(run_events.c.published_at.is_(None))
                        .order_by(run_events.c.occurred_at, run_events.c.run_id, run_events.c.seq)
                        .limit(self.batch).with_for_update(skip_locked=True))).all()
                    for row in rows:
                        event = WhitepaperRunEvent.model_validate(row.payload)
                        await self.publish(event, event_headers(event))
                        await conn.execute(run_events.update().where(run_events.c.event_id == row.event_id)
                                           .values(published_at=datetime.now(UTC)))
                        sent += 1
                if len(rows) < self.batch:
                    return sent

    async def flush_quietly(self) -> None:
        """After an HTTP request's commit: a broker hiccup is the sweeper's job, not the caller's error."""
        try:
            await self.flush()
        except Exception as exc:
            log.warning("run events not yet published; the sweeper will retry", error=repr(exc))

    async def sweep_forever(self, interval_s: float) -> None:
        while True:
            await self.flush_quietly()
            await asyncio.sleep(interval_s)
