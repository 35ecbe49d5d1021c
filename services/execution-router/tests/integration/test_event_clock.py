"""``CLOCK=event``: in a replay the router judges and stamps at the replayed session's times.

An order is as old as its approval (a session recorded months ago is not stale), the router's own
reports carry the order's time, a paper cancel the venue's latest event time, and a snapshot's
realized P&L "today" the venue's day. The session below
is in the firewall's flatten window (15:50 New York), far from the wall clock, so a time that still
came from the wall clock would show.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

from torghut_contracts import topics
from torghut_contracts.enums import Adapter, OrderStatus, OrderType, Side, TimeInForce, TradeEvent
from torghut_execution_router.adapters.venues.paper.venue import PaperVenue
from torghut_execution_router.domain.orders import OrderRequest, VenueEvent, VenueOrder
from torghut_execution_router.domain.paper import Quote

SESSION = datetime(2026, 2, 12, 20, 50, tzinfo=UTC)  # 15:50 New York: the firewall's flatten window


async def price(venue: PaperVenue, symbol: str, value: str, at: datetime, seq: int) -> list[VenueEvent]:
    async with venue.engine.begin() as conn:
        return await venue.on_prices(conn, {symbol: [Quote(symbol, D(value), at, seq)]})


def request(coid: str, at: datetime, *, side: Side = Side.BUY, limit: str | None = None) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol="NVDA", side=side, qty=D(10),
                        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
                        limit_price=D(limit) if limit else None, time_in_force=TimeInForce.GTC,
                        extended_hours=False, reference_price=D(100), approved_at=at)


async def paper_on(offline_router: Any, clock: str) -> PaperVenue:
    """A paper venue under ``clock`` whose price at the session's start is 100. The tests make one per
    clock in one database, so each has its own account (the prices are shared)."""
    service = await offline_router(clock=clock, paper_slippage_bps=0, torghut_account=clock)
    await price(service.paper, "NVDA", "100", SESSION, 1)
    return service.paper


async def test_a_paper_cancel_is_at_the_venues_latest_event(offline_router: Any) -> None:
    """The venue's latest event: a price of any symbol, an open order's change, a fill."""
    at = {}
    for clock in ("event", "wall"):
        venue = await paper_on(offline_router, clock)
        await price(venue, "AAPL", "200", SESSION + timedelta(seconds=3), 1)
        first = await venue.submit(request("first", SESSION + timedelta(seconds=1), limit="90"))
        at[clock, "price"] = await cancelled_at(venue, first.order)
        second = await venue.submit(request("second", SESSION + timedelta(seconds=8), limit="90"))
        third = await venue.submit(request("third", SESSION + timedelta(seconds=5), limit="90"))
        at[clock, "order"] = await cancelled_at(venue, third.order)
        bought = await venue.submit(request("bought", SESSION + timedelta(seconds=9)))
        assert [e.event for e in bought.events] == [TradeEvent.NEW, TradeEvent.FILL]
        at[clock, "fill"] = await cancelled_at(venue, second.order)
    assert (at["event", "price"], at["event", "order"], at["event", "fill"]) == (
        SESSION + timedelta(seconds=3), SESSION + timedelta(seconds=8), SESSION + timedelta(seconds=9))
    assert min(at["wall", kind] for kind in ("price", "order", "fill")) > SESSION + timedelta(days=30)


async def test_a_snapshots_pl_today_is_of_the_sessions_day(offline_router: Any) -> None:
    """A snapshot is stamped when read (the wall clock); "today" is the venue's day in a replay."""
    realized = {}
    for clock in ("event", "wall"):
        venue = await paper_on(offline_router, clock)
        await venue.submit(request(f"{clock}-buy", SESSION + timedelta(seconds=1)))
        await price(venue, "NVDA", "110", SESSION + timedelta(seconds=2), 2)
        await venue.submit(request(f"{clock}-sell", SESSION + timedelta(seconds=3), side=Side.SELL))
        snapshot = await venue.account_snapshot(clock, datetime.now(UTC))
        realized[clock] = snapshot.realized_pl_today
    assert realized == {"event": D(100), "wall": D(0)}


async def cancelled_at(venue: PaperVenue, order: VenueOrder | None) -> datetime:
    assert order is not None
    [event] = await venue.cancel(order)
    assert event.event is TradeEvent.CANCELED and event.order.status is OrderStatus.CANCELED
    return event.timestamp


async def test_an_order_is_as_old_as_its_approval_and_the_routers_reports_carry_it(
        offline_router: Any, make_messages: Any) -> None:
    """A replayed order is not stale for being recorded months ago, and a refusal (here: no control
    posture yet) is reported at the order's time."""
    m = make_messages
    for clock in ("event", "wall"):
        service = await offline_router(clock=clock)
        order = m["approved"]().model_copy(update={"approved_at": SESSION})
        async with service.runtime.engine.begin() as conn:
            outputs = await service.intake(m["inbound"](order, topics.ORDERS_APPROVED.name), conn)
            await service.intake.flush(conn)
        [update] = [o.message for o in outputs]
        assert update.event is TradeEvent.REJECTED
        assert (await service.store.get(order.client_order_id)).reject_reason == "control_state_unknown"
        assert (update.timestamp == SESSION) is (clock == "event")

    for clock, outcome in (("event", [TradeEvent.NEW, TradeEvent.FILL]), ("wall", [TradeEvent.REJECTED])):
        service = await offline_router(clock=clock, paper_slippage_bps=0)
        await service.store.save_control(m["control"]())
        await price(service.paper, "NVDA", "100", SESSION, 1)
        order = m["approved"]().model_copy(update={"approved_at": SESSION})
        async with service.runtime.engine.begin() as conn:
            outputs = await service.intake(m["inbound"](order, topics.ORDERS_APPROVED.name), conn)
            await service.intake.flush(conn)
        assert [o.message.event for o in outputs] == outcome
        assert all(o.message.venue is Adapter.PAPER for o in outputs)
        if clock == "wall":
            assert (await service.store.get(order.client_order_id)).reject_reason == "order_stale"
