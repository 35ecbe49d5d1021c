"""Kafka wiring: consume -> handle -> publish -> commit, bounded retries, dead-letter topics.

A service reads all its topics with one consumer, whose records are handled in a lane per topic
(:mod:`.lanes`). It commits by hand (``AckPolicy.MANUAL``), every 100 ms, only past records whose
handler and the publishes it awaits returned.

Around each handler this module adds what FastStream does not have:

* a record that is not JSON, or not the topic's schema, goes straight to ``<topic>.dlq`` with the
  reason in headers, and the partition keeps moving;
* a handler that raises is retried in place (the partition waits, so per-key order holds) up to
  ``consumer_max_attempts`` times, then the record goes to the DLQ;
* the handler's effects and a tracking record commit in one Postgres transaction, and its outputs
  are stored with the record, so a redelivered message republishes the same outputs (same message
  ids) instead of applying its effects twice. A per-record handler never runs twice; a batch
  handler (database effects only) may run again, and that run rolls back (see :class:`_Pass`).
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from torghut_contracts import headers as h
from torghut_contracts.headers import MessageHeaders, derived_message_id, header_dict, id_header_problem
from torghut_contracts.topics import TopicSpec

from .commit_hooks import CommitHooks
from .db import IdempotencyStore, StoredOutput
from .dead_letters import PRODUCER_MAX_REQUEST_BYTES, dead_letter_copy
from .lanes import Gate, LaneTopic, RecordLanes, backoff_s
from .logs import correlation_id_var
from .metrics import ConsumerMetrics
from .progress import ReadProgress
from .settings import ServiceSettings

M = TypeVar("M", bound=BaseModel)

#: How long a batch subscriber's ``getmany`` waits for records; it returns as soon as one is
#: fetched, so this bounds only how often an idle subscriber wakes up (see :func:`_wait_for_records`).
_BATCH_WAIT_MS = 1000
#: FastStream writes ``content-type`` (empty for the bytes it is given) and its own ``correlation_id``
#: on every record: ours say ``application/json`` and carry ``x-correlation-id``, so both agree.
CONTENT_TYPE = "content-type"
JSON = "application/json"
#: The consumer of a service's per-record topics (its group: ``<service>.records``).
_RECORDS = "records"
log = structlog.get_logger("torghut.kafka")


@dataclass(frozen=True)
class Inbound(Generic[M]):
    """A consumed, validated message with where it came from."""

    payload: M
    headers: MessageHeaders
    topic: str
    partition: int
    offset: int
    key: str | None
    timestamp: datetime


@dataclass(frozen=True)
class Outgoing:
    """A message a handler wants published once its effects are committed.

    ``discriminator`` distinguishes two outputs of one input to the same topic and key; the output's
    message id is derived from the input's id, the topic, the key and the discriminator. An output
    whose identity belongs to an effect rather than to the input (a venue event, which another path
    may also publish) names it with ``message_id``, so consumers deduplicate across both paths.
    """

    spec: TopicSpec[Any]
    message: BaseModel
    key: str | None = None
    discriminator: str = ""
    correlation_id: str | None = None
    message_id: str | None = None


Handler = Callable[[Inbound[M], AsyncConnection], Awaitable[Sequence[Outgoing]]]


async def _flush(handler: Any, conn: AsyncConnection) -> None:
    """A handler may buffer its writes and expose ``async flush(conn)``: called once per transaction
    (per batch), inside it, before the messages are marked processed. A flush that raises fails the
    transaction like a handler that raises."""
    flush = getattr(handler, "flush", None)
    if flush is not None:
        await flush(conn)


def _discard(handler: Any) -> None:
    """The transaction rolled back: a handler exposing ``discard()`` forgets what it buffered or cached."""
    discard = getattr(handler, "discard", None)
    if discard is not None:
        discard()


def build_broker(settings: ServiceSettings, registry: CollectorRegistry,
                 tracer_provider: TracerProvider | None) -> KafkaBroker:
    middlewares: list[Any] = [KafkaPrometheusMiddleware(registry=registry, app_name=settings.service_name)]
    if tracer_provider is not None:
        middlewares.insert(0, KafkaTelemetryMiddleware(tracer_provider=tracer_provider))
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=False,  # Tansu has no InitProducerId; handlers are idempotent instead.
        max_request_size=PRODUCER_MAX_REQUEST_BYTES,  # dead-letter copies are cut to fit it
        graceful_timeout=settings.graceful_timeout_s,
        middlewares=middlewares,
        logger=None,
    )


class _HandlerFailed(Exception):
    """A handler raised during an optimistic pass over a batch."""


class _AlreadyProcessed(Exception):
    """The unchecked pass met a message that was processed before: its work is rolled back."""


class _Pass(enum.Enum):
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


@dataclass(frozen=True)
class _Unreadable:
    """A record that is not JSON or not the topic's schema: it goes to the DLQ, never to a handler."""

    record: Any
    key: str | None
    headers: dict[str, str]
    reason: str
    error: str


