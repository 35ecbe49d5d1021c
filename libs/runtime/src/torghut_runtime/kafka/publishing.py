"""The service's declared publishers: every topic it produces, its dead-letter topics, and the sends.

A service says which topics it produces (:meth:`Publishers.declare`) before it starts. Each becomes
a FastStream publisher carrying the topic's contract as its schema, so the AsyncAPI document lists
it, and a handler output for a topic nobody declared fails inside the handler's transaction
(retried, then dead-lettered) instead of being published unannounced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker
from pydantic import BaseModel
from torghut_contracts import headers as h
from torghut_contracts.headers import MessageHeaders, derived_message_id
from torghut_contracts.topics import DLQ_SUFFIX, TopicSpec

from ..db import StoredOutput
from ..metrics import ConsumerMetrics
from ..settings import ServiceSettings
from .messages import Inbound, Outgoing

#: FastStream writes ``content-type`` (empty for the bytes it is given) and its own ``correlation_id``
#: on every record: ours say ``application/json`` and carry ``x-correlation-id``, so both agree.
CONTENT_TYPE = "content-type"
JSON = "application/json"


class UndeclaredTopic(LookupError):
    """A publish to a topic the service did not declare (``ServiceRuntime.produces``)."""


class Publishers:
    def __init__(self, settings: ServiceSettings, broker: KafkaBroker, metrics: ConsumerMetrics) -> None:
        self.settings = settings
        self.broker = broker
        self.metrics = metrics
        self._by_topic: dict[str, Any] = {}
        """FastStream publishers by unprefixed topic name (what stored outputs carry)."""

    def declare(self, spec: TopicSpec[Any], *, title: str) -> None:
        """Declare ``spec``'s topic as one this service produces (idempotent)."""
        if spec.name not in self._by_topic:
            self._by_topic[spec.name] = self.broker.publisher(
                self.settings.topic_name(spec.name), schema=spec.model, title=title,
                description=spec.description)

    def declare_dead_letters(self, spec: TopicSpec[Any], *, title: str) -> None:
        """Declare the dead-letter topic of a consumed topic: a copy of the bad record, reason in headers."""
        name = spec.name + DLQ_SUFFIX
        if name not in self._by_topic:
            self._by_topic[name] = self.broker.publisher(
                self.settings.topic_name(name), title=title,
                description=f"Records of {spec.name} that could not be handled: the original bytes, and "
                            "x-dlq-reason, x-dlq-error, x-dlq-original-* headers.")

    @property
    def topics(self) -> list[str]:
        return sorted(self._by_topic)

    def _publisher(self, topic: str) -> Any:
        try:
            return self._by_topic[topic]
        except KeyError:
            raise UndeclaredTopic(f"{self.settings.service_name} publishes to {topic}, which it did not declare; "
                                  f"add it to the service's runtime.produces(...)") from None

    def render(self, inbound: Inbound[Any], item: Outgoing, index: int) -> StoredOutput:
        """A handler's output as it is stored with the input's tracking record and published."""
        return self.render_caused(inbound.headers, item, index)

    def render_caused(self, cause: MessageHeaders, item: Outgoing, index: int) -> StoredOutput:
        """The ``index``-th output of the message with headers ``cause``: its message id derives from theirs."""
        self._publisher(item.spec.name)
        key = item.key if item.key is not None else item.spec.key(item.message)
        discriminator = item.discriminator or str(index)
        message_id = item.message_id or derived_message_id(cause.message_id, item.spec.name, key, discriminator)
        headers = MessageHeaders.new(item.spec.name, message_id=message_id, cause=cause,
                                     correlation_id=item.correlation_id)
        # Stored without the topic prefix: a republish goes to the topics of whoever republishes.
        return StoredOutput(topic=item.spec.name, key=key, value=item.spec.encode(item.message).decode(),
                            headers=without_trace(headers.as_dict()))

    async def publish_all(self, outputs: Sequence[StoredOutput]) -> None:
        """Hand every output to the producer in order, then wait for all the acknowledgements.

        One round trip for a message's outputs instead of one each; per partition the order is the
        order of ``outputs``. A failed send raises here, before the offset is committed, so the
        message is redelivered and its stored outputs are published again.
        """
        await self.confirm([(output, await self.send(output)) for output in outputs])

    async def send(self, output: StoredOutput) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = await self._publisher(output.topic).publish(
            output.value.encode(), key=output.key.encode() if output.key is not None else None,
            headers={CONTENT_TYPE: JSON, **output.headers}, no_confirm=True,
            correlation_id=output.headers.get(h.CORRELATION_ID))
        return future

    async def confirm(self, sent: Sequence[tuple[StoredOutput, asyncio.Future[Any]]]) -> None:
        for output, acknowledged in sent:
            await acknowledged
            self.metrics.published.labels(topic=output.topic).inc()

    async def publish(self, spec: TopicSpec[Any], message: BaseModel, *, key: str | None = None,
                      headers: MessageHeaders | None = None) -> MessageHeaders:
        """Publish outside a handler (an HTTP request, a timer): a fresh message id unless given."""
        self._publisher(spec.name)
        headers = headers or MessageHeaders.new(spec.name)
        key = key if key is not None else spec.key(message)
        await self.publish_all([StoredOutput(topic=spec.name, key=key, value=spec.encode(message).decode(),
                                             headers=without_trace(headers.as_dict()))])
        return headers

    async def publish_dead_letter(self, spec: TopicSpec[Any], value: bytes, *, key: bytes | None,
                                  headers: dict[str, str]) -> None:
        await self._publisher(spec.name + DLQ_SUFFIX).publish(value, key=key, headers=headers,
                                                              correlation_id=headers.get(h.CORRELATION_ID))


def without_trace(headers: dict[str, str]) -> dict[str, str]:
    # The telemetry middleware writes the live traceparent on publish; a stale one must not win.
    return {k: v for k, v in headers.items() if k != h.TRACEPARENT}
