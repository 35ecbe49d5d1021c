"""A lane's queued records of a batch topic, handled in one transaction (many small messages: TA signals).

The handler still sees one message at a time, and every per-message guarantee holds: order per
partition, bounded retries, DLQ, idempotency, trace. A failing record stops its own partition
(later records of that partition wait for it, so order holds) while the other partitions go on;
it and the rest of its partition are offered again after the backoff. If the database or the
broker fails, nothing is done (the lane offers the records again).
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import TopicPartition
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.headers import header_dict

from ..commit_hooks import CommitHooks
from ..db import StoredOutput
from ..logs import correlation_id_var
from .consuming import RecordId, Subscription, Tools, record_id
from .inbound import Unreadable, decode
from .messages import Inbound, discard_buffered, flush_buffered, prepare_buffered

log = structlog.get_logger("torghut.kafka")
Work = list[tuple[TopicPartition, Any, Inbound[Any] | Unreadable]]


class HandlerFailed(Exception):
    """A handler raised during an optimistic pass over a batch."""


class AlreadyProcessed(Exception):
    """The unchecked pass met a message that was processed before: its work is rolled back."""


class Pass(enum.Enum):
    """How a batch is run. Each pass is one transaction; a failed one rolls back and the next runs.

    * ``UNCHECKED``: handle every record, then claim them all with one tracking insert that skips
      the ones already there. Nothing claimed twice: commit. A record already processed (a
      redelivery after a crash, a replay): roll back and run ``CHECKED``. One statement per batch
      fewer than checking first, on the path every batch takes.
    * ``CHECKED``: read the stored outputs of the batch's records first, handle only the others.
    * ``CAREFUL``: like ``CHECKED``, each record in its own savepoint, so a failing one is retried
      or dead-lettered alone while the rest commit.

    Batch handlers may touch nothing but the transaction (and what ``discard()`` forgets), which
    is what makes running one again after a rollback safe.
    """

    UNCHECKED = "unchecked"
    CHECKED = "checked"
    CAREFUL = "careful"


@dataclass
class BatchResult:
    rewind: dict[TopicPartition, int] = field(default_factory=dict)
    """Per partition, the offset of its first failed record: it and the rest are offered again."""
    publish: list[tuple[Span, list[StoredOutput]]] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    poisoned: list[tuple[Any, Inbound[Any], str, int]] = field(default_factory=list)
    """(record, message, last error, failures) of the records that go to the DLQ with this batch."""
    fresh: list[tuple[Inbound[Any], list[StoredOutput]]] = field(default_factory=list)
    """The records handled in this pass (not stored before), with their outputs: what gets claimed."""
    succeeded: list[RecordId] = field(default_factory=list)
    """Record ids whose failure count this pass clears, once its flush held too (a buffering handler's
    failure may only show at ``flush``: clearing when the handler returned would reset it each time)."""

    def end_spans(self) -> None:
        for span, _ in self.publish:
            span.end()


class BatchTransaction:
    def __init__(self, tools: Tools, sub: Subscription) -> None:
        self.tools = tools
        self.sub = sub

    async def run(self, records: list[Any]) -> list[Any]:
        """Handle a lane's records in one transaction; return those done with."""
        started = time.perf_counter()
        work: Work = [(TopicPartition(r.topic, r.partition), r, decode(self.sub.spec, r)) for r in records]
        try:
            result = await self._commit_first_pass_that_holds(work)
            await self._publish(result)
        except Exception:
            discard_buffered(self.sub.handler)
            raise
        self.tools.metrics.handler_seconds.labels(topic=self.sub.spec.name).observe(time.perf_counter() - started)
        if result.rewind:
            await asyncio.sleep(self.tools.retry_backoff_s)
        return [record for tp, record, _ in work if record.offset < result.rewind.get(tp, record.offset + 1)]

    async def _commit_first_pass_that_holds(self, work: Work) -> BatchResult:
        mode = Pass.UNCHECKED
        while True:  # at most three passes: CAREFUL raises neither
            hooks = CommitHooks()  # a pass that rolls back forgets what its handlers registered
            try:
                with hooks:
                    result = await self._pass(work, mode, hooks)
                hooks.run()
                return result
            except AlreadyProcessed:
                mode = Pass.CHECKED
            except HandlerFailed:
                mode = Pass.CAREFUL
            discard_buffered(self.sub.handler)

    async def _pass(self, work: Work, mode: Pass, hooks: CommitHooks) -> BatchResult:
        """One transaction over the batch, records in order; a partition stops at its first failure."""
        result = BatchResult()
        async with self.tools.engine.begin() as conn:
            stored: dict[str, list[StoredOutput]] = {}
            if mode is not Pass.UNCHECKED:
                ids = [item.headers.message_id for _, _, item in work if isinstance(item, Inbound)]
                stored = await self.tools.store.previous_outputs_many(conn, self.sub.group, ids)
            await prepare_buffered(self.sub.handler, conn, [
                item for _, _, item in work if isinstance(item, Inbound) and item.headers.message_id not in stored])
            for tp, record, item in work:
                if tp in result.rewind:
                    continue
                if isinstance(item, Unreadable):
                    result.unreadable.append(item)
                    continue
                await self._one(conn, tp, record, item, mode, hooks, stored, result)
            try:
                await self._close(conn, mode, result)
            except BaseException:
                result.end_spans()
                raise
        for where in result.succeeded:
            self.tools.attempts.clear(where)
        return result

    async def _one(self, conn: AsyncConnection, tp: TopicPartition, record: Any, item: Inbound[Any], mode: Pass,
                   hooks: CommitHooks, stored: dict[str, list[StoredOutput]], result: BatchResult) -> None:
        span = self.tools.tracer.start_span(f"{record.topic} process", kind=SpanKind.CONSUMER,
                                            context=propagate.extract(header_dict(record.headers)))
        message_id, where, attempts = item.headers.message_id, record_id(record), self.tools.attempts
        if message_id in stored:
            result.publish.append((span, stored[message_id]))
            result.outcomes.append("duplicate")
            return
        if attempts.failures(where) >= self.sub.max_attempts:
            span.end()  # failed before, and so did its dead-letter write: only that is left
            result.poisoned.append((record, item, attempts.errors.get(where, "unknown"), attempts.failures(where)))
            return
        token = correlation_id_var.set(item.headers.correlation_id)
        try:
            with trace.use_span(span):
                outgoing = await self._call(conn, item, careful=mode is Pass.CAREFUL, hooks=hooks)
            outputs = [self.tools.publishers.render(item, out, index) for index, out in enumerate(outgoing)]
        except Exception as exc:
            span.record_exception(exc)
            span.end()
            if mode is not Pass.CAREFUL:
                result.end_spans()
                raise HandlerFailed from exc
            self._count_failure(tp, record, item, repr(exc), result)
            return
        finally:
            correlation_id_var.reset(token)
        result.succeeded.append(where)
        stored[message_id] = outputs
        result.fresh.append((item, outputs))
        result.publish.append((span, outputs))
        result.outcomes.append("processed")

    async def _call(self, conn: AsyncConnection, item: Inbound[Any], *, careful: bool, hooks: CommitHooks) -> Any:
        """The handler; in a careful pass inside a savepoint, flushed there, forgetting its hooks on failure."""
        handler = self.sub.handler
        if not careful:
            return await handler(item, conn)
        mark = hooks.mark()
        try:
            async with conn.begin_nested():
                outgoing = await handler(item, conn)
                await flush_buffered(handler, conn)
        except BaseException:
            discard_buffered(handler)
            hooks.forget_since(mark)
            raise
        return outgoing

    def _count_failure(self, tp: TopicPartition, record: Any, item: Inbound[Any], error: str,
                       result: BatchResult) -> None:
        failures = self.tools.attempts.fail(record_id(record), error)
        if failures >= self.sub.max_attempts:  # cleared once its dead letter is written
            result.poisoned.append((record, item, error, failures))
            return
        self.tools.metrics.messages.labels(topic=self.sub.spec.name, outcome="retried").inc()
        log.warning("handler failed; retrying", topic=record.topic, offset=record.offset,
                    partition=record.partition, attempt=failures, error=error)
        result.rewind[tp] = record.offset

    async def _close(self, conn: AsyncConnection, mode: Pass, result: BatchResult) -> None:
        """Flush the handler, claim or mark the batch's records, and write its dead letters, all before the
        commit: a failed dead-letter write rolls the batch back, so nothing of it was published."""
        if mode is not Pass.CAREFUL:
            try:
                await flush_buffered(self.sub.handler, conn)
            except Exception as exc:
                raise HandlerFailed from exc
        if mode is Pass.UNCHECKED:
            if await self.tools.store.claim_processed_many(conn, self.sub.group, result.fresh) < len(result.fresh):
                raise AlreadyProcessed
        else:
            await self.tools.store.mark_processed_many(conn, self.sub.group, result.fresh)
        await self._dead_letter(result)

    async def _dead_letter(self, result: BatchResult) -> None:
        write, spec, group = self.tools.dead_letters.write, self.sub.spec, self.sub.group
        for bad in result.unreadable:
            await write(spec, bad.record, key=bad.key, raw_headers=bad.headers, reason=bad.reason, error=bad.error,
                        attempts=1, group=group)
        for record, inbound, error, failures in result.poisoned:
            log.error("handler failed; dead-lettering", topic=record.topic, offset=record.offset,
                      partition=record.partition, attempts=failures, error=error)
            await write(spec, record, key=inbound.key, raw_headers=header_dict(record.headers),
                        reason="handler_error", error=error, attempts=failures, group=group)
            self.tools.attempts.clear(record_id(record))

    async def _publish(self, result: BatchResult) -> None:
        sent: list[tuple[StoredOutput, asyncio.Future[Any]]] = []
        for span, outputs in result.publish:
            with trace.use_span(span, end_on_exit=True):  # each output carries its own message's trace
                sent.extend([(output, await self.tools.publishers.send(output)) for output in outputs])
        await self.tools.publishers.confirm(sent)
        for outcome in result.outcomes:
            self.tools.metrics.messages.labels(topic=self.sub.spec.name, outcome=outcome).inc()
