"""The service's Kafka wiring: what it consumes and produces, declared on one FastStream broker.

A service reads all its topics with one consumer (a topic with a group of its own apart), whose
records are handled in a lane per topic (:mod:`..lanes`). It commits by hand, every 100 ms, only
past records whose handler and the publishes it awaits returned.

Each record goes through :class:`.record.RecordTransaction` (a per-record topic) or
:class:`.batch.BatchTransaction` (a batch topic): a record that is not the topic's message goes to
``<topic>.dlq``, a handler that raises is retried in place and then dead-lettered, and the effects
commit with a tracking record so a redelivery republishes instead of applying twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.topics import TopicSpec

from ..db import IdempotencyStore, StoredOutput
from ..lane_topics import Gate, LaneTopic
from ..lanes import RecordLanes
from ..metrics import ConsumerMetrics
from ..progress import ReadProgress
from ..settings import ServiceSettings
from .batch import BatchTransaction
from .consuming import Attempts, FetchTuning, Subscription, Tools
from .dead_lettering import DeadLetters
from .deferred import DeferredOutputs
from .fetching import FetchLoop
from .messages import Handler
from .publishing import Publishers
from .record import RecordTransaction

RECORDS = "records"
"""The consumer of a service's per-record topics (its group: ``<service>.records``)."""


