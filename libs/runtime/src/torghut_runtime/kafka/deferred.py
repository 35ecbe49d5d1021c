"""Outputs a handler defers: claim now, call later, publish as the message's own output.

A handler that must make a slow call (an engine, a download) only claims the work in its
transaction, and its tracking record commits with no outputs. The service's worker makes the call
with no connection held, then records what came of it with :class:`DeferredOutputs`:

* :meth:`~DeferredOutputs.render` gives the output the message id, causation and correlation it
  would have had as the handler's own output (so a republish by either path is the same message);
* :meth:`~DeferredOutputs.record` writes the outputs into the message's tracking record, in the
  worker's transaction, so a redelivered message republishes them instead of claiming again;
* :meth:`~DeferredOutputs.publish` sends them and waits for the broker;
* :meth:`~DeferredOutputs.dead_letter` gives up on a message whose work keeps failing: its copy
  goes to the topic's DLQ, as a record whose handler kept failing would.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.topics import TopicSpec

from ..db import StoredOutput, processed_messages
from .dead_lettering import DeadLetters, Origin
from .messages import Outgoing
from .publishing import Publishers

_RECORD_OUTPUTS = sa.text(
    "UPDATE processed_messages SET outputs = "
    "(CAST(:b_outputs AS TEXT[]))[array_position(CAST(:b_ids AS TEXT[]), message_id)] "
    "WHERE consumer = :b_consumer AND message_id = ANY(CAST(:b_ids AS TEXT[]))")
"""Many messages' outputs in one statement (an ``executemany`` is a statement per message). The rows are
found through the primary key by ``= ANY``: a join with ``unnest`` was planned as a scan of the table."""
_ORIGIN = sa.select(processed_messages.c.topic, processed_messages.c.partition, processed_messages.c.offset).where(
    processed_messages.c.consumer == sa.bindparam("b_consumer"),
    processed_messages.c.message_id == sa.bindparam("b_message_id"))


class DeferredOutputs:
    """The deferred outputs of one consumed topic's messages (``ServiceRuntime.deferred_outputs``)."""

    def __init__(self, spec: TopicSpec[Any], tracking_key: str, publishers: Publishers,
                 dead_letters: DeadLetters) -> None:
        self.spec = spec
        self.tracking_key = tracking_key
        """The consumer name of the topic's tracking records (``<service>.<topic>``)."""
        self._publishers = publishers
        self._dead_letters = dead_letters

    def render(self, cause: MessageHeaders, item: Outgoing, index: int = 0) -> StoredOutput:
        """``item`` as the ``index``-th output of the message with headers ``cause``."""
        return self._publishers.render_caused(cause, item, index)

    async def record(self, conn: AsyncConnection, outputs: Sequence[tuple[str, Sequence[StoredOutput]]]) -> None:
        """Store ``(message id, outputs)`` pairs in the messages' tracking records, in ``conn``'s transaction."""
        if outputs:
            await conn.execute(_RECORD_OUTPUTS, {
                "b_consumer": self.tracking_key, "b_ids": [message_id for message_id, _ in outputs],
                "b_outputs": [json.dumps([output.as_json() for output in items]) for _, items in outputs]})

    async def publish(self, outputs: Sequence[StoredOutput]) -> None:
        """Send, in order, and wait for every acknowledgement (a failure raises: the caller retries)."""
        await self._publishers.publish_all(outputs)

    async def dead_letter(self, conn: AsyncConnection, *, message_id: str, value: bytes, key: str | None,
                          headers: dict[str, str], error: str, attempts: int) -> None:
        """Send the message's copy to ``<topic>.dlq`` (reason ``handler_error``), naming the record it came
        from when its tracking record says."""
        row = (await conn.execute(_ORIGIN, {"b_consumer": self.tracking_key, "b_message_id": message_id})).first()
        origin = Origin(row.topic, row.partition, row.offset) if row is not None else None
        await self._dead_letters.write_copy(self.spec, value, key=key, raw_headers=headers, origin=origin,
                                            reason="handler_error", error=error, attempts=attempts,
                                            group=self.tracking_key)
