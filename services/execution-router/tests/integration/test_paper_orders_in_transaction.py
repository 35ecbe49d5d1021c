"""A paper order is placed and recorded in the consumer's transaction.

The paper venue is the router's own database, so the handler does all of it in the runtime's
transaction and returns the trade updates as outputs: rolled back together, and never left for the
outbox to publish a second time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import sqlalchemy as sa
from torghut_contracts import topics
from torghut_contracts.enums import TradeEvent
from torghut_execution_router.domain.paper import Quote
from torghut_execution_router.domain.trade_update import trade_update_message_id


async def rows(service: Any, table: str) -> int:
    async with service.runtime.engine.connect() as conn:
        return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_a_paper_order_rolls_back_whole_and_its_updates_are_the_handlers_outputs(
        offline_router: Any, make_messages: Any) -> None:
    m = make_messages
    service = await offline_router(paper_slippage_bps=0)
    engine = service.runtime.engine
    await service.store.save_control(m["control"]())
    async with engine.begin() as conn:
        await service.paper.on_prices(conn, {"NVDA": [Quote("NVDA", D(100), datetime.now(UTC), 1)]})
    order = m["approved"](qty="10")
    message = m["inbound"](order, topics.ORDERS_APPROVED.name)

    async with engine.connect() as conn:
        transaction = await conn.begin()
        await service.intake(message, conn)
        await service.intake.flush(conn)
        await transaction.rollback()
    assert (await rows(service, "executions"), await rows(service, "paper_orders"),
            await rows(service, "execution_events")) == (0, 0, 0), "the claim and the venue's books roll back together"

    async with engine.begin() as conn:
        outputs = await service.intake(message, conn)
        await service.intake.flush(conn)
    assert [(o.spec, o.message.event, o.message.order.client_order_id) for o in outputs] == [
        (topics.TRADE_UPDATES, TradeEvent.NEW, order.client_order_id),
        (topics.TRADE_UPDATES, TradeEvent.FILL, order.client_order_id)]
    assert [o.message_id for o in outputs] == [trade_update_message_id(o.message.fingerprint) for o in outputs]
    assert {o.correlation_id for o in outputs} == {"corr-test"}
    assert await service.store.pending_publications() == [], "the outbox must not publish them a second time"
    assert service.outbox.wakes.named == set()

    async with engine.begin() as conn:
        assert await service.intake(message, conn) == [], "a redelivery places nothing"
        await service.intake.flush(conn)
    assert (await rows(service, "executions"), await rows(service, "paper_orders")) == (1, 1)


async def test_a_refused_paper_order_is_reported_by_the_handler_too(offline_router: Any, make_messages: Any) -> None:
    m = make_messages
    service = await offline_router()
    order = m["approved"]()
    async with service.runtime.engine.begin() as conn:  # no control command yet: posture unknown, refused
        outputs = await service.intake(m["inbound"](order, topics.ORDERS_APPROVED.name), conn)
        await service.intake.flush(conn)
    assert [(o.message.event, o.message.order.status.value) for o in outputs] == [(TradeEvent.REJECTED, "rejected")]
    assert (await service.store.get(order.client_order_id)).reject_reason == "control_state_unknown"
    assert await rows(service, "paper_orders") == 0
    assert await service.store.pending_publications() == []


async def test_a_group_of_paper_orders_is_booked_against_the_account_it_holds(
        offline_router: Any, make_messages: Any) -> None:
    """A group commit's orders: the paper account is locked and read once, each order is placed against the
    cash the ones before it left (the third finds too little), and the books are written once, at the flush."""
    m = make_messages
    service = await offline_router(paper_slippage_bps=0, paper_starting_cash=D(2500))
    engine = service.runtime.engine
    await service.store.save_control(m["control"]())
    async with engine.begin() as conn:
        await service.paper.on_prices(conn, {"NVDA": [Quote("NVDA", D(100), datetime.now(UTC), 1)]})
    orders = [m["approved"](qty="10") for _ in range(3)]
    statements: list[str] = []
    sa.event.listen(engine.sync_engine, "before_cursor_execute",
                    lambda _c, _cur, statement, *_: statements.append(" ".join(statement.split())))
    async with engine.begin() as conn:
        outputs = [await service.intake(m["inbound"](order, topics.ORDERS_APPROVED.name), conn) for order in orders]
        assert await rows(service, "paper_fills") == 0, "nothing of the books is written before the flush"
        await service.intake.flush(conn)
    events = [[o.message.event for o in out] for out in outputs]
    assert events == [[TradeEvent.NEW, TradeEvent.FILL], [TradeEvent.NEW, TradeEvent.FILL], [TradeEvent.REJECTED]]
    assert len([s for s in statements if "FROM paper_accounts" in s and "FOR UPDATE" in s]) == 1
    assert len([s for s in statements if "UPDATE paper_accounts" in s]) == 1
    async with engine.connect() as conn:
        cash = (await conn.execute(sa.text("SELECT cash FROM paper_accounts"))).scalar_one()
        filled = (await conn.execute(sa.text("SELECT count(*), sum(qty) FROM paper_fills"))).one()
    assert cash == D(500) and tuple(filled) == (2, D(20))
