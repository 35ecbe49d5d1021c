"""TA-signal prices buffered per batch and written in the batch's transaction (``flush``/``discard``),
and never missed by an order placed at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import sqlalchemy as sa
from torghut_contracts import topics
from torghut_contracts.enums import OrderType, Side, TimeInForce, TradeEvent
from torghut_contracts.models import TaSignal
from torghut_execution_router.domain.orders import OrderRequest, VenueEvent
from torghut_execution_router.handlers import PriceIntake

T0 = datetime.now(UTC)


def price(symbol: str, value: str, seq: int, seconds: int = 0) -> TaSignal:
    return TaSignal(symbol=symbol, event_ts=T0 + timedelta(seconds=seconds), seq=seq, price=D(value))


async def stored_prices(service: Any) -> dict[str, D]:
    async with service.runtime.engine.connect() as conn:
        return {r.symbol: r.price for r in await conn.execute(sa.text("SELECT symbol, price FROM paper_quotes"))}


async def run_batch(service: Any, handler: PriceIntake, inbound: Any, signals: list[TaSignal]) -> None:
    """What the runtime does for one batch: every record through the handler, then flush, then commit."""
    async with service.runtime.engine.begin() as conn:
        for signal in signals:
            assert await handler(inbound(signal, topics.TA_SIGNALS.name), conn) == []
        await handler.flush(conn)


async def test_a_batch_stores_the_latest_price_per_symbol_and_a_discarded_one_nothing(
        offline_router: Any, make_messages: Any) -> None:
    service = await offline_router()
    handler = service.prices
    assert isinstance(handler, PriceIntake)
    await run_batch(service, handler, make_messages["inbound"], [
        price("NVDA", "100", 1), price("AAPL", "50", 1), price("AAPL", "51", 2), price("AAPL", "49", 1, seconds=-1),
        TaSignal(symbol="MSFT", event_ts=T0, seq=1, bid=D("10"), ask=D("11")),
        TaSignal(symbol="AMD", event_ts=T0, seq=1)])
    assert await stored_prices(service) == {"NVDA": D(100), "AAPL": D(51), "MSFT": D("10.5")}

    await handler(make_messages["inbound"](price("NVDA", "120", 5), topics.TA_SIGNALS.name), None)  # type: ignore[arg-type]
    handler.discard()  # the batch's transaction rolled back
    await run_batch(service, handler, make_messages["inbound"], [price("NVDA", "99", 0, seconds=-5)])
    assert await stored_prices(service) == {"NVDA": D(100), "AAPL": D(51), "MSFT": D("10.5")}, \
        "neither the discarded price nor an older one"


async def test_every_price_in_a_batch_gives_open_orders_a_fill_chance(offline_router: Any, make_messages: Any) -> None:
    service = await offline_router(paper_slippage_bps=0)
    recorded: list[VenueEvent] = []

    async def record_all(events: Iterable[VenueEvent], _conn: Any) -> None:
        recorded.extend(events)

    handler = PriceIntake(service.paper, record_all)
    await run_batch(service, handler, make_messages["inbound"], [price("NVDA", "100", 1)])
    resting = await service.paper.submit(OrderRequest(
        client_order_id="limit-1", symbol="NVDA", side=Side.BUY, qty=D(5), order_type=OrderType.LIMIT,
        limit_price=D(99), time_in_force=TimeInForce.GTC, extended_hours=False, reference_price=D(100),
        approved_at=T0))
    assert [e.event for e in resting.events] == [TradeEvent.NEW]

    # the cross happens in the middle of the batch: the latest price alone would not fill it
    await run_batch(service, handler, make_messages["inbound"], [
        price("NVDA", "101", 2, seconds=1), price("NVDA", "98.5", 3, seconds=2), price("NVDA", "102", 4, seconds=3),
        price("AAPL", "50", 1)])
    assert [(e.event, e.fill_price) for e in recorded] == [(TradeEvent.FILL, D("98.5"))]
    assert await stored_prices(service) == {"NVDA": D(102), "AAPL": D(50)}


async def blocked_on_a_lock(service: Any) -> None:
    """Returns once some session of this database waits for a lock (within ten seconds)."""
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")
    for _ in range(1000):
        async with service.runtime.engine.connect() as conn:
            if (await conn.execute(query)).scalar_one():
                return
        await asyncio.sleep(0.01)
    raise AssertionError("nobody waited for a lock: the price batch and the order did not serialise")


async def test_an_order_placed_while_a_price_batch_commits_fills_on_that_price(
        offline_router: Any, make_messages: Any) -> None:
    m = make_messages
    service = await offline_router(paper_slippage_bps=0)
    await service.store.save_control(m["control"]())
    order = m["approved"](qty="10")

    async with service.runtime.engine.connect() as conn:
        batch = await conn.begin()
        await service.prices(m["inbound"](m["signal"]("101", 1), topics.TA_SIGNALS.name), conn)
        await service.prices.flush(conn)  # the price is written, not yet committed
        placing = asyncio.create_task(service.paper.submit(OrderRequest.from_approved(order)))
        await blocked_on_a_lock(service)
        await batch.commit()
    placed = await placing
    assert [(e.event, e.fill_price) for e in placed.events] == [(TradeEvent.NEW, None), (TradeEvent.FILL, D(101))], \
        "the submission waited for the batch and saw its price"


async def test_a_price_batch_committing_while_an_order_is_placed_fills_it(
        offline_router: Any, make_messages: Any) -> None:
    m = make_messages
    service = await offline_router(paper_slippage_bps=0)
    engine = service.runtime.engine
    await service.store.save_control(m["control"]())
    order = m["approved"](qty="10")

    async def price_batch() -> None:
        async with engine.begin() as conn:
            await service.prices(m["inbound"](m["signal"]("101", 1), topics.TA_SIGNALS.name), conn)
            await service.prices.flush(conn)

    async with engine.connect() as conn:
        placement = await conn.begin()
        outputs = await service.intake(m["inbound"](order, topics.ORDERS_APPROVED.name), conn)
        await service.intake.flush(conn)
        assert [o.message.event for o in outputs] == [TradeEvent.NEW], "no price yet: the order rests"
        pricing = asyncio.create_task(price_batch())
        await blocked_on_a_lock(service)
        await placement.commit()
    await pricing

    updates = [topics.TRADE_UPDATES.decode(p.payload.encode()) for p in await service.store.pending_publications()]
    assert [(u.event, u.order.client_order_id, u.fill_price) for u in updates] == [
        (TradeEvent.FILL, order.client_order_id, D(101))], "the batch saw the order and its fill leaves by the outbox"
    assert "update" in service.outbox.wakes.named


async def test_a_fill_of_a_batch_that_rolls_back_never_happened(offline_router: Any, make_messages: Any) -> None:
    m = make_messages
    service = await offline_router(paper_slippage_bps=0)
    engine = service.runtime.engine
    await service.store.save_control(m["control"]())
    order = m["approved"](qty="10")
    async with engine.begin() as conn:
        await service.intake(m["inbound"](order, topics.ORDERS_APPROVED.name), conn)
        await service.intake.flush(conn)

    async with engine.connect() as conn:
        batch = await conn.begin()
        await service.prices(m["inbound"](m["signal"]("101", 1), topics.TA_SIGNALS.name), conn)
        await service.prices.flush(conn)
        await batch.rollback()
    assert await service.store.pending_publications() == []
    assert (await service.paper.get_by_client_order_id(order.client_order_id)).status.value == "new"
