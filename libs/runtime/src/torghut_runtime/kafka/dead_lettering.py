"""Dead letters: a record that cannot be handled goes to ``<topic>.dlq`` with why, and the partition moves on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import structlog
from torghut_contracts import headers as h
from torghut_contracts.topics import TopicSpec

from ..dead_letters import dead_letter_copy
from ..metrics import ConsumerMetrics
from .publishing import Publishers

log = structlog.get_logger("torghut.kafka")


class Origin(NamedTuple):
    """Where a dead-lettered message was read: the ``x-dlq-original-*`` headers."""

    topic: str
    partition: int
    offset: int


class DeadLetters:
    def __init__(self, publishers: Publishers, metrics: ConsumerMetrics, kafka_groups: Mapping[str, str]) -> None:
        self.publishers = publishers
        self.metrics = metrics
        self.kafka_groups = kafka_groups
        """The Kafka group reading each (prefixed) topic: what ``x-dlq-consumer`` names, as `torghut status` does."""

    async def write(self, spec: TopicSpec[Any], record: Any, *, key: str | None, raw_headers: dict[str, str],
                    reason: str, error: str, attempts: int, group: str) -> None:
        """Publish the record's copy (cut to fit the broker, :mod:`..dead_letters`) with the reason headers."""
        await self.write_copy(spec, record.value or b"", key=key, raw_headers=raw_headers,
                              origin=Origin(record.topic, record.partition, record.offset), reason=reason,
                              error=error, attempts=attempts, group=group)

    async def write_copy(self, spec: TopicSpec[Any], value: bytes, *, key: str | None, raw_headers: dict[str, str],
                         origin: Origin | None, reason: str, error: str, attempts: int, group: str) -> None:
        """Publish a message's copy; ``origin``: the record it was read from, when known."""
        where = {h.DLQ_ORIGINAL_TOPIC: origin.topic, h.DLQ_ORIGINAL_PARTITION: str(origin.partition),
                 h.DLQ_ORIGINAL_OFFSET: str(origin.offset)} if origin is not None else {}
        topic = origin.topic if origin is not None else spec.name
        copy = dead_letter_copy(value, key.encode() if key is not None else None, raw_headers, {
            h.DLQ_REASON: reason,
            h.DLQ_ERROR: error,
            **where,
            h.DLQ_ATTEMPTS: str(attempts),
            h.DLQ_CONSUMER: self.kafka_groups.get(topic, group),
        })
        await self.publishers.publish_dead_letter(spec, copy.value, key=copy.key, headers=copy.headers)
        self.metrics.dead_lettered.labels(topic=spec.name, reason=reason).inc()
        self.metrics.messages.labels(topic=spec.name, outcome="dead_lettered").inc()
        log.warning("dead-lettered", topic=topic, partition=origin.partition if origin else None,
                    offset=origin.offset if origin else None, reason=reason, error=error[:500])
