"""The built-in paper venue: the pure fill model (``domain.paper``) over its own Postgres books.

Every mutation locks the account row, so a submission, a price and a cancel racing each other are
applied one at a time. The venue is external to the router's ledger on purpose: it answers with the
same events and lookups as Alpaca, so the router's reconciliation covers it too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from torghut_contracts.enums import Adapter, OrderStatus
from torghut_contracts.models import AccountSnapshot, Position

from ....domain import paper
from ....domain.orders import EventSource, OrderRequest, VenueEvent, VenueOrder, state_event
from ....domain.submission import SubmitKind, SubmitOutcome
from ....domain.trade_update import snapshot_id
from ...tables import paper_accounts, paper_fills, paper_orders, paper_quotes
from ...transactions import joined
from .books import (
    BOOK,
    HOLD_ACCOUNT,
    LOCK_ACCOUNT,
    NAMED_ORDER,
    OPEN_STATUSES,
    PERSIST,
    POSITIONS,
    QUOTES,
    STORE_UNLESS_OPEN,
    VENUE_TIME,
    held_rows,
    order_of,
    paper_order_id,
    persist_values,
    upsert_newer,
)
from .held import HeldBook

#: ``fills_through`` of an account that never filled: before any fill it will have. Also the
#: venue's own time (:meth:`PaperVenue._venue_time`) before its first price or order.
NO_FILLS_YET = datetime(1970, 1, 1, tzinfo=UTC)


def _account(row: Any, positions: Iterable[paper.PaperPosition]) -> paper.PaperAccount:
    return paper.PaperAccount(cash=row.cash, realized_pl=row.realized_pl, positions={p.symbol: p for p in positions},
                              last_fill_at=row.last_fill_at)


class PaperVenue:
    name = Adapter.PAPER

    def __init__(self, engine: AsyncEngine, account: str, model: paper.FillModel, starting_cash: Decimal,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), *, event_clock: bool = False) -> None:
        self.engine = engine
        self.account = account
        self.model = model
        self.starting_cash = starting_cash
        self.clock = clock
        """The wall clock: when rows were written."""
        self.event_clock = event_clock
        """Replays: cancels at the venue's own time (:meth:`_venue_time`) rather than the wall clock's, and
        a snapshot's realized P&L "today" of the venue's day."""
        self._held: HeldBook | None = None
        """The paper account as the intake's open group commit holds it (see held.py)."""

    # -- state ------------------------------------------------------------------------------------
    async def _locked_row(self, conn: AsyncConnection) -> Any:
        """The account's row, locked (opened first on the first order or price ever)."""
        mine = {"b_account": self.account}
        row = (await conn.execute(LOCK_ACCOUNT, mine)).first()
        if row is None:
            await conn.execute(pg_insert(paper_accounts).values(
                account=self.account, starting_cash=self.starting_cash, cash=self.starting_cash,
                realized_pl=Decimal(0), updated_at=self.clock(),
            ).on_conflict_do_nothing(index_elements=["account"]))
            row = (await conn.execute(LOCK_ACCOUNT, mine)).one()
        return row

    async def _lock_account(self, conn: AsyncConnection) -> paper.PaperAccount:
        row = await self._locked_row(conn)
        positions = [paper.PaperPosition(r.symbol, r.qty, r.avg_entry_price)
                     for r in await conn.execute(POSITIONS, {"b_account": self.account})]
        return _account(row, positions)

    async def _hold(self, conn: AsyncConnection, expected: Mapping[str, str]) -> HeldBook:
        """Lock the account and read the book for the orders ``expected`` (client order id to symbol):
        its positions, its open orders, the expected ones wherever they are, and their symbols' quotes,
        in two statements."""
        row = await self._locked_row(conn)
        book = (await conn.execute(BOOK, {"b_account": self.account, "b_coids": list(expected),
                                          "b_symbols": sorted(set(expected.values()))})).one()
        positions, orders, quotes = held_rows(book)
        account = _account(row, positions)
        named: dict[str, paper.PaperOrder | None] = dict.fromkeys(expected)
        named.update({o.client_order_id: o for o in orders if o.client_order_id in named})
        quotes = {**dict.fromkeys(expected.values()), **quotes}
        return HeldBook(conn, account, account, {o.client_order_id: o for o in orders if o.is_open}, named, quotes)

    async def _open_orders(self, conn: AsyncConnection, symbol: str | None = None) -> list[paper.PaperOrder]:
        query = sa.select(paper_orders).where(paper_orders.c.account == self.account,
                                              paper_orders.c.status.in_(OPEN_STATUSES))
        if symbol is not None:
            query = query.where(paper_orders.c.symbol == symbol)
        return [order_of(r) for r in await conn.execute(query)]

    async def _quote(self, conn: AsyncConnection, symbol: str) -> paper.Quote | None:
        return (await self._quotes(conn, {symbol}))[symbol]

    async def _quotes(self, conn: AsyncConnection, symbols: Collection[str]) -> dict[str, paper.Quote | None]:
        """The prices held for ``symbols`` (None: no price yet), in one statement."""
        quotes: dict[str, paper.Quote | None] = dict.fromkeys(symbols)
        for row in await conn.execute(QUOTES, {"b_symbols": list(symbols)}):
            quotes[row.symbol] = paper.Quote(row.symbol, row.price, row.event_ts, row.seq)
        return quotes

    async def _persist(self, conn: AsyncConnection, before: paper.PaperAccount, step: paper.PaperStep) -> None:
        """Write what ``step`` changed against ``before`` (the account as locked), in one statement
        (``books.PERSIST``): the account row, the positions that closed or moved, the orders it touched
        and its fills."""
        await conn.execute(PERSIST, persist_values(self.account, before, step, self.clock()))

    # -- the venue interface -----------------------------------------------------------------------
    async def submit(self, request: OrderRequest, conn: AsyncConnection | None = None) -> SubmitOutcome:
        """Place ``request``; in ``conn``'s transaction when given (the router's consumer transaction)."""
        async with joined(self.engine, conn) as conn:
            book = await self._hold(conn, {request.client_order_id: request.symbol})
            existing = book.named[request.client_order_id]
            if existing is not None:  # the venue's own dedupe: same client_order_id, same order
                order = existing.venue_order()
                kind = SubmitKind.REJECTED if order.status is OrderStatus.REJECTED else SubmitKind.ACCEPTED
                return SubmitOutcome(kind, [state_event(order, EventSource.SUBMIT)], order=order)
            step = paper.submit(request, venue_order_id=paper_order_id(self.account, request.client_order_id),
                                account=book.account, open_orders=list(book.open_orders.values()),
                                quote=book.quotes[request.symbol], model=self.model)
            await self._persist(conn, book.before, step)
        order = step.orders[-1].venue_order()
        if step.rejection is not None:
            return SubmitOutcome(SubmitKind.REJECTED, step.events, reason=step.rejection, order=order)
        return SubmitOutcome(SubmitKind.ACCEPTED, step.events, order=order)

    # -- a group commit's orders, against the account the consumer's transaction holds (held.py) --
    async def submit_held(self, request: OrderRequest, conn: AsyncConnection,
                          expected: Mapping[str, str] | None = None) -> SubmitOutcome:
        """Place ``request`` in the consumer's transaction ``conn``; written by :meth:`flush_held`.

        ``expected``: the orders the transaction is about to place, client order id to symbol. The
        book is read for all of them at once (``_hold``): the account locked, then its positions, the
        venue's dedupe lookup with the open orders, and the quotes of their symbols.
        """
        book = self._held
        if book is not None and book.conn is not conn:
            # Left by a transaction that ended without flush or discard (only the intake's one lane places
            # here, one transaction at a time): it holds nothing any more.
            book = self._held = None
        coid = request.client_order_id
        if book is None:
            book = self._held = await self._hold(conn, {**(expected or {}), coid: request.symbol})
        existing = book.orders.get(coid)
        if existing is None:
            existing = book.named[coid] if coid in book.named else await self._named(conn, coid)
        if existing is not None:  # the venue's own dedupe: same client_order_id, same order
            order = existing.venue_order()
            kind = SubmitKind.REJECTED if order.status is OrderStatus.REJECTED else SubmitKind.ACCEPTED
            return SubmitOutcome(kind, [state_event(order, EventSource.SUBMIT)], order=order)
        if request.symbol not in book.quotes:
            book.quotes[request.symbol] = await self._quote(conn, request.symbol)
        step = paper.submit(request, venue_order_id=paper_order_id(self.account, request.client_order_id),
                            account=book.account, open_orders=list(book.open_orders.values()),
                            quote=book.quotes[request.symbol], model=self.model)
        book.take(step)
        order = step.orders[-1].venue_order()
        if step.rejection is not None:
            return SubmitOutcome(SubmitKind.REJECTED, step.events, reason=step.rejection, order=order)
        return SubmitOutcome(SubmitKind.ACCEPTED, step.events, order=order)

    async def flush_held(self, conn: AsyncConnection) -> None:
        """Write what the group's orders changed, in its transaction, and let the account go."""
        book, self._held = self._held, None
        if book is not None and book.conn is conn and (book.orders or book.fills):
            await self._persist(conn, book.before, book.changes())

    def discard_held(self) -> None:
        """The group's transaction rolled back: forget the book."""
        self._held = None

    async def _named(self, conn: AsyncConnection, client_order_id: str) -> paper.PaperOrder | None:
        row = (await conn.execute(NAMED_ORDER, {"b_account": self.account, "b_coid": client_order_id})).first()
        return order_of(row) if row is not None else None

    async def on_prices(self, conn: AsyncConnection, prices: Mapping[str, Sequence[paper.Quote]]) -> list[VenueEvent]:
        """Record a batch's prices (each symbol's in event order) and give open orders their fill
        chances, in ``conn``'s transaction.

        It takes the account lock first, as a submission does. Without it a price and an order that
        arrive together can each miss the other: the submission reads the price held before the
        batch commits, the batch looks for open orders before the submission commits, and the order
        waits for a price that has already come (write skew). Under the lock whichever is second
        sees the first. Symbols without an open order, nearly all of them, take one statement for
        the whole batch: nothing can fill, so only their latest price counts.
        """
        latest = [quotes[-1] for quotes in prices.values() if quotes]
        if not latest:
            return []
        if (await conn.execute(HOLD_ACCOUNT, {"b_account": self.account})).first() is None:
            await self._lock_account(conn)  # the first price ever: open the account, then lock it
        with_orders = await conn.execute(STORE_UNLESS_OPEN, {
            "account": self.account, "open_statuses": list(OPEN_STATUSES), "symbols": [q.symbol for q in latest],
            "prices": [q.price for q in latest], "event_ts": [q.event_ts for q in latest],
            "seqs": [q.seq for q in latest]})
        events: list[VenueEvent] = []
        for symbol in sorted(r.symbol for r in with_orders):
            for quote in prices[symbol]:
                events.extend(await self._fill_chance(conn, quote))
        return events

    async def _fill_chance(self, conn: AsyncConnection, quote: paper.Quote) -> list[VenueEvent]:
        """Record ``quote`` if newer than the price held and let the symbol's open orders fill on it;
        the caller holds the account lock."""
        if (await conn.execute(upsert_newer([quote]).returning(paper_quotes.c.symbol))).first() is None:
            return []  # not newer: a redelivery or an out-of-order price changes nothing
        open_orders = await self._open_orders(conn, quote.symbol)
        if not open_orders:
            return []  # an earlier price of the batch filled them
        account = await self._lock_account(conn)
        step = paper.on_quote(quote, account=account, open_orders=open_orders, model=self.model)
        await self._persist(conn, account, step)
        return step.events

    async def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        async with self.engine.begin() as conn:
            account = await self._lock_account(conn)
            row = (await conn.execute(sa.select(paper_orders).where(
                paper_orders.c.account == self.account,
                paper_orders.c.client_order_id == order.client_order_id))).first()
            if row is None:
                return []
            at = await self._venue_time(conn, account) if self.event_clock else self.clock()
            step = paper.cancel(order_of(row), account=account, at=at, reason="cancel_requested")
            await self._persist(conn, account, step)
        return step.events

    async def get_by_client_order_id(self, client_order_id: str) -> VenueOrder | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(paper_orders).where(
                paper_orders.c.account == self.account, paper_orders.c.client_order_id == client_order_id))).first()
        return order_of(row).venue_order() if row is not None else None

    async def list_open(self) -> list[VenueOrder]:
        async with self.engine.connect() as conn:
            return [o.venue_order() for o in await self._open_orders(conn)]

    async def _venue_time(self, conn: AsyncConnection, account: paper.PaperAccount) -> datetime:
        """The venue's own time: its latest event, a price, an open order's change or a fill, each at its
        event time (``NO_FILLS_YET`` before any). The caller holds the account lock."""
        latest = (await conn.execute(VENUE_TIME, {"b_account": self.account})).scalar_one()
        return max(t for t in (latest, account.last_fill_at, NO_FILLS_YET) if t is not None)

    async def account_snapshot(self, account: str, as_of: datetime) -> AccountSnapshot:
        async with self.engine.begin() as conn:
            state = await self._lock_account(conn)
            open_orders = await self._open_orders(conn)
            prices = {r.symbol: r.price for r in await conn.execute(
                sa.select(paper_quotes.c.symbol, paper_quotes.c.price)
                .where(paper_quotes.c.symbol.in_(list(state.positions))))} if state.positions else {}
            # "Today" is the session's: in a replay (event clock) the venue's own time, not the reading's.
            today = await self._venue_time(conn, state) if self.event_clock else as_of
            day_start = today.astimezone(paper.NEW_YORK).replace(hour=0, minute=0, second=0, microsecond=0)
            realized_today = (await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(paper_fills.c.realized_pl), 0))
                                                 .where(paper_fills.c.account == self.account,
                                                        paper_fills.c.at >= day_start))).scalar_one()
        value = paper.value_account(state, prices, open_orders)
        return AccountSnapshot(
            snapshot_id=snapshot_id(account, Adapter.PAPER, as_of), account=account, venue=Adapter.PAPER,
            as_of=as_of, equity=value.equity, cash=value.cash, buying_power=value.buying_power,
            realized_pl_today=Decimal(realized_today),
            # Read under the account lock: exactly the fills in these positions (fill times increase).
            fills_through=state.last_fill_at or NO_FILLS_YET,
            positions=[Position(symbol=p.symbol, qty=p.qty, avg_entry_price=p.avg_entry_price,
                                market_value=p.market_value, unrealized_pl=p.unrealized_pl)
                       for p in value.positions])

    async def close(self) -> None:
        return None
