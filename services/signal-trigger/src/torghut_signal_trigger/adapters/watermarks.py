"""The ``stream_watermark`` rows: in replay mode, the high-water event time that stands in for 'now'."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from .store import stream_watermark


@dataclass(frozen=True)
class WatermarkMove:
    """Move the stream watermark ``name`` from ``expected`` (None: no row yet) to ``new``, if still there.

    The watermark only grows, so an unchanged value proves nobody advanced it in between.
    """

    name: str
    expected: datetime | None
    new: datetime



async def advance_watermark(conn: AsyncConnection, name: str, event_ts: datetime) -> datetime:
    """max(stored watermark, event_ts), stored and returned: replay's stand-in for 'now'."""
    now = datetime.now(UTC)
    insert = postgresql.insert(stream_watermark).values(name=name, watermark=event_ts, updated_at=now)
    row = (await conn.execute(
        insert.on_conflict_do_update(
            index_elements=[stream_watermark.c.name],
            set_={"watermark": sa.func.greatest(stream_watermark.c.watermark, insert.excluded.watermark),
                  "updated_at": now},
        ).returning(stream_watermark.c.watermark)
    )).one()
    return row.watermark  # type: ignore[no-any-return]


async def read_watermark(conn: AsyncConnection, name: str) -> datetime | None:
    """The stored watermark, unlocked (a later :class:`WatermarkMove` checks it did not move)."""
    value = (await conn.execute(
        sa.select(stream_watermark.c.watermark).where(stream_watermark.c.name == name))).scalar_one_or_none()
    return value  # type: ignore[no-any-return]
