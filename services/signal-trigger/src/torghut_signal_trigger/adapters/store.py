"""Postgres: signal-trigger's Core tables, and the trigger outbox.

Every function takes the caller's connection, so state changes commit in the same transaction as
the message bookkeeping (Kafka path) or the cursor (ClickHouse path): a restart resumes exactly
where the last commit left off, and a redelivery changes nothing twice.

The statements over each table are in a module of their own: :mod:`.symbol_states` and
:mod:`.symbol_state_cache` (per-symbol state), :mod:`.watermarks` (stream watermarks, replay mode),
:mod:`.cursors` (ClickHouse source cursors); the trigger outbox's are here.

The tables are the classes of :mod:`.tables` (their one definition; a test diffs them against the
migrated schema); the module-level names here are their Core tables, which the statements use.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import StrategyTrigger
from torghut_runtime.outbox import OutboxMessage, OutboxTable

from .tables import SourceCursor, StreamWatermark, SymbolStateRow, TriggerOutboxEntry

symbol_state: sa.Table = SymbolStateRow.__table__  # type: ignore[attr-defined]
stream_watermark: sa.Table = StreamWatermark.__table__  # type: ignore[attr-defined]
source_cursor: sa.Table = SourceCursor.__table__  # type: ignore[attr-defined]
trigger_outbox: sa.Table = TriggerOutboxEntry.__table__  # type: ignore[attr-defined]


TRIGGERS_OUTBOX = OutboxTable("triggers", trigger_outbox, key=trigger_outbox.c.id, order_by=(trigger_outbox.c.id,),
                              pending=sa.true())
"""Published by the runtime's outbox in id order, then deleted."""


async def add_to_outbox(conn: AsyncConnection, entries: Sequence[tuple[str, StrategyTrigger]]) -> None:
    if not entries:
        return
    now = datetime.now(UTC)
    await conn.execute(
        postgresql.insert(trigger_outbox).on_conflict_do_nothing(index_elements=[trigger_outbox.c.message_id]),
        [{"message_id": mid, "request_id": t.request_id, "payload": t.model_dump_json(), "created_at": now}
         for mid, t in entries],
    )


def trigger_message(row: sa.Row[Any]) -> OutboxMessage:
    """A stored trigger under the message id it was stored with, keyed by its symbol."""
    trigger = StrategyTrigger.model_validate_json(row.payload)
    headers = MessageHeaders.new(topics.TRIGGERS.name, message_id=row.message_id, correlation_id=trigger.request_id)
    return OutboxMessage.of(topics.TRIGGERS, trigger, headers)
