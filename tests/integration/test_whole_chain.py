"""The whole chain through the real broker and Postgres, every service in its own process.

signal -> trigger -> decision -> verdict -> order -> fill -> position, under one correlation id and
one trace; the kill switch; a SIGKILL mid-stream; a replay into a sandbox; poison on every topic; and the
chain with feature flags on, following a flip made in the flag server's file.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from torghut_cli.demo.processes import ServiceProcess
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.enums import OrderType, Side, TradeEvent, VerdictOutcome
from torghut_contracts.models import ApprovedOrder
from torghut_runtime.testing import Record, create_topics_for, produce, read_records

pytestmark = pytest.mark.slow
FILLS = {TradeEvent.FILL, TradeEvent.PARTIAL_FILL}
FEATURES = Path(__file__).resolve().parents[2] / "deploy/flags/features.yaml"


def trace_id(record: Record) -> str:
    return record.headers[h.TRACEPARENT].split("-")[1]


async def test_signal_to_position_under_one_correlation_id_and_one_trace(start_suite, market) -> None:  # type: ignore[no-untyped-def]
    suite = await start_suite()
    await suite.control(kill_switch=False)
    for s in market.cross_up("AAPL", 30, price="231.40"):
        await suite.send_signal(s)

    fill = (await suite.wait_for(topics.TRADE_UPDATES, lambda u: u.event is TradeEvent.FILL))[0]
    correlation = fill.headers[h.CORRELATION_ID]
    chain = {}
    for spec in (topics.TRIGGERS, topics.DECISIONS, topics.RISK_VERDICTS, topics.ORDERS_APPROVED):
        records = await read_records(suite.bootstrap, suite.topic(spec), expect=1)
        chain[spec.name] = [r for r in records if r.headers[h.CORRELATION_ID] == correlation]
        assert len(chain[spec.name]) == 1, (spec.name, suite.logs())
    trigger = chain[topics.TRIGGERS.name][0].model(topics.TRIGGERS)
    assert trigger.request_id == correlation and trigger.direction is Side.BUY
    decision = chain[topics.DECISIONS.name][0].model(topics.DECISIONS)
    verdict = chain[topics.RISK_VERDICTS.name][0].model(topics.RISK_VERDICTS)
    order = chain[topics.ORDERS_APPROVED.name][0].model(topics.ORDERS_APPROVED)
    assert verdict.outcome is VerdictOutcome.APPROVE, verdict.reason_codes
    assert order.client_order_id == verdict.client_order_id == fill.model(topics.TRADE_UPDATES).order.client_order_id
    assert order.qty == decision.intent.qty or order.clamp is not None
    traces = {name: trace_id(records[0]) for name, records in chain.items()} | {"fill": trace_id(fill)}
    assert len(set(traces.values())) == 1, f"one trace across every hop, got {traces}"

    filled = fill.model(topics.TRADE_UPDATES).order.filled_qty
    snapshot = (await suite.wait_for(topics.ACCOUNT_SNAPSHOTS, lambda s: any(p.symbol == "AAPL" for p in s.positions)))[
        -1
    ]
    position = next(p for p in snapshot.model(topics.ACCOUNT_SNAPSHOTS).positions if p.symbol == "AAPL")
    assert position.qty == filled

    # Replaying the day's decisions into a sandbox, through a second firewall and router sharing the
    # same state, places zero new orders: every id downstream is derived from the decision.
    sandbox = "sandbox." + suite.prefix
    await create_topics_for(suite.bootstrap, sandbox, *topics.ALL_TOPICS)
    for spec in (topics.CONTROL, topics.DECISIONS):
        originals = await read_records(suite.bootstrap, suite.topic(spec), expect=1)
        for r in originals:
            await produce(
                suite.bootstrap,
                sandbox + spec.name,
                r.value,
                key=r.key,
                headers={**r.headers, h.REPLAY_ORIGINAL_TOPIC: r.topic},
            )
    originals = {
        r.model(topics.TRADE_UPDATES).fingerprint
        for r in await read_records(suite.bootstrap, suite.topic(topics.TRADE_UPDATES), expect=1)
    }
    replayers = []
    for name in ("risk-firewall", "execution-router"):
        original = suite.services[name]
        replay = ServiceProcess(
            f"{name}-sandbox", original.module, {**original.env, "TOPIC_PREFIX": sandbox}, suite.log_dir
        )
        replay.start()
        replayers.append(replay)
    try:
        for replay in replayers:
            replay.wait_ready(timeout_s=90)
        replayed = await suite.wait_for(topics.ORDERS_APPROVED, prefix=sandbox, predicate=lambda o: True)
        assert [r.model(topics.ORDERS_APPROVED).client_order_id for r in replayed] == [order.client_order_id]
        await asyncio.sleep(3)  # give the sandbox router time to (wrongly) place something
        sandbox_updates = await read_records(suite.bootstrap, sandbox + topics.TRADE_UPDATES.name, expect=0, timeout=2)
        assert {r.model(topics.TRADE_UPDATES).fingerprint for r in sandbox_updates} <= originals
    finally:
        for replay in replayers:
            replay.stop()


async def test_the_kill_switch_stops_new_orders_and_cancels_open_ones(start_suite, market) -> None:  # type: ignore[no-untyped-def]
    suite = await start_suite()
    await suite.control(kill_switch=False)
    resting = ApprovedOrder(
        client_order_id="th-e2e-resting-limit-0001",
        decision_id="dec-e2e-resting",
        request_id="req-e2e-resting",
        account=market.account,
        symbol="MSFT",
        side=Side.BUY,
        qty=Decimal(5),
        order_type=OrderType.LIMIT,
        limit_price=Decimal("50"),
        reference_price=Decimal("412.10"),
        max_slippage_bps=Decimal(25),
        approved_at=market.signal("MSFT", 10, macd="0", macd_signal="0").event_ts,
    )
    await suite.send_signal(market.signal("MSFT", 10, macd="0", macd_signal="0", price="412.10"))
    await produce(suite.bootstrap, suite.topic(topics.ORDERS_APPROVED), resting, key=market.account)
    await suite.wait_for(
        topics.TRADE_UPDATES, lambda u: u.order.client_order_id == resting.client_order_id and u.event is TradeEvent.NEW
    )

    await suite.control(kill_switch=True)
    await suite.wait_for(
        topics.TRADE_UPDATES,
        lambda u: u.order.client_order_id == resting.client_order_id and u.event is TradeEvent.CANCELED,
    )

    for s in market.cross_up("AAPL", 40, price="231.40"):
        await suite.send_signal(s)
    verdict = (await suite.wait_for(topics.RISK_VERDICTS, lambda v: v.symbol == "AAPL"))[0].model(topics.RISK_VERDICTS)
    assert verdict.outcome is VerdictOutcome.VETO
    assert any("kill_switch" in code for code in verdict.reason_codes), verdict.reason_codes
    approved = await read_records(suite.bootstrap, suite.topic(topics.ORDERS_APPROVED), expect=2, timeout=2)
    assert [r.model(topics.ORDERS_APPROVED).symbol for r in approved] == ["MSFT"], "no order after the switch"


async def test_a_service_killed_mid_stream_loses_nothing_and_duplicates_no_order(start_suite, market) -> None:  # type: ignore[no-untyped-def]
    suite = await start_suite()
    await suite.control(kill_switch=False)
    symbols = ["AAPL", "MSFT", "NVDA", "AMD"]
    prices = {"AAPL": "231.40", "MSFT": "412.10", "NVDA": "182.75", "AMD": "161.20"}
    for i, symbol in enumerate(symbols):  # a few minutes apart: the firewall's order-rate limit is real
        for s in market.cross_up(symbol, 50 + 3 * i, price=prices[symbol]):
            await suite.send_signal(s)
    # Kill the firewall and the router as the first order is approved, while the other decisions
    # are still in flight; they are redelivered to the restarted processes.
    await suite.wait_for(topics.ORDERS_APPROVED, lambda o: True)
    suite.services["execution-router"].kill()
    suite.services["risk-firewall"].kill()
    suite.restart("risk-firewall")
    suite.restart("execution-router")

    approved = await suite.wait_for(topics.ORDERS_APPROVED, lambda o: True, count=len(symbols), timeout=90)
    orders = {r.model(topics.ORDERS_APPROVED).client_order_id for r in approved}
    assert len(orders) == len(symbols), "one order per decision, redeliveries included"
    fills = await suite.wait_for(
        topics.TRADE_UPDATES, lambda u: u.event is TradeEvent.FILL, count=len(symbols), timeout=90
    )
    by_fingerprint = {r.model(topics.TRADE_UPDATES).fingerprint: r.model(topics.TRADE_UPDATES) for r in fills}
    filled = sorted(u.order.client_order_id for u in by_fingerprint.values())
    assert filled == sorted(orders), "every order filled exactly once"
    news = await suite.wait_for(topics.TRADE_UPDATES, lambda u: u.event is TradeEvent.NEW, count=len(symbols))
    assert len({r.model(topics.TRADE_UPDATES).fingerprint for r in news}) == len(symbols), "no second order"


async def test_poison_on_every_topic_lands_in_its_dlq_while_the_chain_flows(start_suite, market) -> None:  # type: ignore[no-untyped-def]
    suite = await start_suite()
    await suite.control(kill_switch=False)
    consumed = (
        topics.TA_SIGNALS,
        topics.TRIGGERS,
        topics.DECISIONS,
        topics.ORDERS_APPROVED,
        topics.TRADE_UPDATES,
        topics.ACCOUNT_SNAPSHOTS,
        topics.CONTROL,
    )
    for spec in consumed:
        await produce(suite.bootstrap, suite.topic(spec), b'{"poison": true', key="poison")
    for s in market.cross_up("NVDA", 60, price="182.75"):
        await suite.send_signal(s)
    await suite.wait_for(topics.TRADE_UPDATES, lambda u: u.event is TradeEvent.FILL and u.order.symbol == "NVDA")
    for spec in consumed:
        dead = await read_records(suite.bootstrap, suite.topic(spec) + ".dlq", expect=1, timeout=30)
        assert dead, f"{spec.name}: the poison message is in its DLQ"
        assert all(r.value == b'{"poison": true' and r.headers[h.DLQ_REASON] == "malformed" for r in dead)


async def metric_value(url: str, name: str, *labels: str) -> float:
    """The sum of a service's /metrics samples of ``name`` carrying every label in ``labels`` (0 when none)."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{url}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") and all(label in line for label in labels))


