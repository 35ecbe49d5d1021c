"""The ``source_cursor`` rows: how far the ClickHouse source has read, committed with what it produced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from .store import source_cursor


@dataclass(frozen=True)
class Cursor:
    """Strict lexicographic position over (event_ts, symbol, seq): the next row is strictly after it."""

    event_ts: datetime
    symbol: str = ""
    seq: int = -1
    watermark: datetime | None = None


async def load_cursor(conn: AsyncConnection, name: str) -> Cursor | None:
    """The cursor, row-locked: a second instance polling the same table waits instead of double-reading."""
    row = (await conn.execute(
        sa.select(source_cursor).where(source_cursor.c.name == name).with_for_update()
    )).first()
    if row is None:
        return None
    return Cursor(event_ts=row.event_ts, symbol=row.symbol, seq=row.seq, watermark=row.watermark)


async def lock_new_cursor(conn: AsyncConnection, name: str, start: Cursor) -> Cursor:
    """Create the cursor row at ``start`` if absent, then lock and return whatever is stored."""
    now = datetime.now(UTC)
    await conn.execute(postgresql.insert(source_cursor).values(
        name=name, event_ts=start.event_ts, symbol=start.symbol, seq=start.seq, watermark=start.watermark,
        updated_at=now).on_conflict_do_nothing(index_elements=[source_cursor.c.name]))
    cursor = await load_cursor(conn, name)
    assert cursor is not None
    return cursor


async def save_cursor(conn: AsyncConnection, name: str, cursor: Cursor) -> None:
    await conn.execute(source_cursor.update().where(source_cursor.c.name == name).values(
        event_ts=cursor.event_ts, symbol=cursor.symbol, seq=cursor.seq, watermark=cursor.watermark,
        updated_at=datetime.now(UTC)))
