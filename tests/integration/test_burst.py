"""A busy open: 500 symbols cross in the same second, and the chain loses nothing.

Every service in its own process, on the real broker and Postgres. Each of the 500 crossings makes
one trigger, one decision and one verdict; every approved order is filled exactly once (the paper
venue fills on the symbol's next price); no record goes to a dead-letter topic. The firewall's
order-rate limits are raised to their maximum so that the burst is judged on exposure, not refused
after three orders. How fast it happens is measured in bench/, not here.
"""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from torghut_contracts import topics
from torghut_contracts.enums import TradeEvent, VerdictOutcome
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import TaSignal
from torghut_runtime.testing import read_records

pytestmark = pytest.mark.slow
SYMBOLS = 500
MINUTE = 40  # the crossing's minute into the session: every symbol's second signal has this event time


def ticker(i: int) -> str:
    return "B" + "".join(chr(65 + (i // 26**k) % 26) for k in (2, 1, 0))


async def produce_all(bootstrap: str, topic: str, signals: list[TaSignal]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for s in signals:
            await producer.send(topic, topics.TA_SIGNALS.encode(s), key=s.symbol.encode(),
                                headers=MessageHeaders.new(topics.TA_SIGNALS.name).as_kafka())
        await producer.flush()
    finally:
        await producer.stop()


async def test_500_symbols_crossing_in_the_same_second_lose_nothing(start_suite, market) -> None:  # type: ignore[no-untyped-def]
    suite = await start_suite(DECISION_CLIENT_WORKERS="16", RISK_LIMITS__MAX_ORDERS_PER_SECOND="199",
                              RISK_LIMITS__MAX_ORDERS_PER_MINUTE="199")
    await suite.control(kill_switch=False)
    symbols = [ticker(i) for i in range(SYMBOLS)]
    crossings = [market.cross_up(symbol, MINUTE - 1, price=f"{50 + i % 200}.25") for i, symbol in enumerate(symbols)]
    await produce_all(suite.bootstrap, suite.topic(topics.TA_SIGNALS), [first for first, _ in crossings])
    await produce_all(suite.bootstrap, suite.topic(topics.TA_SIGNALS), [second for _, second in crossings])
    assert {second.event_ts for _, second in crossings} == {crossings[0][1].event_ts}, "all in the same second"

    triggers = await suite.wait_for(topics.TRIGGERS, lambda t: True, count=SYMBOLS, timeout=120)
    decisions = await suite.wait_for(topics.DECISIONS, lambda d: True, count=SYMBOLS, timeout=120)
    verdicts = await suite.wait_for(topics.RISK_VERDICTS, lambda v: True, count=SYMBOLS, timeout=120)
    assert sorted(t.model(topics.TRIGGERS).symbol for t in triggers) == sorted(symbols), "one trigger per symbol"
    assert len({d.model(topics.DECISIONS).decision_id for d in decisions}) == SYMBOLS, "one decision per trigger"
    by_decision = {v.model(topics.RISK_VERDICTS).decision_id: v.model(topics.RISK_VERDICTS) for v in verdicts}
    assert len(verdicts) == len(by_decision) == SYMBOLS, "one verdict per decision"

    approved = [v for v in by_decision.values() if v.outcome is VerdictOutcome.APPROVE]
    assert len(approved) > 3, "the burst is judged on its merits, not refused whole"
    prices = [market.signal(s.symbol, MINUTE + 1, macd="0.15", macd_signal="0.00", price=str(s.price))
              for _, s in crossings]
    await produce_all(suite.bootstrap, suite.topic(topics.TA_SIGNALS), prices)  # the fills' next prices
    orders = await suite.wait_for(topics.ORDERS_APPROVED, lambda o: True, count=len(approved), timeout=120)
    assert sorted(o.model(topics.ORDERS_APPROVED).client_order_id for o in orders) == sorted(
        v.client_order_id for v in approved), "an order for every approval, and no other"
    fills = await suite.wait_for(topics.TRADE_UPDATES, lambda u: u.event is TradeEvent.FILL, count=len(approved),
                                 timeout=120)
    filled = {r.model(topics.TRADE_UPDATES).fingerprint: r.model(topics.TRADE_UPDATES) for r in fills}
    assert sorted(u.order.client_order_id for u in filled.values()) == sorted(v.client_order_id for v in approved), \
        "every approved order filled exactly once"
    for spec in topics.ALL_TOPICS:
        dead = await read_records(suite.bootstrap, suite.topic(spec) + ".dlq", expect=0, timeout=0.5)
        assert dead == [], f"{spec.name}.dlq: {[r.headers for r in dead][:3]}"
