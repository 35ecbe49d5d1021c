"""The paper venue's Postgres books: its own client_order_id dedupe, price ordering, cancels, snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

from torghut_contracts.enums import OrderStatus, OrderType, Side, TimeInForce, TradeEvent
from torghut_execution_router.adapters.venues.paper.venue import NO_FILLS_YET, PaperVenue
from torghut_execution_router.domain.orders import OrderRequest, VenueEvent
from torghut_execution_router.domain.paper import Quote
from torghut_execution_router.domain.submission import SubmitKind

T0 = datetime.now(UTC)


async def price(venue: PaperVenue, quote: Quote) -> list[VenueEvent]:
    """One price, in its own transaction, as the router's price batch gives it."""
    async with venue.engine.begin() as conn:
        return await venue.on_prices(conn, {quote.symbol: [quote]})


def request(coid: str, qty: str = "10", limit: str | None = None, side: Side = Side.BUY) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol="NVDA", side=side, qty=D(qty),
                        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
                        limit_price=D(limit) if limit else None, time_in_force=TimeInForce.GTC,
                        extended_hours=False, reference_price=D(100), approved_at=T0)


async def test_the_paper_venue_keeps_its_books_in_postgres(offline_router: Any) -> None:
    service = await offline_router(paper_starting_cash=D(10_000), paper_slippage_bps=0)
    venue = service.paper
    assert await price(venue, Quote("NVDA", D(100), T0, 1)) == []
    first = await venue.submit(request("a", qty="10"))
    again = await venue.submit(request("a", qty="10"))
    assert first.kind is SubmitKind.ACCEPTED and [e.event for e in first.events] == [TradeEvent.NEW, TradeEvent.FILL]
    assert again.order == first.order, "the venue's own dedupe: same client_order_id, same order"

    resting = await venue.submit(request("b", qty="5", limit="90"))
    assert [o.client_order_id for o in await venue.list_open()] == ["b"]
    assert await price(venue, Quote("NVDA", D(89), T0 - timedelta(seconds=1), 1)) == [], "an older price is ignored"
    filled = await price(venue, Quote("NVDA", D(89), T0 + timedelta(seconds=1), 2))
    assert [(e.event, e.fill_price) for e in filled] == [(TradeEvent.FILL, D(89))]
    assert resting.order is not None

    too_big = await venue.submit(request("c", qty="1000"))
    assert (too_big.kind, too_big.reason) == (SubmitKind.REJECTED, "insufficient_buying_power")
    open_sell = await venue.submit(request("d", qty="5", limit="500", side=Side.SELL))
    assert open_sell.order is not None
    cancelled = await venue.cancel(open_sell.order)
    assert [e.order.status for e in cancelled] == [OrderStatus.CANCELED]

    snapshot = await venue.account_snapshot("paper-main", T0 + timedelta(seconds=2))
    assert snapshot.cash == D(10_000) - D(1000) - D(445)
    assert [(p.symbol, p.qty, p.market_value) for p in snapshot.positions] == [("NVDA", D(15), D(15 * 89))]
    assert snapshot.equity == snapshot.cash + D(15 * 89)


async def test_a_snapshot_names_the_last_fill_it_holds(offline_router: Any) -> None:
    service = await offline_router(paper_slippage_bps=0)
    venue = service.paper
    assert (await venue.account_snapshot("paper-main", T0)).fills_through == NO_FILLS_YET
    await price(venue, Quote("NVDA", D(100), T0, 1))
    first = await venue.submit(request("f1"))
    second = await venue.submit(request("f2"))
    last_fill = second.events[-1].timestamp
    assert last_fill > first.events[-1].timestamp, "fill times strictly increase, even at one instant"
    snapshot = await venue.account_snapshot("paper-main", T0 + timedelta(hours=1))
    assert snapshot.fills_through == last_fill and snapshot.as_of == T0 + timedelta(hours=1)
    assert [(p.symbol, p.qty) for p in snapshot.positions] == [("NVDA", D(20))]


async def test_a_position_sold_out_leaves_the_books(offline_router: Any) -> None:
    """Selling all of a position removes it: the next buy starts a new one, at its own price."""
    service = await offline_router(paper_starting_cash=D(10_000), paper_slippage_bps=0)
    venue = service.paper
    await price(venue, Quote("NVDA", D(100), T0, 1))
    await venue.submit(request("buy", qty="10"))
    await price(venue, Quote("NVDA", D(110), T0 + timedelta(seconds=1), 2))
    await venue.submit(request("sell", qty="10", side=Side.SELL))
    sold_out = await venue.account_snapshot("paper-main", T0 + timedelta(seconds=2))
    assert (sold_out.positions, sold_out.cash) == ([], D(10_100))

    await venue.submit(request("again", qty="5"))
    snapshot = await venue.account_snapshot("paper-main", T0 + timedelta(seconds=3))
    assert [(p.symbol, p.qty, p.avg_entry_price) for p in snapshot.positions] == [("NVDA", D(5), D(110))]
