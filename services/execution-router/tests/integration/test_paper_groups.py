"""A group commit's paper orders: looked up once, placed in memory, written at the flush.

The runtime hands the intake a fetch's approved orders in one transaction and calls its ``prepare``
first. Their executions are looked up in one statement, each new one is placed against the paper
account the transaction holds, and the executions, their first events and the paper books are
written at the flush, a few statements whatever the group's size.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
import sqlalchemy as sa
from torghut_contracts import topics
from torghut_contracts.enums import TradeEvent
from torghut_execution_router.domain.paper import Quote


async def count(service: Any, table: str) -> int:
    async with service.runtime.engine.connect() as conn:
        return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def ready(offline_router: Any, make_messages: Any) -> Any:
    service = await offline_router(paper_slippage_bps=0)
    await service.store.save_control(make_messages["control"]())
    async with service.runtime.engine.begin() as conn:
        await service.paper.on_prices(conn, {s: [Quote(s, D(100), datetime.now(UTC), 1)] for s in ("NVDA", "AMD")})
    return service


async def run_group(service: Any, messages: list[Any]) -> list[list[Any]]:
    async with service.runtime.engine.begin() as conn:
        await service.intake.prepare(conn, messages)
        outputs = [await service.intake(message, conn) for message in messages]
        await service.intake.flush(conn)
    return outputs


async def test_a_group_is_looked_up_once_and_written_once(offline_router: Any, make_messages: Any) -> None:
    """Two new orders, one sent twice in the group (a second approval message for the same order) and
    one the router already has: the new ones are placed once each, the others replay, and the whole
    group costs one lookup, one read of the venue's book and one insert per table."""
    m = make_messages
    service = await ready(offline_router, m)
    earlier = m["approved"](symbol="AMD")
    await run_group(service, [m["inbound"](earlier, topics.ORDERS_APPROVED.name)])
    first, second = m["approved"](), m["approved"](symbol="AMD")
    group = [m["inbound"](o, topics.ORDERS_APPROVED.name) for o in (first, second, first, earlier)]
    statements: list[str] = []
    sa.event.listen(service.runtime.engine.sync_engine, "before_cursor_execute",
                    lambda _c, _cur, statement, *_: statements.append(" ".join(statement.split())))

    outputs = await run_group(service, group)

    assert [[(o.message.event, o.message.order.client_order_id) for o in out] for out in outputs] == [
        [(TradeEvent.NEW, first.client_order_id), (TradeEvent.FILL, first.client_order_id)],
        [(TradeEvent.NEW, second.client_order_id), (TradeEvent.FILL, second.client_order_id)], [], []]
    assert (await count(service, "executions"), await count(service, "paper_orders"),
            await count(service, "execution_events")) == (3, 3, 6)

    def times(prefix: str) -> int:
        return len([s for s in statements if s.startswith(prefix)])
    assert times("SELECT executions.") == 1, "the group's executions are looked up in one statement"
    assert times("SELECT control_commands.") == 1, "the posture is read once for the group"
    books = ("paper_positions", "paper_orders", "paper_quotes")
    read = [s for s in statements if s.startswith("SELECT") and any(f"FROM {t} " in s for t in books)]
    assert len(read) == 1, "the positions, the open orders with the venue's dedupe and both symbols' prices: one read"
    assert all(f"FROM {t} " in read[0] for t in books)
    writes = ("INSERT INTO paper_", "UPDATE paper_", "DELETE FROM paper_")
    written = [s for s in statements if any(w in s for w in writes)]
    assert len(written) == 1, "the account, its positions, orders and fills are written in one statement"
    assert (times("INSERT INTO executions"), times("INSERT INTO execution_events")) == (1, 1)
    assert times("UPDATE executions") == 0, "a new execution is written with the state its placement left"
    async with service.runtime.engine.connect() as conn:
        states = dict((await conn.execute(sa.text("SELECT client_order_id, submit_state FROM executions"))).all())
    assert states[first.client_order_id] == states[second.client_order_id] == "acknowledged"


async def test_an_order_another_replica_wrote_meanwhile_fails_the_group(
        offline_router: Any, make_messages: Any) -> None:
    """Two replicas with the same order (a rebalance): the second looked it up before the first
    committed, so it takes it as new, and its write fails the whole transaction, naming the order. The
    group run again finds the order and places nothing: one execution, one paper order."""
    m = make_messages
    first_replica = await ready(offline_router, m)
    second_replica = await offline_router(paper_slippage_bps=0)
    order = m["approved"]()
    group = [m["inbound"](order, topics.ORDERS_APPROVED.name)]
    async with second_replica.runtime.engine.connect() as conn:
        transaction = await conn.begin()
        await second_replica.intake.prepare(conn, group)
        assert [len(out) for out in await run_group(first_replica, group)] == [2]
        # It looked before the first replica committed; the paper venue's own dedupe, read after, answers
        # with the order as the first replica left it.
        assert [o.message.event for o in await second_replica.intake(group[0], conn)] == [TradeEvent.FILL]
        with pytest.raises(RuntimeError, match=f"executions \\['{order.client_order_id}'\\] were written by another"):
            await second_replica.intake.flush(conn)
        await transaction.rollback()
    second_replica.intake.discard()

    assert await run_group(second_replica, group) == [[]]
    assert (await count(second_replica, "executions"), await count(second_replica, "paper_orders")) == (1, 1)
