"""The outbox relay: trade updates stored by the order feed, published to ``torghut.trade-updates.v1``.

An update is stored in the transaction that applies its event and published from here afterwards,
so an event committed always reaches Kafka, at least once, with a message id derived from its
fingerprint (``trade_update_message_id``) that consumers deduplicate on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import propagate, trace
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders

from .adapters.metrics import RouterMetrics
from .adapters.store import ExecutionStore, PendingPublication
from .domain.trade_update import trade_update_message_id
from .wake import Wake

Publish = Callable[..., Awaitable[Any]]


def _span_of(traceparent: str | None) -> trace.Span:
    """A non-recording span carrying ``traceparent``'s context (the invalid span when there is none)."""
    if not traceparent:
        return trace.INVALID_SPAN
    return trace.get_current_span(propagate.extract({"traceparent": traceparent}))


class TradeUpdateRelay:
    def __init__(self, store: ExecutionStore, publish: Publish, metrics: RouterMetrics, wake: Wake,
                 poll_s: float) -> None:
        self.store = store
        self.publish = publish
        self.metrics = metrics
        self.wake = wake
        """Notified when a commit enqueues an update (``ExecutionRecorder``)."""
        self.poll_s = poll_s

    async def _publish(self, pending: list[PendingPublication]) -> None:
        for item in pending:
            update = topics.TRADE_UPDATES.decode(item.payload)
            headers = MessageHeaders.new(topics.TRADE_UPDATES.name,
                                         message_id=trade_update_message_id(item.fingerprint),
                                         correlation_id=item.correlation_id)
            # Published from the relay's loop, so continue the order's trace explicitly.
            with trace.use_span(_span_of(item.traceparent)):
                await self.publish(topics.TRADE_UPDATES, update, headers=headers)

    async def publish_pending(self) -> int:
        """One round: publish what is pending and mark it published."""
        pending = await self.store.pending_publications()
        await self._publish(pending)
        await self.store.mark_published([item.id for item in pending])
        return len(pending)

    async def run(self) -> None:
        """Publish pending trade updates as soon as a commit enqueues them (``wake``), polling as a backstop.

        A round's publications are marked in the same transaction that reads the next round, so a burst
        (``new`` then ``fill``) costs one round trip per round; a crash in between republishes them
        with the same derived message ids, which consumers deduplicate.
        """
        published: list[int] = []
        while True:
            try:
                pending = await self.store.next_publications(published)
                published = []
                await self._publish(pending)
                published = [item.id for item in pending]
            except Exception:
                self.metrics.consumer_errors.labels(source="outbox").inc()
                raise
            if not pending:
                await self.wake.wait(self.poll_s)
