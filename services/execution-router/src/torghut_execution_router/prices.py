"""Price signals for the paper venue, written through the consumer's batch transaction.

TA signals are the router's highest-volume input. A batch of them is buffered in memory and written
by ``flush(conn)`` inside the runtime's batch transaction (``PaperVenue.on_prices``): one statement
for the latest price of every symbol without an open paper order, and for the symbols with one,
every price in order gets its fill chance. Fills go through the order feed in the same transaction
and leave through the outbox once it commits, so a batch redelivered after a crash fills nothing
twice and loses no fill.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import TaSignal
from torghut_runtime import Inbound, Outgoing

from .adapters.venues.paper.venue import PaperVenue
from .domain.orders import VenueEvent
from .domain.paper import Quote

#: Records venue events through the order feed in the given transaction; their updates leave through
#: the outbox once it commits.
RecordAll = Callable[[Iterable[VenueEvent], AsyncConnection], Awaitable[Any]]


def quote_of(signal: TaSignal) -> Quote | None:
    """The signal's mark price (``TaSignal.mark_price``); ``None`` when it carries none: no price, no fill."""
    price = signal.mark_price
    if price is None:
        return None
    return Quote(signal.symbol, Decimal(price), signal.event_ts, signal.seq)


class PriceIntake:
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
        events = await self.paper.on_prices(conn, pending)
        if events:
            await self.record_all(events, conn)

    def discard(self) -> None:
        self._pending = {}
