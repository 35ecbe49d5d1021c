"""What the record and batch transactions share: one subscription's settings and the service's tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Tracer
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts.topics import TopicSpec

from ..db import IdempotencyStore
from ..lane_topics import LaneTopic
from ..metrics import ConsumerMetrics
from ..settings import ServiceSettings
from .dead_lettering import DeadLetters
from .messages import Handler
from .publishing import Publishers

RecordId = tuple[str, int, int]
"""(topic, partition, offset)"""


@dataclass(frozen=True)
class FetchTuning:
    """How long the broker may hold a fetch of a consumer of its own, and for how many bytes.

    The default (``KAFKA_FETCH_MAX_WAIT_MS``, ``KAFKA_FETCH_MIN_BYTES`` = 1) answers as soon as a
    record is there. A topic nobody waits on record by record (the operator console's signals,
    shown once a second) can let the broker gather a larger batch: fewer, larger transactions.
    """

    max_wait_ms: int
    min_bytes: int


@dataclass(frozen=True)
class Subscription:
    """One topic's handler in a consumer that reads several topics."""

    spec: TopicSpec[Any]
    handler: Handler[Any]
    group: str
    """The idempotency key's consumer name: ``<service>.<topic>``, never prefixed (see ``KafkaWiring.consume``)."""
    max_attempts: int
    lanes: LaneTopic
    claim_last: bool
    fetch: FetchTuning | None = None
    """Its consumer's own fetch tuning (a topic with a ``group_id`` of its own), else the settings'."""

    @property
    def batch(self) -> bool:
        return self.lanes.batch > 1


@dataclass
class Attempts:
    """Failures per record, so a poison message is retried a bounded number of times."""

    counts: dict[RecordId, int] = field(default_factory=dict)
    errors: dict[RecordId, str] = field(default_factory=dict)
    """The last error of each failing record, for a dead-letter write that has to be tried again."""

    def fail(self, record: RecordId, error: str = "") -> int:
        self.counts[record] = self.counts.get(record, 0) + 1
        self.errors[record] = error
        return self.counts[record]

    def failures(self, record: RecordId) -> int:
        return self.counts.get(record, 0)

    def clear(self, record: RecordId) -> None:
        self.counts.pop(record, None)
        self.errors.pop(record, None)


@dataclass(frozen=True)
class Tools:
    """The service-wide pieces every transaction uses."""

    settings: ServiceSettings
    engine: AsyncEngine
    store: IdempotencyStore
    tracer: Tracer
    metrics: ConsumerMetrics
    attempts: Attempts
    publishers: Publishers
    dead_letters: DeadLetters

    @property
    def retry_backoff_s(self) -> float:
        return self.settings.consumer_retry_backoff_ms / 1000


def record_id(record: Any) -> RecordId:
    return (record.topic, record.partition, record.offset)
