"""A fetched record as the topic's validated message, or the reason it cannot be one.

A record is unreadable, and goes to the dead-letter topic without reaching a handler, when it
declares another topic's schema (``schema_mismatch``), when its id headers are malformed
(``headers``), when it is not JSON (``malformed``) or not the topic's contract (``schema``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from torghut_contracts import headers as h
from torghut_contracts.headers import MessageHeaders, header_dict, id_header_problem
from torghut_contracts.topics import TopicSpec

from .messages import Inbound, M


@dataclass(frozen=True)
class Unreadable:
    """A record that is not JSON or not the topic's schema: it goes to the DLQ, never to a handler."""

    record: Any
    key: str | None
    headers: dict[str, str]
    reason: str
    error: str


def decode(spec: TopicSpec[M], record: Any) -> Inbound[M] | Unreadable:
    raw_headers = header_dict(record.headers)
    key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else record.key
    declared = raw_headers.get(h.SCHEMA)
    if declared is not None and declared != spec.name:
        # A v2 body on the v1 topic, or a record meant for another topic: never read it as this one.
        return Unreadable(record, key, raw_headers, "schema_mismatch",
                          f"{h.SCHEMA} {declared[:200]!r} is not {spec.name!r}, the schema of this topic")
    problem = id_header_problem(raw_headers)
    if problem is not None:
        return Unreadable(record, key, raw_headers, "headers", problem)
    try:
        payload = spec.decode(record.value or b"")
    except ValidationError as exc:
        reason = "malformed" if any(e["type"] == "json_invalid" for e in exc.errors()) else "schema"
        return Unreadable(record, key, raw_headers, reason, summarise(exc))
    fallback_id = f"{record.topic}/{record.partition}/{record.offset}"
    return Inbound(
        payload=payload,
        headers=MessageHeaders.parse(raw_headers, fallback_id=fallback_id, schema=spec.name),
        topic=record.topic, partition=record.partition, offset=record.offset, key=key,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC) if record.timestamp else datetime.now(UTC),
    )


def summarise(exc: ValidationError) -> str:
    """The first ten field errors, ``path: message``: what an operator reads in the DLQ's error header."""
    parts = []
    for error in exc.errors()[:10]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "<body>"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