async def until_metric(url: str, sample: tuple[str, ...], at_least: float, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await metric_value(url, *sample) < at_least:
        assert asyncio.get_running_loop().time() < deadline, f"{sample} never reached {at_least} at {url}"
        await asyncio.sleep(0.2)


async def test_the_chain_runs_with_feature_flags_on_and_follows_a_flip(  # type: ignore[no-untyped-def]
        start_suite, market, flags_server) -> None:
    flags_server.write(FEATURES.read_text())
    suite = await start_suite(TRADING_FEATURE_FLAGS_ENABLED="true", TRADING_FEATURE_FLAGS_URL=flags_server.url,
                              TRADING_FEATURE_FLAGS_REFRESH_INTERVAL_S="0.5")
    await suite.control(kill_switch=False)
    for s in market.cross_up("AAPL", 30, price="231.40"):
        await suite.send_signal(s)
    await suite.wait_for(topics.TRADE_UPDATES, lambda u: u.event in FILLS and u.order.symbol == "AAPL")

    # Quote required (the file's value, a safety): a cross without a quote is gated, no trigger.
    trigger_url = suite.services["signal-trigger"].url
    gated = ("torghut_signal_trigger_gated_total", 'reason="missing_quote"')
    for s in market.cross_up("MSFT", 40, price="410.00"):
        await suite.send_signal(s.model_copy(update={"bid": None, "ask": None}))
    await until_metric(trigger_url, gated, 2)
    triggers = await read_records(suite.bootstrap, suite.topic(topics.TRIGGERS), expect=10_000, timeout=1)
    assert not [r for r in triggers if r.model(topics.TRIGGERS).symbol == "MSFT"]

    # The operator turns the gate off in the flag file: the running signal-trigger picks it up from the
    # server (a loosening flip, so only a server answer may make it). The next quote-less cross passes the
    # gate and reaches the strategy, whose own quote filter (strategy config, not a flag) still refuses it.
    gate = ("key: torghut_trading_signal_require_quote\n    name: Quote required\n"
            '    description: "Signals without a two-sided quote are gated (SIGNAL_REQUIRE_QUOTE)."\n'
            "    type: BOOLEAN_FLAG_TYPE\n    enabled: ")
    features = FEATURES.read_text()
    assert gate + "true" in features
    flags_server.write(features.replace(gate + "true", gate + "false"))
    await until_metric(trigger_url, ("torghut_feature_flag_changes_total",
                                     'flag="torghut_trading_signal_require_quote"', 'source="server"'), 1)
    for s in market.cross_up("NVDA", 50, price="120.00"):
        await suite.send_signal(s.model_copy(update={"bid": None, "ask": None}))
    await until_metric(trigger_url, ("torghut_signal_trigger_suppressed_total", 'reason="filter_missing_quote"'), 1)
    assert await metric_value(trigger_url, *gated) == 2, "after the flip the gate lets quote-less signals through"