@dataclass
class _BatchResult:
    rewind: dict[TopicPartition, int] = field(default_factory=dict)
    publish: list[tuple[Span, list[StoredOutput]]] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    unreadable: list[_Unreadable] = field(default_factory=list)
    poisoned: list[tuple[Any, Any, str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class _Subscription:
    """One topic's handler in a consumer that reads several topics."""

    spec: TopicSpec[Any]
    handler: Handler[Any]
    group: str
    max_attempts: int
    lanes: LaneTopic
    claim_last: bool

    @property
    def batch(self) -> bool:
        return self.lanes.batch > 1


@dataclass
class _Attempts:
    """Failures per record, so a poison message is retried a bounded number of times."""

    counts: dict[tuple[str, int, int], int] = field(default_factory=dict)
    errors: dict[tuple[str, int, int], str] = field(default_factory=dict)
    """The last error of each failing record, for a dead-letter write that has to be tried again."""

    def fail(self, record: tuple[str, int, int], error: str = "") -> int:
        self.counts[record] = self.counts.get(record, 0) + 1
        self.errors[record] = error
        return self.counts[record]

    def failures(self, record: tuple[str, int, int]) -> int:
        return self.counts.get(record, 0)

    def clear(self, record: tuple[str, int, int]) -> None:
        self.counts.pop(record, None)
        self.errors.pop(record, None)


class KafkaWiring:
    """Registers idempotent, dead-lettering subscribers on one broker and publishes their outputs."""

    def __init__(self, settings: ServiceSettings, broker: KafkaBroker, engine: AsyncEngine,
                 metrics: ConsumerMetrics, tracer_provider: TracerProvider | None = None) -> None:
        self.settings = settings
        # The service's own provider: the global one is whichever runtime in the process set it first.
        self._tracer = trace.get_tracer("torghut.kafka", tracer_provider=tracer_provider)
        self.broker = broker
        self.engine = engine
        self.metrics = metrics
        self.store = IdempotencyStore(engine)
        self._attempts = _Attempts()
        self._pending: dict[str, dict[str, _Subscription]] = {}
        """Topics waiting for :meth:`register_consumers`: by consumer, then prefixed topic name."""
        self._lanes: list[RecordLanes] = []
        self._groups: dict[str, str] = {}
        """The Kafka group reading each subscribed (prefixed) topic, for :meth:`read_through`."""
        metrics.lanes_stalled.set_function(lambda: len(self.stalled_lanes()))
        metrics.records_held.set_function(lambda: sum(lanes.held() for lanes in self._lanes))
        self.progress = ReadProgress(settings.kafka_bootstrap_servers,
                                     start_at_earliest=settings.kafka_auto_offset_reset == "earliest")

    def topic(self, spec: TopicSpec[Any]) -> str:
        return self.settings.topic_name(spec.name)

    def consume(self, spec: TopicSpec[M], handler: Handler[M], *, group_id: str | None = None,
                max_attempts: int | None = None, workers: int = 1, batch: int | None = None,
                claim_last: bool = False, gate: Gate | None = None) -> None:
        """Subscribe ``handler`` to ``spec``'s topic.

        The service's topics share one consumer, which hands their records to lanes
        (:meth:`register_consumers`): one record (or one batch) at a time per topic, in order, the
        topics side by side.

        ``workers`` > 1 gives the topic a lane per partition, at most ``workers`` handling at once,
        so slow handlers (an LLM call) overlap across keys while each key keeps its order.

        ``batch`` = N handles up to N queued records per database transaction, for high-volume
        topics (TA signals). The handler still sees one message at a time, and every
        per-message guarantee holds: order per partition, bounded retries, DLQ, idempotency, trace.

        ``claim_last`` declares that running a per-record handler again for a record it processed
        before leaves nothing behind: it touches nothing but its transaction (the risk-firewall's
        state and verdicts), or it finds its own stored result before any outside call (the
        decision-client's decision per request). It then runs before its tracking record is
        claimed, the claim being the transaction's last statement; a record processed before (a
        redelivery, a replay) fails the claim, its work rolls back and the stored outputs are
        published again. One statement fewer per record.

        ``gate``: a switch flipped at run time (a feature flag). While it is closed the topic's records
        wait on the topic, neither handled, dead-lettered nor committed (:class:`~.lanes.Gate`); the
        other topics go on. They show in ``torghut_consumer_records_held`` and as consumer lag.
        """
        if batch is not None and workers > 1:
            raise ValueError("choose workers (slow handlers) or batch (many small messages), not both")
        topic = self.topic(spec)
        # The idempotency key names the service and the topic, never the prefix: a sandbox re-run
        # sharing the schema recognises what production already processed. The Kafka group does
        # carry the prefix, so a sandbox consumer never joins (and rebalances) production's group.
        group = group_id or f"{self.settings.service_name}.{spec.name}"
        attempts_allowed = max_attempts or self.settings.consumer_max_attempts
        lanes = LaneTopic.with_workers(workers, gate) if workers > 1 else LaneTopic(batch=batch or 1, gate=gate)
        # A group of its own (``group_id``) needs a consumer of its own.
        consumer = _RECORDS if group_id is None else f"group:{group_id}"
        self._pending.setdefault(consumer, {})[topic] = _Subscription(spec, handler, group, attempts_allowed,
                                                                      lanes, claim_last)

    async def read_through(self, spec: TopicSpec[Any], *, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until this service has handled every record on ``spec``'s topic
        as of now; False if it has not by then. For a handler about to act on state another consumer
        keeps (see :mod:`.progress`)."""
        topic = self.topic(spec)
        for name, subscriptions in self._pending.items():  # not registered yet
            if topic in subscriptions:
                self._groups[topic] = self._kafka_group(name, subscriptions)
        if topic not in self._groups:
            raise ValueError(f"{spec.name} is not consumed by this service")
        return await self.progress.read_through(topic, self._groups[topic], timeout_s=timeout_s)

    def register_consumers(self) -> None:
        """Subscribe the topics, all in one consumer (a topic with its own ``group_id`` apart).

        Each consumer is a fetch loop, and on a quiet topic every loop is a fetch per
        ``KAFKA_FETCH_MAX_WAIT_MS`` for the service and for the broker: a consumer per topic was
        most of a service's idle CPU. The shared consumer's group is ``<service>.records``
        (``<service>.<topic>`` if the service has one topic). Its records are handled in a lane
        per topic (:mod:`.lanes`), so the topics progress side by side as if each had a consumer of
        its own: a record being retried holds back only its own topic, and a handler may wait for
        another topic to be read through. Called once, before the broker starts.
        """
        consumers, self._pending = self._pending, {}
        for name, subscriptions in consumers.items():
            self._subscribe_lanes(name, self._kafka_group(name, subscriptions), subscriptions)

    def _kafka_group(self, name: str, subscriptions: dict[str, _Subscription]) -> str:
        if len(subscriptions) == 1:
            (only,) = subscriptions.values()
            return self.settings.topic_prefix + only.group
        return self.settings.topic_prefix + f"{self.settings.service_name}.{name}"

    def crashed_lanes(self) -> list[str]:
        """The lanes stopped by an unexpected error (see :attr:`RecordLanes.crashed`)."""
        return [name for lanes in self._lanes for name in lanes.crashed]

    def stalled_lanes(self) -> list[str]:
        """The lanes whose records keep failing (see :attr:`RecordLanes.stalled`)."""
        return sorted(name for lanes in self._lanes for name in lanes.stalled)

    async def drain(self, timeout_s: float) -> None:
        """Let every lane finish the record in hand (before the broker stops: it commits with it)."""
        await asyncio.gather(*(lanes.drain(timeout_s) for lanes in self._lanes))

    def _subscribe_lanes(self, name: str, kafka_group: str, subscriptions: dict[str, _Subscription]) -> None:
        self._groups.update(dict.fromkeys(subscriptions, kafka_group))

        async def handle(records: list[Any]) -> Sequence[Any]:
            sub = subscriptions[records[0].topic]
            if sub.batch:
                return await self._on_batch(sub.spec, records[0].topic, sub.group, sub.handler, records,
                                            sub.max_attempts)
            done = await self._on_record(sub.spec, records[0].topic, sub.group, sub.handler, records[0],
                                         sub.max_attempts, claim_last=sub.claim_last)
            return records if done else ()

        lanes = RecordLanes({topic: sub.lanes for topic, sub in subscriptions.items()}, handle,
                            self.settings.consumer_retry_backoff_ms / 1000,
                            stall_after=self.settings.consumer_max_attempts)
        self._lanes.append(lanes)

        context = self.broker.context

        async def subscriber() -> None:
            # The message comes from FastStream's context, not from a ``KafkaMessage`` parameter:
            # fast-depends resolves such a parameter with a synchronous call it runs in a worker
            # thread, a thread round trip for every fetch.
            message: KafkaMessage = context.get_local("message")
            lanes.accept(message.raw_message, cast(AIOKafkaConsumer, message.consumer))

        only = next(iter(subscriptions.values())) if len(subscriptions) == 1 else None
        subscriber.__name__ = "consume_" + (only.spec.name if only else name).replace(".", "_").replace("-", "_")
        registered = self.broker.subscriber(  # type: ignore[call-overload]
            *subscriptions,
            batch=True,  # whatever one fetch brought, handed to the lanes in one call
            max_records=self.settings.kafka_max_batch,
            batch_timeout_ms=_BATCH_WAIT_MS,
            ack_policy=AckPolicy.MANUAL,  # the lanes commit what they handled
            group_id=kafka_group,
            auto_offset_reset=self.settings.kafka_auto_offset_reset,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=self.settings.kafka_fetch_max_wait_ms,
            title=f"{self.settings.service_name}:{only.spec.name if only else name}",
            description="; ".join(sub.spec.description for sub in subscriptions.values()),
        )
        registered(subscriber)
        _wait_for_records(registered, self.settings.kafka_max_batch)

    async def _on_record(self, spec: TopicSpec[M], topic: str, group: str, handler: Handler[M],
                         record: Any, max_attempts: int, *, claim_last: bool = False) -> bool:
        """Handle one record in its lane; False: its handler failed, backed off, try it again."""
        where = (record.topic, record.partition, record.offset)
        started = time.perf_counter()
        inbound: Inbound[M] | None = await self._decode_or_dead_letter(spec, topic, group, record)
        if inbound is None:
            return True
        spent = self._attempts.failures(where)
        if spent >= max_attempts:  # failed before, and so did its dead-letter write: only that is left
            await self._dead_letter(spec, topic, group, record, inbound.key, header_dict(record.headers),
                                    "handler_error", self._attempts.errors.get(where, "unknown"), spent)
            self._attempts.clear(where)
            return True
        span = self._tracer.start_span(
            f"{topic} process", context=propagate.extract(header_dict(record.headers)), kind=SpanKind.CONSUMER)
        token = correlation_id_var.set(inbound.headers.correlation_id)
        try:
            with trace.use_span(span, end_on_exit=True):  # the outputs carry the record's trace
                outcome = await (self._process_then_claim if claim_last else self._process)(group, handler, inbound)
        except Exception as exc:
            failures = self._attempts.fail(where, repr(exc))
            if failures >= max_attempts:
                log.error("handler failed; dead-lettering", topic=topic, offset=record.offset,
                          partition=record.partition, attempts=failures, error=repr(exc))
                # Cleared only once written: if the write fails, the lane backs off and the next
                # pass goes straight to the dead-letter write.
                await self._dead_letter(spec, topic, group, record, inbound.key, header_dict(record.headers),
                                        "handler_error", repr(exc), failures)
                self._attempts.clear(where)
                return True
            self.metrics.messages.labels(topic=spec.name, outcome="retried").inc()
            log.warning("handler failed; retrying", topic=topic, offset=record.offset, partition=record.partition,
                        attempt=failures, max_attempts=max_attempts, error=repr(exc))
            await asyncio.sleep(backoff_s(self.settings.consumer_retry_backoff_ms / 1000, failures))
            return False
        finally:
            correlation_id_var.reset(token)
        self._attempts.clear(where)
        self.metrics.messages.labels(topic=spec.name, outcome=outcome).inc()
        self.metrics.handler_seconds.labels(topic=spec.name).observe(time.perf_counter() - started)
        return True

    def _decode(self, spec: TopicSpec[M], record: Any) -> Inbound[M] | _Unreadable:
        raw_headers = header_dict(record.headers)
        key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else record.key
        declared = raw_headers.get(h.SCHEMA)
        if declared is not None and declared != spec.name:
            # A v2 body on the v1 topic, or a record meant for another topic: never read it as this one.
            return _Unreadable(record, key, raw_headers, "schema_mismatch",
                               f"{h.SCHEMA} {declared[:200]!r} is not {spec.name!r}, the schema of this topic")
        problem = id_header_problem(raw_headers)
        if problem is not None:
            return _Unreadable(record, key, raw_headers, "headers", problem)
        try:
            payload = spec.decode(record.value or b"")
        except ValidationError as exc:
            reason = "malformed" if any(e["type"] == "json_invalid" for e in exc.errors()) else "schema"
            return _Unreadable(record, key, raw_headers, reason, _summarise(exc))
        fallback_id = f"{record.topic}/{record.partition}/{record.offset}"
        return Inbound(
            payload=payload,
            headers=MessageHeaders.parse(raw_headers, fallback_id=fallback_id, schema=spec.name),
            topic=record.topic, partition=record.partition, offset=record.offset, key=key,
            timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC) if record.timestamp else datetime.now(UTC),
        )

    async def _decode_or_dead_letter(self, spec: TopicSpec[M], topic: str, group: str,
                                     record: Any) -> Inbound[M] | None:
        """The record as a validated message, or ``None`` once it went to the DLQ as unreadable."""
        decoded: Inbound[M] | _Unreadable = self._decode(spec, record)
        if isinstance(decoded, _Unreadable):
            await self._dead_letter(spec, topic, group, record, decoded.key, decoded.headers, decoded.reason,
                                    decoded.error, 1)
            return None
        return decoded

    async def _on_batch(self, spec: TopicSpec[M], topic: str, group: str, handler: Handler[M],
                        records: list[Any], max_attempts: int) -> list[Any]:
        """Handle a lane's records in one transaction; return those done with.

        A failing record stops its own partition (later records of that partition wait for it, so
        order holds) while other partitions go on; it and the rest of its partition are offered
        again after the backoff. If the database or the broker fails, nothing is done (the lane
        offers the records again).
        """
        started = time.perf_counter()
        work: list[tuple[TopicPartition, Any, Inbound[M] | _Unreadable]] = [
            (TopicPartition(r.topic, r.partition), r, self._decode(spec, r)) for r in records]
        try:
            mode = _Pass.UNCHECKED
            while True:  # at most three passes: CAREFUL raises neither
                hooks = CommitHooks()  # a pass that rolls back forgets what its handlers registered
                try:
                    with hooks:
                        result = await self._run_batch(spec, topic, group, handler, work, max_attempts, mode, hooks)
                    break
                except _AlreadyProcessed:
                    mode = _Pass.CHECKED
                except _HandlerFailed:
                    mode = _Pass.CAREFUL
                _discard(handler)
            hooks.run()
            await self._publish_batch(spec, topic, group, result)
        except Exception:
            _discard(handler)
            raise
        self.metrics.handler_seconds.labels(topic=spec.name).observe(time.perf_counter() - started)
        if result.rewind:
            await asyncio.sleep(self.settings.consumer_retry_backoff_ms / 1000)
        return [record for tp, record, _ in work if record.offset < result.rewind.get(tp, record.offset + 1)]

    async def _run_batch(self, spec: TopicSpec[M], topic: str, group: str, handler: Handler[M],
                         work: list[tuple[TopicPartition, Any, Inbound[M] | _Unreadable]], max_attempts: int,
                         mode: _Pass, hooks: CommitHooks) -> _BatchResult:
        """One transaction over the batch, records in order; a partition stops at its first failure."""
        result = _BatchResult()
        careful = mode is _Pass.CAREFUL
        ids = [item.headers.message_id for _, _, item in work if isinstance(item, Inbound)]
        async with self.engine.begin() as conn:
            stored: dict[str, list[StoredOutput]] = {}
            if mode is not _Pass.UNCHECKED:
                stored = await self.store.previous_outputs_many(conn, group, ids)
            fresh: list[tuple[Inbound[M], list[StoredOutput]]] = []
            for tp, record, item in work:
                if tp in result.rewind:
                    continue
                if isinstance(item, _Unreadable):
                    result.unreadable.append(item)
                    continue
                span = self._tracer.start_span(f"{topic} process", kind=SpanKind.CONSUMER,
                                               context=propagate.extract(header_dict(record.headers)))
                message_id = item.headers.message_id
                where = (record.topic, record.partition, record.offset)
                if message_id not in stored and self._attempts.failures(where) >= max_attempts:
                    span.end()  # failed before, and so did its dead-letter write: only that is left
                    result.poisoned.append((record, item, self._attempts.errors.get(where, "unknown"),
                                            self._attempts.failures(where)))
                    continue
                if message_id in stored:
                    outcome, outputs = "duplicate", stored[message_id]
                else:
                    token = correlation_id_var.set(item.headers.correlation_id)
                    try:
                        with trace.use_span(span):
                            if careful:
                                mark = hooks.mark()
                                try:
                                    async with conn.begin_nested():
                                        outgoing = await handler(item, conn)
                                        await _flush(handler, conn)
                                except BaseException:
                                    _discard(handler)
                                    hooks.forget_since(mark)
                                    raise
                            else:
                                outgoing = await handler(item, conn)
                        outputs = [self._render(item, out, index) for index, out in enumerate(outgoing)]
                        outcome = "processed"
                    except Exception as exc:
                        span.record_exception(exc)
                        span.end()
                        if not careful:
                            for pending, _ in result.publish:
                                pending.end()
                            raise _HandlerFailed from exc
                        where = (record.topic, record.partition, record.offset)
                        failures = self._attempts.fail(where, repr(exc))
                        if failures >= max_attempts:  # cleared once its dead letter is written
                            result.poisoned.append((record, item, repr(exc), failures))
                        else:
                            self.metrics.messages.labels(topic=spec.name, outcome="retried").inc()
                            log.warning("handler failed; retrying", topic=topic, offset=record.offset,
                                        partition=record.partition, attempt=failures, error=repr(exc))
                            result.rewind[tp] = record.offset
                        continue
                    finally:
                        correlation_id_var.reset(token)
                    self._attempts.clear((record.topic, record.partition, record.offset))
                    stored[message_id] = outputs
                    fresh.append((item, outputs))
                result.publish.append((span, outputs))
                result.outcomes.append(outcome)
            if not careful:
                try:
                    await _flush(handler, conn)
                except Exception as exc:
                    for pending, _ in result.publish:
                        pending.end()
                    raise _HandlerFailed from exc
            if mode is _Pass.UNCHECKED:
                claimed = await self.store.claim_processed_many(conn, group, fresh)
                if claimed < len(fresh):
                    for pending, _ in result.publish:
                        pending.end()
                    raise _AlreadyProcessed
            else:
                await self.store.mark_processed_many(conn, group, fresh)
            try:
                await self._dead_letter_batch(spec, topic, group, result)
            except BaseException:
                for pending, _ in result.publish:
                    pending.end()
                raise
        return result

    async def _publish_batch(self, spec: TopicSpec[M], topic: str, group: str, result: _BatchResult) -> None:
        sent: list[tuple[StoredOutput, asyncio.Future[Any]]] = []
        for span, outputs in result.publish:
            with trace.use_span(span, end_on_exit=True):  # each output carries its own message's trace
                sent.extend([(output, await self._send(output)) for output in outputs])
        await self._confirm(sent)
        for outcome in result.outcomes:
            self.metrics.messages.labels(topic=spec.name, outcome=outcome).inc()

    async def _dead_letter_batch(self, spec: TopicSpec[M], topic: str, group: str, result: _BatchResult) -> None:
        """Write a batch's dead letters before its transaction commits: a failed write rolls the batch
        back, so nothing of it was published and the retry republishes nothing (a write after the
        commit would, failing, have the whole batch handled and its outputs sent again)."""
        for bad in result.unreadable:
            await self._dead_letter(spec, topic, group, bad.record, bad.key, bad.headers, bad.reason, bad.error, 1)
        for record, inbound, error, failures in result.poisoned:
            log.error("handler failed; dead-lettering", topic=topic, offset=record.offset,
                      partition=record.partition, attempts=failures, error=error)
            await self._dead_letter(spec, topic, group, record, inbound.key, header_dict(record.headers),
                                    "handler_error", error, failures)
            self._attempts.clear((record.topic, record.partition, record.offset))

    async def _process(self, group: str, handler: Handler[M], inbound: Inbound[M]) -> str:
        hooks = CommitHooks()
        try:
            with hooks:
                async with self.engine.begin() as conn:
                    previous = await self.store.previous_outputs(conn, group, inbound.headers.message_id)
                    if previous is None:
                        outgoing = await handler(inbound, conn)
                        await _flush(handler, conn)
                        outputs = [self._render(inbound, item, index) for index, item in enumerate(outgoing)]
                        await self.store.mark_processed(conn, group, inbound.headers.message_id,
                                                        topic=inbound.topic, partition=inbound.partition,
                                                        offset=inbound.offset, outputs=outputs)
                    else:
                        outputs = previous
        except BaseException:
            _discard(handler)
            raise
        hooks.run()
        await self.publish_all(outputs)
        return "processed" if previous is None else "duplicate"

    async def _process_then_claim(self, group: str, handler: Handler[M], inbound: Inbound[M]) -> str:
        """``_process`` for a ``claim_last`` handler: handle first, claim the tracking record last."""
        hooks = CommitHooks()
        try:
            with hooks:
                async with self.engine.begin() as conn:
                    outgoing = await handler(inbound, conn)
                    await _flush(handler, conn)
                    outputs = [self._render(inbound, item, index) for index, item in enumerate(outgoing)]
                    if not await self.store.claim_processed_many(conn, group, [(inbound, outputs)]):
                        raise _AlreadyProcessed
        except _AlreadyProcessed:
            _discard(handler)
            async with self.engine.connect() as conn:
                previous = await self.store.previous_outputs(conn, group, inbound.headers.message_id)
            assert previous is not None, "a claim fails only on a stored tracking record"
            await self.publish_all(previous)
            return "duplicate"
        except BaseException:
            _discard(handler)
            raise
        hooks.run()
        await self.publish_all(outputs)
        return "processed"

    def _render(self, inbound: Inbound[Any], item: Outgoing, index: int) -> StoredOutput:
        key = item.key if item.key is not None else item.spec.key(item.message)
        discriminator = item.discriminator or str(index)
        message_id = item.message_id or derived_message_id(inbound.headers.message_id, item.spec.name, key,
                                                           discriminator)
        headers = MessageHeaders.new(item.spec.name, message_id=message_id, cause=inbound.headers,
                                     correlation_id=item.correlation_id)
        # Stored without the topic prefix: a republish goes to the topics of whoever republishes.
        return StoredOutput(topic=item.spec.name, key=key, value=item.spec.encode(item.message).decode(),
                            headers=_without_trace(headers.as_dict()))

    async def publish_all(self, outputs: Sequence[StoredOutput]) -> None:
        """Hand every output to the producer in order, then wait for all the acknowledgements.

        One round trip for a message's outputs instead of one each; per partition the order is the
        order of ``outputs``. A failed send raises here, before the offset is committed, so the
        message is redelivered and its stored outputs are published again.
        """
        await self._confirm([(output, await self._send(output)) for output in outputs])

    async def publish_stored(self, output: StoredOutput) -> None:
        await self.publish_all([output])

    async def _send(self, output: StoredOutput) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = await self.broker.publish(
            output.value.encode(), topic=self.settings.topic_name(output.topic),
            key=output.key.encode() if output.key is not None else None,
            headers={CONTENT_TYPE: JSON, **output.headers}, no_confirm=True,
            correlation_id=output.headers.get(h.CORRELATION_ID))
        return future

    async def _confirm(self, sent: Sequence[tuple[StoredOutput, asyncio.Future[Any]]]) -> None:
        for output, acknowledged in sent:
            await acknowledged
            self.metrics.published.labels(topic=output.topic).inc()

    async def publish(self, spec: TopicSpec[M], message: M, *, key: str | None = None,
                      headers: MessageHeaders | None = None) -> MessageHeaders:
        """Publish outside a handler (an HTTP request, a timer): a fresh message id unless given."""
        headers = headers or MessageHeaders.new(spec.name)
        key = key if key is not None else spec.key(message)
        await self.publish_stored(StoredOutput(topic=spec.name, key=key, value=spec.encode(message).decode(),
                                               headers=_without_trace(headers.as_dict())))
        return headers

    async def _dead_letter(self, spec: TopicSpec[Any], topic: str, group: str, record: Any, key: str | None,
                           raw_headers: dict[str, str], reason: str, error: str, attempts: int) -> None:
        copy = dead_letter_copy(record.value or b"", key.encode() if key is not None else None, raw_headers, {
            h.DLQ_REASON: reason,
            h.DLQ_ERROR: error,
            h.DLQ_ORIGINAL_TOPIC: record.topic,
            h.DLQ_ORIGINAL_PARTITION: str(record.partition),
            h.DLQ_ORIGINAL_OFFSET: str(record.offset),
            h.DLQ_ATTEMPTS: str(attempts),
            h.DLQ_CONSUMER: self._groups.get(topic, group),  # the Kafka group, as `torghut status` lists it
        })
        await self.broker.publish(copy.value, topic=topic + ".dlq", key=copy.key, headers=copy.headers,
                                  correlation_id=copy.headers.get(h.CORRELATION_ID))
        self.metrics.dead_lettered.labels(topic=spec.name, reason=reason).inc()
        self.metrics.messages.labels(topic=spec.name, outcome="dead_lettered").inc()
        log.warning("dead-lettered", topic=topic, partition=record.partition, offset=record.offset,
                    reason=reason, error=error[:500])


def _wait_for_records(subscriber: Any, max_records: int) -> None:
    """Make a FastStream batch subscriber block until records are fetched instead of polling.

    FastStream's batch loop calls ``getmany(timeout_ms=batch_timeout_ms)`` and, finding nothing,
    sleeps ``batch_timeout_ms`` before the next call: a record fetched during that sleep waits for
    it. A short timeout keeps that wait short but wakes an idle subscriber hundreds of times a
    second (a tenth of the idle CPU of every signal consumer); a long one delays records by up to
    itself. ``getmany`` already returns the moment a record is fetched, so the loop needs no sleep:
    only an empty answer that came back early (a rebalance, a closing consumer) waits out the rest
    of the timeout, so nothing spins.
    """
    wait_s = subscriber.batch_timeout_ms / 1000

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[Any, ...]:
        started = time.monotonic()
        fetched = await consumer.getmany(timeout_ms=subscriber.batch_timeout_ms, max_records=max_records)
        if not fetched:
            await asyncio.sleep(max(0.0, wait_s - (time.monotonic() - started)))
            return ()
        return tuple(record for records in fetched.values() for record in records)

    subscriber.get_msg = get_msg


def _without_trace(headers: dict[str, str]) -> dict[str, str]:
    # The telemetry middleware writes the live traceparent on publish; a stale one must not win.
    return {k: v for k, v in headers.items() if k != h.TRACEPARENT}


def _summarise(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:10]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "<body>"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
