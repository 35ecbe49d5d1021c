"""The firewall through the real Tansu broker and a real Postgres.

Decisions in, verdicts and approved orders out; a restart mid-stream resumes with the same
exposure; a replayed decision never yields a second approval or a new client_order_id; a
malformed decision goes to the DLQ and the next one is judged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.enums import Adapter, OrderStatus, Side, TradeEvent, TradingState, VerdictOutcome
from torghut_contracts.models import ControlCommand, OrderState, TradeUpdate
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.domain.ids import client_order_id
from torghut_risk_firewall.testing import ACCOUNT, NOW, account_state, decision
from torghut_runtime import ServiceRuntime
from torghut_runtime.testing import eventually, read_records

Setup = Callable[[ServiceRuntime], Awaitable[None]]
Send = Callable[..., Awaitable[None]]


async def verdicts(kafka_bootstrap: str, prefix: str, expect: int, settle: float = 0.0) -> list[Any]:
    records = await read_records(kafka_bootstrap, prefix + topics.RISK_VERDICTS.name, expect=expect, settle=settle)
    return [record.model(topics.RISK_VERDICTS) for record in records]


async def approved(kafka_bootstrap: str, prefix: str, expect: int, settle: float = 0.0) -> list[Any]:
    records = await read_records(kafka_bootstrap, prefix + topics.ORDERS_APPROVED.name, expect=expect, settle=settle)
    return [record.model(topics.ORDERS_APPROVED) for record in records]


async def test_decisions_in_verdicts_and_approved_orders_out(
        kafka_bootstrap: str, prefix: str, make_firewall: Callable[..., ServiceRuntime], send: Send,
        open_market: Setup) -> None:
    firewall = make_firewall(cooldown_s=0)
    async with firewall.running():
        await send(topics.DECISIONS, decision(decision_id="before-open"))  # kill switch still on: veto
        await eventually(lambda: _has_verdict(firewall, "before-open"), what="the first verdict")
        await open_market(firewall)
        await send(topics.DECISIONS, decision(decision_id="d-buy"), message_id="m-buy")
        await send(topics.DECISIONS, decision("hold", decision_id="d-hold"))
        await send(topics.DECISIONS, decision(symbol="TSLA", decision_id="d-tsla"))
        await send(topics.DECISIONS, decision(qty=150, decision_id="d-big"))
        out = await verdicts(kafka_bootstrap, prefix, expect=5)
        orders = await approved(kafka_bootstrap, prefix, expect=2, settle=0.3)

    by_id = {v.decision_id: v for v in out}
    assert by_id["before-open"].outcome is VerdictOutcome.VETO
    assert r.KILL_SWITCH_ENABLED in by_id["before-open"].reason_codes
    assert by_id["d-buy"].outcome is VerdictOutcome.APPROVE and by_id["d-buy"].approved_qty == 10
    assert by_id["d-hold"].reason_codes == [r.DECISION_HOLD]
    assert by_id["d-tsla"].reason_codes == [r.MARKET_PRICE_UNKNOWN]
    big = by_id["d-big"]
    assert big.outcome is VerdictOutcome.APPROVE and big.approved_qty == 100
    assert big.clamp is not None and r.NOTIONAL_EXCEEDS_MAX in big.clamp.reason_codes
    assert [(o.decision_id, o.qty, o.side) for o in orders] == [("d-buy", 10, Side.BUY), ("d-big", 100, Side.BUY)]
    assert orders[0].client_order_id == by_id["d-buy"].client_order_id == client_order_id(ACCOUNT, "d-buy")
    assert all(len(o.client_order_id) <= 48 for o in orders)


async def _has_verdict(runtime: ServiceRuntime, decision_id: str) -> bool:
    async with runtime.engine.connect() as conn:
        row = (await conn.execute(sa.text("SELECT 1 FROM verdicts WHERE decision_id = :d"), {"d": decision_id})).first()
    return row is not None


def fill(coid: str, qty: int, filled: int, status: OrderStatus, fingerprint: str) -> TradeUpdate:
    return TradeUpdate(
        fingerprint=fingerprint * 64, account=ACCOUNT, venue=Adapter.PAPER,
        event=TradeEvent.FILL if status is OrderStatus.FILLED else TradeEvent.PARTIAL_FILL,
        timestamp=NOW, order=OrderState(client_order_id=coid, symbol="AAPL", side=Side.BUY, qty=Decimal(qty),
                                        filled_qty=Decimal(filled), status=status),
        fill_qty=Decimal(filled), fill_price=Decimal(100))


async def test_a_restart_mid_stream_resumes_with_the_same_exposure(
        kafka_bootstrap: str, prefix: str, make_firewall: Callable[..., ServiceRuntime], send: Send,
        open_market: Setup) -> None:
    first = make_firewall(cooldown_s=0)
    async with first.running():
        await open_market(first)
        await send(topics.DECISIONS, decision(qty=150, decision_id="d1"))  # clamped to 100 (max notional)
        await approved(kafka_bootstrap, prefix, expect=1)
        coid = client_order_id(ACCOUNT, "d1")
        partial = fill(coid, 100, 40, OrderStatus.PARTIALLY_FILLED, "a")
        await send(topics.TRADE_UPDATES, partial)
        await send(topics.TRADE_UPDATES, partial, message_id="resent-by-the-venue")  # same fingerprint: once

        async def filled() -> bool:
            state = await account_state(first.engine)
            return state is not None and state.positions.get("AAPL") == 40
        await eventually(filled, what="the partial fill")
        before = await account_state(first.engine)
    assert before is not None
    assert [(o.client_order_id, o.remaining_qty) for o in before.open_orders] == [(coid, 60)]

    second = make_firewall(cooldown_s=0)
    async with second.running():
        assert await account_state(second.engine) == before
        # Worst case AAPL is 40 filled + 60 open = 100 shares of the 200 the 20% position cap allows.
        await send(topics.DECISIONS, decision(qty=150, decision_id="d2"))
        await send(topics.DECISIONS, decision(qty=10, decision_id="d3"))
        out = await verdicts(kafka_bootstrap, prefix, expect=3)
    by_id = {v.decision_id: v for v in out}
    assert by_id["d2"].outcome is VerdictOutcome.APPROVE and by_id["d2"].approved_qty == 100
    assert by_id["d2"].clamp is not None and r.POSITION_EXCEEDS_MAX in by_id["d2"].clamp.reason_codes
    assert by_id["d3"].outcome is VerdictOutcome.VETO and r.POSITION_EXCEEDS_MAX in by_id["d3"].reason_codes
    async with second.engine.connect() as conn:
        applied = (await conn.execute(sa.text("SELECT count(*) FROM trade_updates_applied"))).scalar_one()
    assert applied == 1


async def test_a_replayed_decision_never_yields_a_second_approval_or_a_new_client_order_id(
        kafka_bootstrap: str, prefix: str, make_firewall: Callable[..., ServiceRuntime], send: Send,
        open_market: Setup) -> None:
    firewall = make_firewall()
    original = decision(decision_id="d-once")
    async with firewall.running():
        await open_market(firewall)
        await send(topics.DECISIONS, original, message_id="first")
        await verdicts(kafka_bootstrap, prefix, expect=1)
        await send(topics.DECISIONS, original, message_id="first")        # a redelivery
        await send(topics.DECISIONS, original, message_id="replay-tool")  # a replay with a new message id
        # Even after the operator turns the kill switch on, a replay returns the recorded verdict.
        await send(topics.CONTROL, ControlCommand(command_id="stop", scope="global", kill_switch=True,
                                                  trading_state=TradingState.HALTED,
                                                  issued_at=NOW + timedelta(minutes=1)), key="global")

        async def halted() -> bool:
            async with firewall.engine.connect() as conn:
                row = (await conn.execute(sa.text("SELECT command_id FROM control_commands WHERE scope='global'")
                                          )).first()
            return row is not None and row[0] == "stop"
        await eventually(halted, what="the kill switch")
        await send(topics.DECISIONS, original, message_id="after-the-kill-switch")
        out = await verdicts(kafka_bootstrap, prefix, expect=4, settle=0.3)
        orders = await approved(kafka_bootstrap, prefix, expect=4, settle=0.3)
        state = await account_state(firewall.engine)
        async with firewall.engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT count(*) FROM verdicts"))).scalar_one()

    assert len(out) == 4 and {v.verdict_id for v in out} == {out[0].verdict_id}
    assert {v.outcome for v in out} == {VerdictOutcome.APPROVE}
    assert {o.client_order_id for o in orders} == {client_order_id(ACCOUNT, "d-once")}
    assert rows == 1
    assert state is not None and len(state.open_orders) == 1 and len(state.recent_approvals) == 1


async def test_a_malformed_decision_goes_to_the_dlq_and_the_next_one_is_judged(
        kafka_bootstrap: str, prefix: str, make_firewall: Callable[..., ServiceRuntime], send: Send,
        open_market: Setup) -> None:
    firewall = make_firewall()
    good = decision(decision_id="d-after")
    broken = json.loads(good.model_dump_json())
    broken["intent"]["qty"] = "-5"
    async with firewall.running():
        await open_market(firewall)
        await send(topics.DECISIONS, None, raw=b"{not json")
        await send(topics.DECISIONS, None, raw=json.dumps(broken).encode())
        await send(topics.DECISIONS, good)
        dead = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name + ".dlq", expect=2)
        out = await verdicts(kafka_bootstrap, prefix, expect=1, settle=0.3)
    assert [d.headers[h.DLQ_REASON] for d in dead] == ["malformed", "schema"]
    assert [v.decision_id for v in out] == ["d-after"] and out[0].outcome is VerdictOutcome.APPROVE
