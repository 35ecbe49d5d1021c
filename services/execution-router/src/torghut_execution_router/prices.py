"""Price signals for the paper venue, written through the consumer's batch transaction.

TA signals are the router's highest-volume input. Each one used to open its own Postgres transaction;
now a batch is buffered in memory and written by ``flush(conn)`` inside the runtime's batch
transaction: one upsert of the latest price per symbol. Only symbols with open paper orders take the
per-price path (every price, in order, gets its fill chance in the venue's own locked transaction,
and the resulting trade updates go through the order feed and wake the outbox as before).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import TaSignal
from torghut_runtime import Inbound, Outgoing

from .adapters.paper_venue import PaperVenue
from .domain.orders import VenueEvent
from .domain.paper import Quote

RecordAll = Callable[[Iterable[VenueEvent]], Awaitable[Any]]


def quote_of(signal: TaSignal) -> Quote | None:
    """The signal's price (or its bid/ask midpoint); ``None`` when it carries none: no price, no fill."""
    price = signal.price
    if price is None and signal.bid is not None and signal.ask is not None:
        price = (signal.bid + signal.ask) / 2
    if price is None:
        return None
    return Quote(signal.symbol, Decimal(price), signal.event_ts, signal.seq)


class PriceSignalHandler:
    """The ``torghut.ta.signals.v1`` handler: buffers prices per batch, writes them in ``flush(conn)``.

    The runtime calls ``flush`` once per batch transaction (inside it) and ``discard`` when that
    transaction rolls back, so the buffer never outlives its transaction.
    """

    def __init__(self, paper: PaperVenue, record_all: RecordAll) -> None:
        self.paper = paper
        self.record_all = record_all
        self._pending: dict[str, list[Quote]] = {}

    async def __call__(self, inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        quote = quote_of(inbound.payload)
        if quote is None:
            return []  # the paper venue waits for a price
        held = self._pending.setdefault(quote.symbol, [])
        if not held or quote.is_newer_than(held[-1]):
            held.append(quote)  # an older price within the batch changes nothing, as in the venue
        return []

    async def flush(self, conn: AsyncConnection) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        with_orders = await self.paper.store_quotes_unless_open(conn, [quotes[-1] for quotes in pending.values()])
        for symbol in sorted(with_orders):
            for quote in pending[symbol]:
                await self.record_all(await self.paper.on_quote(quote))

    def discard(self) -> None:
        self._pending = {}
