"""The transactional outbox: a message committed with the state that caused it, published after.

A service writes a message's row in the transaction that changes its state, then wakes the relay.
The relay publishes pending rows in their order and marks them (stamps ``published_at``, or deletes
them) once the broker has acknowledged every one. A crash between the acknowledgement and the mark
publishes the rows again with the message ids they carry, which consumers deduplicate: a committed
message is published at least once, never lost, never reordered.

One batch is one transaction. The rows are read in order and locked (``FOR UPDATE``), handed to the
producer in that order, the acknowledgements awaited once, and the batch marked with one statement:
a round trip per batch, not per row. A second relay over the same table (another replica) blocks on
the first locked row until the first relay commits, then passes over what it marked. So two
replicas never publish one row at the same time, and a later row never overtakes an earlier one.
Rows are skipped with ``SKIP LOCKED`` nowhere: that would let a replica publish row 201 while
another still holds row 1 of the same order.

Each service says where its rows live (:class:`OutboxTable`) and how a row becomes a message
(``render``); the runtime builds the relay (``ServiceRuntime.outbox``) and runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from opentelemetry import propagate, trace
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.topics import TopicSpec

from .db import StoredOutput
from .kafka.publishing import without_trace
from .metrics import ConsumerMetrics
from .wake import Wake

log = structlog.get_logger("torghut.outbox")


@dataclass(frozen=True)
class OutboxTable:
    """Where an outbox's rows live, which are pending, their order, and how a published one is marked."""

    name: str
    """Names the outbox in metrics and logs."""
    table: sa.Table
    key: sa.Column[Any]
    """The column a published row is marked by (its primary key)."""
    order_by: tuple[sa.ColumnElement[Any], ...]
    """The publishing order; within one message key it must be the order the rows were committed in."""
    pending: sa.ColumnElement[bool]
    published_at: sa.Column[Any] | None = None
    """Stamped when a row is published; ``None``: a published row is deleted."""

    # The relay's two statements are built once and take the batch size and the keys as parameters:
    # building them per batch (a where, an IN of the keys, their coercions) cost the relay an eighth
    # of its CPU in whitepaper-ingest's profile.
    @cached_property
    def next_batch(self) -> sa.Select[Any]:
        """The pending rows in order, at most ``limit`` (a parameter), locked."""
        return (sa.select(self.table).where(self.pending).order_by(*self.order_by).limit(sa.bindparam("limit"))
                .with_for_update())

    @cached_property
    def mark(self) -> sa.Delete | sa.Update:
        """Mark the rows whose keys are ``keys`` (a parameter) published."""
        published = self.key.in_(sa.bindparam("keys", expanding=True))
        if self.published_at is None:
            return self.table.delete().where(published)
        return self.table.update().where(published).values({self.published_at.name: sa.func.now()})


@dataclass(frozen=True)
class OutboxMessage:
    """A row as it is published: the record, and the trace it continues (the relay runs in its own)."""

    output: StoredOutput
    traceparent: str | None = None

    @classmethod
    def of(cls, spec: TopicSpec[Any], message: BaseModel, headers: MessageHeaders, *,
           traceparent: str | None = None) -> OutboxMessage:
        return cls(StoredOutput(topic=spec.name, key=spec.key(message), value=spec.encode(message).decode(),
                                headers=without_trace(headers.as_dict())), traceparent)


Render = Callable[[sa.Row[Any]], OutboxMessage]
"""A pending row as the message to publish; a row it cannot render stops the batch (a bug, not input)."""


class Sends(Protocol):
    """The runtime's publishers: hand a record to the producer, then await acknowledgements in order."""

    async def send(self, output: StoredOutput) -> asyncio.Future[Any]: ...

    async def confirm(self, sent: Sequence[tuple[StoredOutput, asyncio.Future[Any]]]) -> None: ...


@dataclass
class Outbox:
    engine: AsyncEngine
    table: OutboxTable
    render: Render
    sends: Sends
    metrics: ConsumerMetrics
    batch: int = 500
    wakes: Wake = field(default_factory=Wake)
    """Notified when a commit wrote rows (:meth:`wake`); shared with the service when it has its own."""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def wake(self) -> None:
        """Rows were committed: publish them now rather than at the next poll."""
        self.wakes.notify("committed")

    async def flush(self) -> int:
        """Publish every pending row, in order; returns how many were published.

        One relay of this process at a time (the lock), and across processes the row locks keep the
        batches in order.
        """
        published = 0
        async with self._lock:
            while True:
                rows = await self._publish_batch()
                published += rows
                if rows < self.batch:
                    return published

    async def _publish_batch(self) -> int:
        async with self.engine.begin() as conn:
            rows = (await conn.execute(self.table.next_batch, {"limit": self.batch})).all()
            if not rows:
                return 0
            sent = []
            for row in rows:
                message = self.render(row)
                with trace.use_span(_span_of(message.traceparent)):
                    sent.append((message.output, await self.sends.send(message.output)))
            await self.sends.confirm(sent)
            await conn.execute(self.table.mark, {"keys": [getattr(row, self.table.key.name) for row in rows]})
        self.metrics.outbox_published.labels(outbox=self.table.name).inc(len(rows))
        return len(rows)

    async def flush_quietly(self) -> int:
        """Flush, leaving a failure (a broker hiccup) to the relay's next round; for callers that have
        committed already and must not fail because a publish did."""
        try:
            return await self.flush()
        except Exception as exc:
            self.metrics.outbox_failures.labels(outbox=self.table.name).inc()
            log.warning("outbox rows not yet published; the relay will retry", outbox=self.table.name,
                        error=repr(exc))
            return 0

    async def relay(self, poll_s: float) -> None:
        """Publish whenever woken, and at least every ``poll_s`` (what a failed round left behind).

        A round is shielded from cancellation: a stop that cancelled it between a batch's publish and
        its mark would roll the mark back, and the final flush would publish that batch a second time.
        """
        while True:
            self.wakes.drain()
            await asyncio.shield(self.flush_quietly())
            await self.wakes.wait(poll_s)


def _span_of(traceparent: str | None) -> trace.Span:
    """A non-recording span carrying ``traceparent``'s context (the invalid span when there is none)."""
    if not traceparent:
        return trace.INVALID_SPAN
    return trace.get_current_span(propagate.extract({"traceparent": traceparent}))
