"""The TA-signal handler: the newest mark per symbol, and the end-of-day sweep when a signal says it is due."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import TaSignal
from torghut_runtime import Inbound, Outgoing

from . import store


class Sweeps(Protocol):
    """What the signal handler uses of the firewall's handlers (``FirewallHandlers``)."""

    @property
    def clock(self) -> Callable[[datetime], datetime]: ...

    def sweep_due(self, now: datetime) -> bool: ...

    async def sweep_locked(self, conn: AsyncConnection, now: datetime) -> list[Outgoing]: ...


class SignalMarks:
    """Marks from TA signals, buffered per batch and written in one round trip at its end.

    A batch commits as one transaction, so no reader sees a mark before its batch commits anyway:
    writing the newest mark per symbol at the end (the upsert's guard keeps the newest too) changes
    nobody's view and takes one round trip instead of one per signal. A signal that falls in a
    flatten window writes what is buffered first, so the sweep reads the marks it just received.
    The runtime calls :meth:`flush` inside the batch's transaction and :meth:`discard` when it
    rolls back.
    """

    def __init__(self, handlers: Sweeps) -> None:
        self.handlers = handlers
        self._pending: dict[str, store.MarkRow] = {}

    async def __call__(self, inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        signal = inbound.payload
        price = signal.mark_price
        if price is not None:
            held = self._pending.get(signal.symbol)
            if held is None or (held.event_ts, held.seq) < (signal.event_ts, signal.seq):
                self._pending[signal.symbol] = store.MarkRow(signal.symbol, price, signal.volume, signal.event_ts,
                                                             signal.seq)
        now = self.handlers.clock(signal.event_ts)
        if not self.handlers.sweep_due(now):
            return []
        await self.flush(conn)
        return await self.handlers.sweep_locked(conn, now)

    async def flush(self, conn: AsyncConnection) -> None:
        pending, self._pending = self._pending, {}
        await store.upsert_marks(conn, list(pending.values()))

    def discard(self) -> None:
        self._pending = {}