class KafkaWiring:
    """Declares the service's subscribers and publishers on one broker and runs their records."""

    def __init__(self, settings: ServiceSettings, broker: KafkaBroker, engine: AsyncEngine,
                 metrics: ConsumerMetrics, tracer_provider: TracerProvider | None = None) -> None:
        self.settings = settings
        self.broker = broker
        self.engine = engine
        self.metrics = metrics
        self.store = IdempotencyStore(engine)
        self.publishers = Publishers(settings, broker, metrics)
        self._groups: dict[str, str] = {}
        """The Kafka group reading each subscribed (prefixed) topic."""
        # The service's own provider: the global one is whichever runtime in the process set it first.
        tracer = trace.get_tracer("torghut.kafka", tracer_provider=tracer_provider)
        self.tools = Tools(settings, engine, self.store, tracer, metrics, Attempts(), self.publishers,
                           DeadLetters(self.publishers, metrics, self._groups))
        self._pending: dict[str, dict[str, Subscription]] = {}
        """Topics waiting for :meth:`register_consumers`: by consumer, then prefixed topic name."""
        self._consumed: dict[str, TopicSpec[Any]] = {}
        """Every consumed topic's spec, by prefixed topic name."""
        self._lanes: list[RecordLanes] = []
        self._fetches: list[FetchLoop] = []
        metrics.lanes_stalled.set_function(lambda: len(self.stalled_lanes()))
        metrics.records_held.set_function(lambda: sum(lanes.held() for lanes in self._lanes))
        self.progress = ReadProgress(settings.kafka_bootstrap_servers,
                                     start_at_earliest=settings.kafka_auto_offset_reset == "earliest")

    def topic(self, spec: TopicSpec[Any]) -> str:
        return self.settings.topic_name(spec.name)

    def consumed(self) -> list[TopicSpec[Any]]:
        return list(self._consumed.values())

    def produces(self, *specs: TopicSpec[Any]) -> None:
        """Declare the topics this service publishes to (handler outputs and :meth:`publish`)."""
        for spec in specs:
            self.publishers.declare(spec, title=f"{self.settings.service_name}:send:{spec.name}")

    def consume(self, spec: TopicSpec[Any], handler: Handler[Any], *, group_id: str | None = None,
                max_attempts: int | None = None, workers: int = 1, batch: int | None = None,
                claim_last: bool = False, group_commit: bool = False, gate: Gate | None = None,
                fetch: FetchTuning | None = None) -> None:
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

        ``group_commit`` handles the records a fetch brought for a per-record topic (decisions,
        orders) like a batch topic's, up to ``CONSUMER_GROUP_COMMIT`` in one transaction, published
        and committed once: a burst costs one commit instead of one each, and a lone record is
        handled at once as before. The handler must be one ``claim_last`` allows (running it again
        after a rollback leaves nothing behind), and sees its records in order, in one transaction:
        a row lock it takes is held until the group commits.

        ``gate``: a switch flipped at run time (a feature flag). While it is closed the topic's records
        wait on the topic, neither handled, dead-lettered nor committed (:class:`~..lane_topics.Gate`); the
        other topics go on. They show in ``torghut_consumer_records_held`` and as consumer lag.

        ``fetch`` tunes how long the broker may hold a fetch for the topic (:class:`FetchTuning`); only
        for a topic with a ``group_id``, whose consumer is its own.
        """
        if fetch is not None and group_id is None:
            raise ValueError("fetch tuning needs a consumer of the topic's own: give it a group_id")
        if group_commit:
            if batch is not None:
                raise ValueError("group_commit sets the batch size (CONSUMER_GROUP_COMMIT): give one or the other")
            batch = self.settings.consumer_group_commit
        if batch is not None and workers > 1:
            raise ValueError("choose workers (slow handlers) or batch (many small messages), not both")
        # The idempotency key names the service and the topic, never the prefix: a sandbox re-run
        # sharing the schema recognises what production already processed. The Kafka group does
        # carry the prefix, so a sandbox consumer never joins (and rebalances) production's group.
        group = group_id or f"{self.settings.service_name}.{spec.name}"
        lanes = LaneTopic.with_workers(workers, gate) if workers > 1 else LaneTopic(batch=batch or 1, gate=gate)
        consumer = RECORDS if group_id is None else f"group:{group_id}"  # its own group, its own consumer
        self._pending.setdefault(consumer, {})[self.topic(spec)] = Subscription(
            spec, handler, group, max_attempts or self.settings.consumer_max_attempts, lanes, claim_last, fetch)
        self.publishers.declare_dead_letters(spec, title=f"{self.settings.service_name}:send:{spec.name}.dlq")
        self._consumed[self.topic(spec)] = spec

    def deferred_outputs(self, spec: TopicSpec[Any]) -> DeferredOutputs:
        """The outputs a worker records for ``spec``'s messages after their handler claimed the work
        (:mod:`.deferred`); ``spec`` must be consumed (:meth:`consume`) first."""
        topic = self.topic(spec)
        for subscriptions in self._pending.values():
            if topic in subscriptions:
                return DeferredOutputs(spec, subscriptions[topic].group, self.publishers, self.tools.dead_letters)
        raise ValueError(f"{spec.name} is not consumed by this service (consume it before deferring its outputs)")

    async def read_through(self, spec: TopicSpec[Any], *, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until this service has handled every record on ``spec``'s topic
        as of now; False if it has not by then. For a handler about to act on state another consumer
        keeps (see :mod:`..progress`)."""
        topic = self.topic(spec)
        for name, subscriptions in self._pending.items():  # not registered yet
            if topic in subscriptions:
                self._groups[topic] = self._kafka_group(name, subscriptions)
        if topic not in self._groups:
            raise ValueError(f"{spec.name} is not consumed by this service")
        return await self.progress.read_through(topic, self._groups[topic], timeout_s=timeout_s)

    def register_consumers(self) -> None:
        """Declare the consumers, all topics in one (a topic with its own ``group_id`` apart).

        Each consumer is a fetch loop, and on a quiet topic every loop is a fetch per
        ``KAFKA_FETCH_MAX_WAIT_MS`` for the service and for the broker: a consumer per topic was
        most of a service's idle CPU. The shared consumer's group is ``<service>.records``
        (``<service>.<topic>`` if the service has one topic). Its records are handled in a lane
        per topic, so the topics progress side by side as if each had a consumer of its own: a
        record being retried holds back only its own topic, and a handler may wait for another
        topic to be read through. Called once, before the broker starts.
        """
        consumers, self._pending = self._pending, {}
        for name, subscriptions in consumers.items():
            self._declare_consumer(name, self._kafka_group(name, subscriptions), subscriptions)

    def start_fetching(self) -> None:
        """Once the broker (and so each declared consumer) has started."""
        for fetch in self._fetches:
            fetch.start()

    async def stop_fetching(self) -> None:
        await asyncio.gather(*(fetch.stop() for fetch in self._fetches))

    def _kafka_group(self, name: str, subscriptions: dict[str, Subscription]) -> str:
        if len(subscriptions) == 1:
            (only,) = subscriptions.values()
            return self.settings.topic_prefix + only.group
        return self.settings.topic_prefix + f"{self.settings.service_name}.{name}"

    def crashed_lanes(self) -> list[str]:
        """The lanes (and fetch loops) stopped by an unexpected error (see :attr:`RecordLanes.crashed`)."""
        return ([name for lanes in self._lanes for name in lanes.crashed]
                + [f"fetch {fetch.name}" for fetch in self._fetches if fetch.crashed])

    def stalled_lanes(self) -> list[str]:
        """The lanes whose records keep failing (see :attr:`RecordLanes.stalled`)."""
        return sorted(name for lanes in self._lanes for name in lanes.stalled)

    async def drain(self, timeout_s: float) -> None:
        """Let every lane finish the record in hand (before the broker stops: it commits with it)."""
        await asyncio.gather(*(lanes.drain(timeout_s) for lanes in self._lanes))

    def _declare_consumer(self, name: str, kafka_group: str, subscriptions: dict[str, Subscription]) -> None:
        self._groups.update(dict.fromkeys(subscriptions, kafka_group))
        batches = {topic: BatchTransaction(self.tools, sub) for topic, sub in subscriptions.items() if sub.batch}
        singles = {topic: RecordTransaction(self.tools, sub) for topic, sub in subscriptions.items() if not sub.batch}

        async def handle(records: list[Any]) -> Sequence[Any]:
            topic = records[0].topic
            if topic in batches:
                return await batches[topic].run(records)
            return records if await singles[topic].run(records[0]) else ()

        lanes = RecordLanes({topic: sub.lanes for topic, sub in subscriptions.items()}, handle,
                            self.tools.retry_backoff_s, stall_after=self.settings.consumer_max_attempts)
        self._lanes.append(lanes)
        only = next(iter(subscriptions.values())) if len(subscriptions) == 1 else None
        fetch = (only.fetch if only is not None and only.fetch is not None
                 else FetchTuning(self.settings.kafka_fetch_max_wait_ms, self.settings.kafka_fetch_min_bytes))
        title = f"{self.settings.service_name}:receive:{only.spec.name if only else name}"
        subscriber = self.broker.subscriber(  # type: ignore[call-overload]
            *subscriptions, batch=True, max_records=self.settings.kafka_max_batch,
            ack_policy=AckPolicy.MANUAL,  # the lanes commit what they handled
            group_id=kafka_group, auto_offset_reset=self.settings.kafka_auto_offset_reset,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=fetch.max_wait_ms, fetch_min_bytes=fetch.min_bytes, title=title,
            description="; ".join(sub.spec.description for sub in subscriptions.values()))
        self._fetches.append(FetchLoop(title, subscriber, lanes, self.settings.kafka_max_batch))

    async def publish_all(self, outputs: Sequence[StoredOutput]) -> None:
        await self.publishers.publish_all(outputs)

    async def publish(self, spec: TopicSpec[Any], message: BaseModel, *, key: str | None = None,
                      headers: MessageHeaders | None = None) -> MessageHeaders:
        """Publish outside a handler (an HTTP request, a timer): a fresh message id unless given."""
        return await self.publishers.publish(spec, message, key=key, headers=headers)
