"""Through the real Tansu broker and Postgres: approved orders in, trade updates and snapshots out.

Covers the paper venue end to end, a replay that must not place a second order, the kill switch
cancelling open orders, and the Alpaca trade-update stream dropping and being reconciled.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import sqlalchemy as sa
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.enums import Adapter, OrderStatus
from torghut_contracts.headers import MessageHeaders
from torghut_runtime.testing import produce, read_records


async def activate(service: Any, kafka_bootstrap: str, prefix: str, messages: Any, until: Any, **how: Any) -> None:
    command = messages["control"](**how)
    await produce(kafka_bootstrap, prefix + topics.CONTROL.name, command, key=command.scope)

    async def applied() -> bool:
        return any(c.command_id == command.command_id for c in (await service.store.control_commands()).values())

    await until(applied, what="the control command to be applied")


async def count(service: Any, table: str) -> int:
    async with service.runtime.engine.connect() as conn:
        return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def updates(kafka_bootstrap: str, prefix: str, expect: int, settle: float = 0.0) -> list[Any]:
    records = await read_records(kafka_bootstrap, prefix + topics.TRADE_UPDATES.name, expect=expect, settle=settle)
    return [(r, r.model(topics.TRADE_UPDATES)) for r in records]


async def test_paper_orders_flow_to_trade_updates_and_a_replay_places_nothing(
        live_router: Any, kafka_bootstrap: str, router_prefix: str, make_messages: Any, until: Any) -> None:
    m, prefix = make_messages, router_prefix
    service = live_router(paper_slippage_bps=5, paper_partial_fill_above_qty=100, paper_fill_chunk_qty=100)
    async with service.runtime.running():
        await activate(service, kafka_bootstrap, prefix, m, until)
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, m["signal"]("100", 1), key="NVDA")
        await until(lambda: count(service, "paper_quotes"), what="the first price")
        small, large = m["approved"](qty="10"), m["approved"](qty="150")
        for order in (small, large):
            origin = MessageHeaders.new(topics.ORDERS_APPROVED.name, correlation_id="corr-" + order.request_id)
            await produce(kafka_bootstrap, prefix + topics.ORDERS_APPROVED.name, order, key=order.account,
                          headers=origin)
        await updates(kafka_bootstrap, prefix, expect=4)
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, m["signal"]("101", 2), key="NVDA")
        out = await updates(kafka_bootstrap, prefix, expect=5)
        # a replay of an approved order (a new message id): no second order, nothing published
        await produce(kafka_bootstrap, prefix + topics.ORDERS_APPROVED.name, small, key=small.account)
        await until(lambda: service.metrics.orders.labels(venue="paper", outcome="replay")._value.get() == 1,
                    what="the replay to be handled")
        out = await updates(kafka_bootstrap, prefix, expect=5, settle=0.5)
        assert await count(service, "executions") == 2 and await count(service, "paper_orders") == 2
        async with service.runtime.engine.connect() as conn:
            executions = {r.client_order_id: (r.status, r.filled_qty, r.feed_seq, r.submit_state, r.venue_order_id)
                          for r in await conn.execute(sa.text("SELECT * FROM executions"))}
            verdicts = sorted(r.verdict for r in await conn.execute(sa.text("SELECT verdict FROM execution_events")))
        snapshots = await read_records(kafka_bootstrap, prefix + topics.ACCOUNT_SNAPSHOTS.name, expect=2)

    assert len(out) == 5
    by_order: dict[str, list[Any]] = {}
    for record, update in out:
        by_order.setdefault(update.order.client_order_id, []).append(update)
        assert record.key == "paper-main" and update.venue is Adapter.PAPER
        expected_corr = "corr-" + (small if update.order.client_order_id == small.client_order_id else large).request_id
        assert record.headers[h.CORRELATION_ID] == expected_corr
    assert [(u.event.value, u.fill_qty, u.fill_price, u.feed_seq) for u in by_order[small.client_order_id]] == [
        ("new", None, None, 1), ("fill", D(10), D("100.05"), 2)]
    assert [(u.event.value, u.fill_qty, u.fill_price, u.feed_seq) for u in by_order[large.client_order_id]] == [
        ("new", None, None, 1), ("partial_fill", D(100), D("100.05"), 2), ("fill", D(50), D("101.06"), 3)]
    assert len({u.fingerprint for _, u in out}) == 5
    # The order's first events are recorded in one insert and one update; the row ends where the feed left it.
    assert {coid: row[:4] for coid, row in executions.items()} == {
        small.client_order_id: ("filled", D(10), 2, "acknowledged"),
        large.client_order_id: ("filled", D(150), 3, "acknowledged")}
    assert all(row[4] is not None and row[4].startswith("paper-") for row in executions.values())
    assert verdicts == ["apply"] * 5
    final = snapshots[-1].model(topics.ACCOUNT_SNAPSHOTS)
    assert final.venue is Adapter.PAPER and final.account == "paper-main"
    assert any(p.symbol == "NVDA" and p.qty > 0 for p in final.positions)


async def test_the_kill_switch_cancels_open_orders_and_refuses_new_ones(
        live_router: Any, kafka_bootstrap: str, router_prefix: str, make_messages: Any, until: Any) -> None:
    m, prefix = make_messages, router_prefix
    service = live_router()
    async with service.runtime.running():
        early = m["approved"]()
        await produce(kafka_bootstrap, prefix + topics.ORDERS_APPROVED.name, early, key=early.account)
        await updates(kafka_bootstrap, prefix, expect=1)   # no operator word yet: refused, not sent
        await activate(service, kafka_bootstrap, prefix, m, until)
        resting = m["approved"](limit="50")
        await produce(kafka_bootstrap, prefix + topics.ORDERS_APPROVED.name, resting, key=resting.account)
        await updates(kafka_bootstrap, prefix, expect=2)
        await activate(service, kafka_bootstrap, prefix, m, until, kill=True)
        await updates(kafka_bootstrap, prefix, expect=3)
        late = m["approved"]()
        await produce(kafka_bootstrap, prefix + topics.ORDERS_APPROVED.name, late, key=late.account)
        out = await updates(kafka_bootstrap, prefix, expect=4, settle=0.3)
        reasons = {coid: (await service.store.get(coid)).reject_reason
                   for coid in (early.client_order_id, late.client_order_id)}

    assert [(u.order.client_order_id, u.event.value, u.order.status) for _, u in out] == [
        (early.client_order_id, "rejected", OrderStatus.REJECTED),
        (resting.client_order_id, "new", OrderStatus.NEW),
        (resting.client_order_id, "canceled", OrderStatus.CANCELED),
        (late.client_order_id, "rejected", OrderStatus.REJECTED),
    ]
    assert reasons == {early.client_order_id: "control_state_unknown", late.client_order_id: "kill_switch_enabled"}


async def test_the_alpaca_stream_drops_and_the_missed_fill_comes_from_reconciliation(
        live_router: Any, kafka_bootstrap: str, router_prefix: str, make_messages: Any, until: Any,
        fake_alpaca: Any) -> None:
    m, prefix = make_messages, router_prefix
    service = live_router(execution_primary_adapter="alpaca", alpaca_api_key_id=fake_alpaca.key,
                          alpaca_api_secret_key=fake_alpaca.secret, alpaca_base_url=fake_alpaca.base_url,
                          alpaca_stream_url=fake_alpaca.stream_url, reconcile_interval_s=3600)
    async with service.runtime.running():
        await until(lambda: fake_alpaca.connections >= 1, what="the trade-updates stream")
        await activate(service, kafka_bootstrap, prefix, m, until)
        order = m["approved"](qty="10")
        await produce(kafka_bootstrap, prefix + topics.ORDERS_APPROVED.name, order, key=order.account)
        await updates(kafka_bootstrap, prefix, expect=1)                       # new (the submit's answer)
        partial = fake_alpaca.set_fill(order.client_order_id, "4", "100")
        await fake_alpaca.push("partial_fill", partial, qty="4", price="100", position_qty="4")
        await fake_alpaca.push("partial_fill", partial, qty="4", price="100", position_qty="4")  # delivered twice
        await updates(kafka_bootstrap, prefix, expect=2)
        # the stream drops; the order fills while nobody listens; no event will ever be replayed
        fake_alpaca.set_fill(order.client_order_id, "10", "100.6")
        await fake_alpaca.drop_stream()
        out = await updates(kafka_bootstrap, prefix, expect=3, settle=0.3)
        reconnects = service.metrics.reconciles.labels(venue="alpaca", trigger="reconnect")._value.get()
        duplicates = service.metrics.duplicates.labels(venue="alpaca", kind="fingerprint")._value.get()

    assert fake_alpaca.connections >= 2 and reconnects >= 2
    assert [(u.event.value, u.order.status, u.fill_qty, u.fill_price, u.feed_seq) for _, u in out] == [
        ("new", OrderStatus.NEW, None, None, 1),
        ("partial_fill", OrderStatus.PARTIALLY_FILLED, D(4), D(100), 2),
        ("fill", OrderStatus.FILLED, D(6), D(101), 3),
    ]
    assert all(u.venue is Adapter.ALPACA for _, u in out)
    assert duplicates == 1
