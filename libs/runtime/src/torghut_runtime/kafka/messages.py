"""What a handler receives and returns, and the two optional hooks a buffering handler exposes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.topics import TopicSpec

M = TypeVar("M", bound=BaseModel)


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


async def prepare_buffered(handler: Any, conn: AsyncConnection, inbounds: Sequence[Inbound[Any]]) -> None:
    """A batch handler may expose ``async prepare(conn, inbounds)``: called once per transaction, inside
    it, before the first record, with the records the pass will handle, so it can read in one statement
    what the records will need (it must still cope with a record it did not prepare for)."""
    prepare = getattr(handler, "prepare", None)
    if prepare is not None and inbounds:
        await prepare(conn, inbounds)


async def flush_buffered(handler: Any, conn: AsyncConnection) -> None:
    """A handler may buffer its writes and expose ``async flush(conn)``: called once per transaction
    (per batch), inside it, before the messages are marked processed. A flush that raises fails the
    transaction like a handler that raises."""
    flush = getattr(handler, "flush", None)
    if flush is not None:
        await flush(conn)


def discard_buffered(handler: Any) -> None:
    """The transaction rolled back: a handler exposing ``discard()`` forgets what it buffered or cached."""
    discard = getattr(handler, "discard", None)
    if discard is not None:
        discard()
