"""One record of a per-record topic: decode, handle with its tracking record in one transaction, publish.

The handler's effects and a tracking record commit in one Postgres transaction, and its outputs
are stored with the record, so a redelivered message republishes the same outputs (same message
ids) instead of applying its effects twice. A handler that raises is retried in place (the
partition waits, so per-key order holds) up to ``max_attempts`` times, then the record goes to the
DLQ. A record that is not the topic's message goes to the DLQ at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from torghut_contracts.headers import header_dict

from ..commit_hooks import CommitHooks
from ..db import StoredOutput
from ..lane_topics import backoff_s
from ..logs import correlation_id_var
from .consuming import RecordId, Subscription, Tools, record_id
from .inbound import Unreadable, decode
from .messages import Inbound, discard_buffered, flush_buffered

log = structlog.get_logger("torghut.kafka")


class AlreadyProcessed(Exception):
    """The claim of a tracking record met one already there: the record was processed before."""


class RecordTransaction:
    def __init__(self, tools: Tools, sub: Subscription) -> None:
        self.tools = tools
        self.sub = sub

    async def run(self, record: Any) -> bool:
        """True when done with ``record`` (handled, a duplicate, or dead-lettered); False when it failed
        and should be offered again after the backoff."""
        started = time.perf_counter()
        inbound = await self._decode_or_dead_letter(record)
        if inbound is None:
            return True
        where = record_id(record)
        spent = self.tools.attempts.failures(where)
        if spent >= self.sub.max_attempts:  # failed before, and so did its dead-letter write: only that is left
            await self._dead_letter(record, inbound, self.tools.attempts.errors.get(where, "unknown"), spent)
            return True
        try:
            outcome = await self._handle_traced(record, inbound)
        except Exception as exc:
            return await self._failed(record, inbound, where, exc)
        self.tools.attempts.clear(where)
        self.tools.metrics.messages.labels(topic=self.sub.spec.name, outcome=outcome).inc()
        self.tools.metrics.handler_seconds.labels(topic=self.sub.spec.name).observe(time.perf_counter() - started)
        return True

    async def _decode_or_dead_letter(self, record: Any) -> Inbound[Any] | None:
        decoded: Inbound[Any] | Unreadable = decode(self.sub.spec, record)
        if isinstance(decoded, Unreadable):
            await self.tools.dead_letters.write(self.sub.spec, record, key=decoded.key, raw_headers=decoded.headers,
                                                reason=decoded.reason, error=decoded.error, attempts=1,
                                                group=self.sub.group)
            return None
        return decoded

    async def _handle_traced(self, record: Any, inbound: Inbound[Any]) -> str:
        span = self.tools.tracer.start_span(f"{record.topic} process", kind=SpanKind.CONSUMER,
                                            context=propagate.extract(header_dict(record.headers)))
        token = correlation_id_var.set(inbound.headers.correlation_id)
        try:
            with trace.use_span(span, end_on_exit=True):  # the outputs carry the record's trace
                if self.sub.claim_last:
                    return await self._handle_then_claim(inbound)
                return await self._handle_unless_processed(inbound)
        finally:
            correlation_id_var.reset(token)

    async def _failed(self, record: Any, inbound: Inbound[Any], where: RecordId, exc: Exception) -> bool:
        failures = self.tools.attempts.fail(where, repr(exc))
        if failures >= self.sub.max_attempts:
            log.error("handler failed; dead-lettering", topic=record.topic, offset=record.offset,
                      partition=record.partition, attempts=failures, error=repr(exc))
            # Cleared only once written: if the write fails, the lane backs off and the next pass goes
            # straight to the dead-letter write.
            await self._dead_letter(record, inbound, repr(exc), failures)
            return True
        self.tools.metrics.messages.labels(topic=self.sub.spec.name, outcome="retried").inc()
        log.warning("handler failed; retrying", topic=record.topic, offset=record.offset, partition=record.partition,
                    attempt=failures, max_attempts=self.sub.max_attempts, error=repr(exc))
        await asyncio.sleep(backoff_s(self.tools.retry_backoff_s, failures))
        return False

    async def _dead_letter(self, record: Any, inbound: Inbound[Any], error: str, attempts: int) -> None:
        await self.tools.dead_letters.write(self.sub.spec, record, key=inbound.key,
                                            raw_headers=header_dict(record.headers), reason="handler_error",
                                            error=error, attempts=attempts, group=self.sub.group)
        self.tools.attempts.clear(record_id(record))

    async def _handle_unless_processed(self, inbound: Inbound[Any]) -> str:
        """Look the tracking record up first; handle and mark in the same transaction if it is new."""
        handler, store, group = self.sub.handler, self.tools.store, self.sub.group
        hooks = CommitHooks()
        try:
            with hooks:
                async with self.tools.engine.begin() as conn:
                    previous = await store.previous_outputs(conn, group, inbound.headers.message_id)
                    if previous is None:
                        outputs = await self._handle(inbound, conn)
                        await store.mark_processed(conn, group, inbound.headers.message_id, topic=inbound.topic,
                                                   partition=inbound.partition, offset=inbound.offset,
                                                   outputs=outputs)
        except BaseException:
            discard_buffered(handler)
            raise
        hooks.run()
        await self.tools.publishers.publish_all(outputs if previous is None else previous)
        return "processed" if previous is None else "duplicate"

    async def _handle_then_claim(self, inbound: Inbound[Any]) -> str:
        """For a ``claim_last`` handler: handle first, claim the tracking record as the last statement."""
        handler, store, group = self.sub.handler, self.tools.store, self.sub.group
        hooks = CommitHooks()
        try:
            with hooks:
                async with self.tools.engine.begin() as conn:
                    outputs = await self._handle(inbound, conn)
                    if not await store.claim_processed_many(conn, group, [(inbound, outputs)]):
                        raise AlreadyProcessed
        except AlreadyProcessed:
            discard_buffered(handler)
            async with self.tools.engine.connect() as conn:
                previous = await store.previous_outputs(conn, group, inbound.headers.message_id)
            assert previous is not None, "a claim fails only on a stored tracking record"
            await self.tools.publishers.publish_all(previous)
            return "duplicate"
        except BaseException:
            discard_buffered(handler)
            raise
        hooks.run()
        await self.tools.publishers.publish_all(outputs)
        return "processed"

    async def _handle(self, inbound: Inbound[Any], conn: Any) -> list[StoredOutput]:
        outgoing = await self.sub.handler(inbound, conn)
        await flush_buffered(self.sub.handler, conn)
        return [self.tools.publishers.render(inbound, item, index) for index, item in enumerate(outgoing)]
