"""Publishing run lifecycle events: every event is committed with its status change, then relayed.

The relay (:meth:`EventOutbox.relay_forever`) runs whenever it is woken (intake committed, a group
of step outcomes was recorded) and at least every sweep interval, for what a broker hiccup left
behind; an HTTP request's writes are flushed right after its commit. A row is marked published only
after the broker acknowledged it, and its Kafka message id is derived from the event id, so a
second publish of the same row is recognised downstream as the same message.

A flush takes a batch of unpublished events, oldest first, hands them all to the producer in that
order and waits for the acknowledgements once (each run's events go to one partition, in order),
then marks the batch published with one statement: a round trip per batch, not two per event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders, derived_message_id
from torghut_contracts.models import WhitepaperRunEvent

from .run_store import run_events

log = structlog.get_logger("torghut.whitepaper.outbox")
PublishAll = Callable[[Sequence[tuple[WhitepaperRunEvent, MessageHeaders]]], Awaitable[object]]
"""Publish events in the order given, returning once the broker acknowledged them all."""

_MARK_PUBLISHED = sa.text("UPDATE whitepaper_run_events SET published_at = :now "
                          "WHERE event_id = ANY(CAST(:event_ids AS TEXT[]))")


def event_headers(event: WhitepaperRunEvent) -> MessageHeaders:
    """One message id per event id; the run id correlates every event of a run."""
    return MessageHeaders.new(topics.WHITEPAPER_RUNS.name,
                              message_id=derived_message_id("whitepaper-run-event", event.event_id),
                              correlation_id=event.run_id)


class EventOutbox:
    def __init__(self, engine: AsyncEngine, publish: PublishAll, *, batch: int = 500) -> None:
        self.engine = engine
        self.publish = publish
        self.batch = batch
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Events were committed: relay them now rather than at the next sweep."""
        self._wakeup.set()

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
                    if rows:
                        events = [WhitepaperRunEvent.model_validate(row.payload) for row in rows]
                        await self.publish([(event, event_headers(event)) for event in events])
                        await conn.execute(_MARK_PUBLISHED, {"now": datetime.now(UTC),
                                                             "event_ids": [row.event_id for row in rows]})
                        sent += len(rows)
                if len(rows) < self.batch:
                    return sent

    async def flush_quietly(self) -> None:
        """After an HTTP request's commit: a broker hiccup is the sweeper's job, not the caller's error."""
        try:
            await self.flush()
        except Exception as exc:
            log.warning("run events not yet published; the sweeper will retry", error=repr(exc))

    async def relay_forever(self, interval_s: float) -> None:
        """Flush whenever woken, and at least every ``interval_s`` (what a failed flush left)."""
        while True:
            self._wakeup.clear()
            # Shielded: a stop that cancels the relay between a batch's publish and its mark would leave
            # the batch to be published again by the final flush; the final flush waits for this one.
            await asyncio.shield(self.flush_quietly())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await self._wakeup.wait()
