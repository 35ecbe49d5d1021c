"""The statements over market-data's tables, built once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import FileCursor, LastBar

last_bar: sa.Table = LastBar.__table__  # type: ignore[attr-defined]
file_cursor: sa.Table = FileCursor.__table__  # type: ignore[attr-defined]

_INSERT_LAST = postgresql.insert(last_bar).values(
    symbol=sa.bindparam("symbol"), start=sa.bindparam("start"), updated_at=sa.bindparam("now"))
_SAVE_LAST = _INSERT_LAST.on_conflict_do_update(
    index_elements=[last_bar.c.symbol],
    set_={"start": sa.func.greatest(last_bar.c.start, _INSERT_LAST.excluded.start),
          "updated_at": _INSERT_LAST.excluded.updated_at})


async def load_last_bars(conn: AsyncConnection) -> dict[str, datetime]:
    rows = await conn.execute(sa.select(last_bar.c.symbol, last_bar.c.start))
    return {row.symbol: row.start for row in rows}


async def save_last_bar(conn: AsyncConnection, symbol: str, start: datetime) -> None:
    """Move the symbol's last start forward (never back: two writers keep the greater)."""
    await conn.execute(_SAVE_LAST, {"symbol": symbol, "start": start, "now": datetime.now(UTC)})


@dataclass(frozen=True)
class Cursor:
    sha256: str
    rows_done: int
    finished: bool


async def load_cursor(conn: AsyncConnection, path: str) -> Cursor | None:
    row = (await conn.execute(sa.select(file_cursor).where(file_cursor.c.path == path))).first()
    return Cursor(row.sha256, row.rows_done, row.finished) if row is not None else None


async def save_cursor(conn: AsyncConnection, path: str, cursor: Cursor) -> None:
    insert = postgresql.insert(file_cursor).values(path=path, sha256=cursor.sha256, rows_done=cursor.rows_done,
                                                   finished=cursor.finished, updated_at=datetime.now(UTC))
    await conn.execute(insert.on_conflict_do_update(
        index_elements=[file_cursor.c.path],
        set_={"sha256": insert.excluded.sha256, "rows_done": insert.excluded.rows_done,
              "finished": insert.excluded.finished, "updated_at": insert.excluded.updated_at}))
