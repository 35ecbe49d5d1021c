"""Whose transaction a write joins: the caller's, or one of its own."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


@contextlib.asynccontextmanager
async def joined(engine: AsyncEngine, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
    """``conn`` when given (its owner commits or rolls back), else a transaction that commits on exit.

    The paper venue lives in the router's database, so an approved order for it is claimed, submitted
    and recorded in the consumer's transaction; every other caller writes in a transaction of its own.
    """
    if conn is not None:
        yield conn
        return
    async with engine.begin() as own:
        yield own
