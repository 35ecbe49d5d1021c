"""The ``symbol_state`` rows read and written under their row locks: one writer per symbol at a time.

The path that always holds the lock (the ClickHouse source) uses these directly; the Kafka handler's
optimistic cache (:mod:`.symbol_state_cache`) reads through :func:`select_state` and writes the
same row tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_strategies.state import SymbolState

from .store import symbol_state


async def load_state(conn: AsyncConnection, symbol: str, stream: str) -> SymbolState:
    """The symbol's state, row-locked until the transaction ends (one writer per symbol at a time)."""
    return (await select_state(conn, symbol, stream))[0]


async def select_state(conn: AsyncConnection, symbol: str, stream: str, *,
                        lock: bool = True) -> tuple[SymbolState, str | None]:
    query = (sa.select(symbol_state.c.state, symbol_state.c.token)
             .where(symbol_state.c.symbol == symbol, symbol_state.c.stream == stream))
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        return SymbolState(symbol=symbol, stream=stream), None
    return SymbolState.from_json(symbol, stream, row.state), row.token


async def save_states(conn: AsyncConnection, states: Iterable[SymbolState]) -> None:
    """Unconditional upsert (the caller holds the rows' locks); new tokens invalidate other caches."""
    now = datetime.now(UTC)
    rows = [{"symbol": s.symbol, "stream": s.stream, "state": s.to_json(), "token": new_token(), "updated_at": now}
            for s in states]
    if not rows:
        return
    insert = postgresql.insert(symbol_state)
    await conn.execute(
        insert.on_conflict_do_update(index_elements=[symbol_state.c.symbol, symbol_state.c.stream],
                                     set_={"state": insert.excluded.state, "token": insert.excluded.token,
                                           "updated_at": insert.excluded.updated_at}),
        rows,
    )


def new_token() -> str:
    """A fresh random row token: every write sets one, so a stale reader's conditional write fails."""
    return uuid.uuid4().hex
