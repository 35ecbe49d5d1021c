"""Message headers, set on publish and read on consume.

Every message carries its own id, its schema (the topic name), the correlation id (the trigger's
request id, kept end to end), the causation id (the id of the message that caused it), a W3C
``traceparent`` and the time it was produced. Dead-lettered messages add why and where from.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

MESSAGE_ID = "x-message-id"
SCHEMA = "x-schema"
CORRELATION_ID = "x-correlation-id"
CAUSATION_ID = "x-causation-id"
TRACEPARENT = "traceparent"
PRODUCED_AT = "x-produced-at"

DLQ_REASON = "x-dlq-reason"
DLQ_ERROR = "x-dlq-error"
DLQ_ORIGINAL_TOPIC = "x-dlq-original-topic"
DLQ_ORIGINAL_PARTITION = "x-dlq-original-partition"
DLQ_ORIGINAL_OFFSET = "x-dlq-original-offset"
DLQ_ATTEMPTS = "x-dlq-attempts"
DLQ_CONSUMER = "x-dlq-consumer"
DLQ_TRUNCATED_FROM = "x-dlq-truncated-from"
"""The original value's size in bytes, when the copy in the DLQ is cut to fit the broker's limit."""
DLQ_ORIGINAL_SHA256 = "x-dlq-original-sha256"
"""SHA-256 of the whole original value, beside a truncated copy."""
DLQ_HEADERS_DROPPED = "x-dlq-headers-dropped"
"""How many of the original record's headers did not fit the copy."""

REPLAY_ORIGINAL_TOPIC = "x-replay-original-topic"
REPLAY_ORIGINAL_PARTITION = "x-replay-original-partition"
REPLAY_ORIGINAL_OFFSET = "x-replay-original-offset"

_NAMESPACE = uuid.UUID("5d0c3c1e-8f0f-4b0e-9a57-7f1d2e3c4b5a")


def derived_message_id(causation_id: str, *discriminators: str) -> str:
    """A message id that is the same every time the same input produces the same output.

    Publishing from a redelivered input then yields byte-identical ids, which the next consumer's
    idempotency store recognises.
    """
    return str(uuid.uuid5(_NAMESPACE, "|".join((causation_id, *discriminators))))


@dataclass(frozen=True)
class MessageHeaders:
    message_id: str
    schema: str
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None
    produced_at: datetime | None = None

    @classmethod
    def new(
        cls,
        schema: str,
        *,
        correlation_id: str | None = None,
        message_id: str | None = None,
        cause: MessageHeaders | None = None,
        now: datetime | None = None,
    ) -> MessageHeaders:
        """Headers for a new message; with ``cause`` the correlation id is inherited."""
        message_id = message_id or str(uuid.uuid4())
        if correlation_id is None:
            correlation_id = cause.correlation_id if cause is not None else message_id
        return cls(
            message_id=message_id,
            schema=schema,
            correlation_id=correlation_id,
            causation_id=cause.message_id if cause is not None else None,
            traceparent=cause.traceparent if cause is not None else None,
            produced_at=now or datetime.now(UTC),
        )

    def as_dict(self) -> dict[str, str]:
        values = {
            MESSAGE_ID: self.message_id,
            SCHEMA: self.schema,
            CORRELATION_ID: self.correlation_id,
            CAUSATION_ID: self.causation_id,
            TRACEPARENT: self.traceparent,
            PRODUCED_AT: self.produced_at.isoformat() if self.produced_at else None,
        }
        return {k: v for k, v in values.items() if v is not None}

    def as_kafka(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode()) for k, v in self.as_dict().items()]

    def with_traceparent(self, traceparent: str | None) -> MessageHeaders:
        return replace(self, traceparent=traceparent)

    @classmethod
    def parse(cls, raw: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]], *,
              fallback_id: str, schema: str) -> MessageHeaders:
        """Read headers from a consumed record; a message without ours gets a stable fallback id.

        ``fallback_id`` should be derived from (topic, partition, offset) so that a foreign
        producer's message still has one identity across redeliveries.
        """
        values = header_dict(raw)
        produced_at: datetime | None = None
        if PRODUCED_AT in values:
            try:
                produced_at = datetime.fromisoformat(values[PRODUCED_AT])
            except ValueError:
                produced_at = None
        message_id = values.get(MESSAGE_ID) or fallback_id
        return cls(
            message_id=message_id,
            schema=values.get(SCHEMA, schema),
            correlation_id=values.get(CORRELATION_ID) or message_id,
            causation_id=values.get(CAUSATION_ID),
            traceparent=values.get(TRACEPARENT),
            produced_at=produced_at,
        )


MAX_ID_LENGTH = 200
_ID_HEADERS = (MESSAGE_ID, CORRELATION_ID, CAUSATION_ID)
_NOT_IN_AN_ID = re.compile("[\x00-\x1f\x7f\ufffd]")
"""Control characters, and U+FFFD, which is what bytes that were not UTF-8 decode to. One regular
expression: every consumed record's ids are checked, and a scan per character in Python cost
about 0.1 ms per record, more than decoding the message (docs/performance.md)."""


def id_header_problem(values: Mapping[str, str]) -> str | None:
    """Why the record's id headers cannot be used (they become tracking keys and log fields), or None."""
    for name in _ID_HEADERS:
        value = values.get(name)
        if value is None:
            continue
        if not value or len(value) > MAX_ID_LENGTH:
            return f"{name} must be 1-{MAX_ID_LENGTH} characters (got {len(value)})"
        if _NOT_IN_AN_ID.search(value):
            return f"{name} contains a control character or bytes that are not UTF-8"
    return None


def header_dict(raw: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    """Kafka headers (a list of byte pairs, or a mapping) as a str -> str dict; the last value wins."""
    if raw is None:
        return {}
    items = raw.items() if isinstance(raw, Mapping) else raw
    out: dict[str, str] = {}
    for key, value in items:
        out[key] = value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)
    return out
