"""What the router publishes on ``torghut.trade-updates.v1`` parses with alpaca-py's own model, per venue.

Each test runs the router against the real broker and Postgres (and, for Alpaca and LEAN, their
local stand-ins), reads the records off the topic, and parses every one with
``alpaca.trading.models.TradeUpdate``; ``as_alpaca`` asserts both readings carry the same facts.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
import sqlalchemy as sa
from alpaca.trading.models import TradeUpdate as AlpacaTradeUpdate
from pydantic import ValidationError
from torghut_contracts import topics
from torghut_contracts.enums import Adapter
from torghut_contracts.models.execution import derived_execution_id, derived_order_id
from torghut_runtime.testing import produce, read_records


async def activate(service: Any, bootstrap: str, prefix: str, messages: Any, until: Any, **how: Any) -> None:
    command = messages["control"](**how)
    await produce(bootstrap, prefix + topics.CONTROL.name, command, key=command.scope)

    async def applied() -> bool:
        return any(c.command_id == command.command_id for c in (await service.store.control_commands()).values())

    await until(applied, what="the control command to be applied")


async def approve(bootstrap: str, prefix: str, order: Any) -> None:
    await produce(bootstrap, prefix + topics.ORDERS_APPROVED.name, order, key=order.account)


async def has_price(service: Any) -> bool:
    async with service.runtime.engine.connect() as conn:
        return bool((await conn.execute(sa.text("SELECT count(*) FROM paper_quotes"))).scalar_one())


async def published(bootstrap: str, prefix: str, expect: int, settle: float = 0.0) -> list[bytes]:
    records = await read_records(bootstrap, prefix + topics.TRADE_UPDATES.name, expect=expect, settle=settle)
    return [r.value for r in records]


async def test_the_paper_venues_trade_updates_parse_with_alpacas_model(
        live_router: Any, kafka_bootstrap: str, router_prefix: str, make_messages: Any, until: Any,
        as_alpaca: Any) -> None:
    m, prefix = make_messages, router_prefix
    service = live_router(paper_slippage_bps=5, paper_partial_fill_above_qty=100, paper_fill_chunk_qty=100)
    async with service.runtime.running():
        early = m["approved"]()
        await approve(kafka_bootstrap, prefix, early)                         # no operator word yet: rejected
        await published(kafka_bootstrap, prefix, expect=1)
        await activate(service, kafka_bootstrap, prefix, m, until)
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, m["signal"]("100", 1), key="NVDA")
        await until(lambda: has_price(service), what="the first price")
        small, large, resting = m["approved"](qty="10"), m["approved"](qty="150"), m["approved"](limit="50")
        for order in (small, large, resting):
            await approve(kafka_bootstrap, prefix, order)
        await published(kafka_bootstrap, prefix, expect=6)                    # new+fill, new+partial, new
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, m["signal"]("101", 2), key="NVDA")
        await published(kafka_bootstrap, prefix, expect=7)                    # the large order's last fill
        await activate(service, kafka_bootstrap, prefix, m, until, kill=True)  # cancels the resting limit
        wires = await published(kafka_bootstrap, prefix, expect=8, settle=0.3)

    parsed = [as_alpaca(w) for w in wires]
    assert len(parsed) == 8
    assert sorted((ours.order.client_order_id, theirs.event) for ours, theirs in parsed) == sorted([
        (early.client_order_id, "rejected"), (small.client_order_id, "new"), (small.client_order_id, "fill"),
        (large.client_order_id, "new"), (large.client_order_id, "partial_fill"), (large.client_order_id, "fill"),
        (resting.client_order_id, "new"), (resting.client_order_id, "canceled")])
    approved_at = {o.client_order_id: o.approved_at for o in (early, small, large, resting)}
    for ours, theirs in parsed:
        assert ours.venue is Adapter.PAPER
        assert theirs.order.id == derived_order_id(ours.order.client_order_id)
        assert theirs.execution_id == derived_execution_id(ours.fingerprint)
        assert theirs.order.created_at == theirs.order.submitted_at == approved_at[ours.order.client_order_id]
    fills = [(theirs.order.client_order_id, theirs.qty, theirs.price, theirs.position_qty)
             for _, theirs in parsed if theirs.event in ("fill", "partial_fill")]
    assert fills == [(small.client_order_id, 10.0, 100.05, 10.0), (large.client_order_id, 100.0, 100.05, 110.0),
                     (large.client_order_id, 50.0, 101.06, 160.0)]


async def test_alpacas_trade_updates_parse_with_alpacas_model(
        live_router: Any, kafka_bootstrap: str, router_prefix: str, make_messages: Any, until: Any,
        fake_alpaca: Any, as_alpaca: Any) -> None:
    m, prefix = make_messages, router_prefix
    service = live_router(execution_primary_adapter="alpaca", alpaca_api_key_id=fake_alpaca.key,
                          alpaca_api_secret_key=fake_alpaca.secret, alpaca_base_url=fake_alpaca.base_url,
                          alpaca_stream_url=fake_alpaca.stream_url, reconcile_interval_s=3600)
    async with service.runtime.running():
        await until(lambda: fake_alpaca.connections >= 1, what="the trade-updates stream")
        await activate(service, kafka_bootstrap, prefix, m, until)
        refused, order = m["approved"](), m["approved"](qty="10")
        fake_alpaca.next_submit("error", status=403, code=40310000, message="insufficient buying power")
        await approve(kafka_bootstrap, prefix, refused)
        await published(kafka_bootstrap, prefix, expect=1)                    # rejected (never reached Alpaca)
        await approve(kafka_bootstrap, prefix, order)
        await published(kafka_bootstrap, prefix, expect=2)                    # new (the submit's answer)
        executions = [str(uuid.uuid4()), str(uuid.uuid4())]
        partial = fake_alpaca.set_fill(order.client_order_id, "4", "100")
        await fake_alpaca.push("partial_fill", partial, qty="4", price="100", position_qty="4",
                               execution_id=executions[0])
        await published(kafka_bootstrap, prefix, expect=3)
        filled = fake_alpaca.set_fill(order.client_order_id, "10", "100.6")
        await fake_alpaca.push("fill", filled, qty="6", price="101", position_qty="10", execution_id=executions[1])
        wires = await published(kafka_bootstrap, prefix, expect=4, settle=0.3)

    parsed = [as_alpaca(w) for w in wires]
    venue_id = uuid.UUID(fake_alpaca.order_for(order.client_order_id)["id"])
    assert [(theirs.event, theirs.order.status.value, theirs.order.id, theirs.qty, theirs.price,
             theirs.position_qty, theirs.execution_id) for _, theirs in parsed] == [
        ("rejected", "rejected", derived_order_id(refused.client_order_id), None, None, None, None),
        ("new", "new", venue_id, None, None, None, None),
        ("partial_fill", "partially_filled", venue_id, 4.0, 100.0, 4.0, uuid.UUID(executions[0])),
        ("fill", "filled", venue_id, 6.0, 101.0, 10.0, uuid.UUID(executions[1])),
    ]
    stored = fake_alpaca.order_for(order.client_order_id)
    for ours, theirs in parsed[1:]:
        assert ours.venue is Adapter.ALPACA and ours.order.venue_order_id == str(venue_id)
        assert theirs.order.created_at.isoformat().replace("+00:00", "Z") == stored["created_at"]
    assert [(D(str(t.order.filled_qty)), t.order.filled_avg_price) for _, t in parsed[2:]] == \
        [(D(4), "100"), (D(10), "100.6")]


async def test_an_unknown_outcome_is_the_one_update_alpacas_model_refuses(
        offline_router: Any, fake_alpaca: Any, make_messages: Any, until: Any, as_alpaca: Any) -> None:
    """A submit that timed out is published as ``pending_new`` with status ``unknown`` (Torghut's, not in
    Alpaca's OrderStatus); once reconciled, the order's updates parse again."""
    fake_alpaca.next_submit("slow", delay_s=0.8, create="after")
    service = await offline_router(
        execution_primary_adapter="alpaca", alpaca_api_key_id=fake_alpaca.key, alpaca_api_secret_key=fake_alpaca.secret,
        alpaca_base_url=fake_alpaca.base_url, alpaca_stream_enabled=False, alpaca_http_timeout_s=0.3)
    await service.store.save_control(make_messages["control"]())
    order = make_messages["approved"]()
    await service.intake.on_approved(make_messages["inbound"](order, topics.ORDERS_APPROVED.name), None)
    await until(lambda: order.client_order_id in fake_alpaca.by_client, what="the venue to register the slow order")
    await service.reconciler.reconcile_all("timer")
    unknown, new = [p.payload.encode() for p in await service.store.pending_publications()]

    with pytest.raises(ValidationError) as refused:
        AlpacaTradeUpdate.model_validate(json.loads(unknown))
    assert [e["loc"] for e in refused.value.errors()] == [("order", "status")]
    assert topics.TRADE_UPDATES.decode(unknown).order.status.value == "unknown"
    _, theirs = as_alpaca(new)
    assert theirs.order.id == uuid.UUID(fake_alpaca.order_for(order.client_order_id)["id"])


async def test_leans_trade_updates_parse_with_alpacas_model(
        live_router: Any, kafka_bootstrap: str, router_prefix: str, make_messages: Any, until: Any,
        fake_lean: Any, as_alpaca: Any) -> None:
    m, prefix = make_messages, router_prefix
    service = live_router(execution_primary_adapter="lean", lean_runner_url=fake_lean.base_url,
                          execution_fallback_adapter="paper", execution_lean_symbol_policy="all")
    async with service.runtime.running():
        await activate(service, kafka_bootstrap, prefix, m, until)
        filled, resting = m["approved"](qty="10"), m["approved"](limit="50")
        for order in (filled, resting):
            await approve(kafka_bootstrap, prefix, order)
        await published(kafka_bootstrap, prefix, expect=2)                    # accepted, accepted
        lean_order = fake_lean.orders[filled.client_order_id]
        lean_order.update(status="filled", filled_qty="10", filled_avg_price="100.5",
                          updated_at=datetime.now(UTC).isoformat())
        await published(kafka_bootstrap, prefix, expect=3)                    # the fill, found by reconciliation
        await activate(service, kafka_bootstrap, prefix, m, until, kill=True)  # cancels the resting order
        wires = await published(kafka_bootstrap, prefix, expect=4, settle=0.3)

    parsed = [as_alpaca(w) for w in wires]
    assert [(ours.order.client_order_id, theirs.event, theirs.order.status.value) for ours, theirs in parsed] == [
        (filled.client_order_id, "accepted", "accepted"), (resting.client_order_id, "accepted", "accepted"),
        (filled.client_order_id, "fill", "filled"), (resting.client_order_id, "canceled", "canceled")]
    for ours, theirs in parsed:
        assert ours.venue is Adapter.LEAN and ours.order.venue_order_id == fake_lean.orders[
            ours.order.client_order_id]["id"]
        assert theirs.order.id == derived_order_id(ours.order.client_order_id)
        assert theirs.execution_id == derived_execution_id(ours.fingerprint)
        assert theirs.order.created_at == theirs.order.submitted_at, "the runner gives no created_at"
    fill = parsed[2][1]
    assert (fill.qty, fill.price, fill.order.filled_avg_price) == (10.0, 100.5, "100.5")
