"""Two replicas of each per-record service, one killed mid-stream: the suite stays correct.

Every topic has three partitions. Signal-trigger, decision-client, risk-firewall and execution-router
each run as two processes in the same consumer groups (the decision-engine, stateless behind HTTP,
as one). Signals arrive in three waves: as the first wave's first order is approved, the first
process of each service is SIGKILLed and the second takes its partitions (and its claims, once their
lease runs out); later the first comes back and the second is killed, so whichever process held
the account's partition has died holding it.

Nothing may be lost or doubled: every crossing gets one trigger, one decision and one verdict,
no decision is approved twice, no order is submitted twice, every order fills once. The book must
be the one a single process of each makes of the same signals (the test runs both ways): each
symbol bought once, at the paper venue's fill price, for the same quantity.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal

import pytest
from torghut_contracts import topics
from torghut_contracts.enums import Side, TradeEvent, VerdictOutcome
from torghut_execution_router.domain.paper import slipped_price
from torghut_runtime.testing import read_records

pytestmark = pytest.mark.slow
REPLICATED = ("signal-trigger", "decision-client", "risk-firewall", "execution-router")
PRICES = {"AAPL": "231.40", "MSFT": "412.10", "NVDA": "182.75", "AMD": "161.20", "META": "602.30",
          "AMZN": "219.90", "GOOG": "188.15", "TSLA": "351.60", "NFLX": "884.50", "INTC": "21.35",
          "ORCL": "142.70", "CSCO": "58.40"}
WAVES = (("AAPL", "MSFT", "NVDA", "AMD"), ("META", "AMZN", "GOOG", "TSLA"), ("NFLX", "INTC", "ORCL", "CSCO"))
NOTIONAL = Decimal(2000)
"""Per trade: twelve symbols stay far inside every exposure limit, so each symbol is bought exactly once,
and its quantity is the notional cap's whatever order the decisions are judged in."""
SLIPPAGE_BPS = Decimal(5)
"""The paper venue's default fill model: the latest price, moved 5 bps against the trader."""
FILLS = {TradeEvent.FILL, TradeEvent.PARTIAL_FILL}


WAVE_MINUTES = (40, 50, 60)
"""Each wave's symbols cross together at this minute of the session (their first signal a minute before)."""


async def send_wave(suite, market, wave: int) -> None:  # type: ignore[no-untyped-def]
    """Every symbol of the wave crosses in the same minute. Event time stays close together on purpose: in
    replay (CLOCK=event) signal-trigger judges staleness against the latest event time either replica has
    seen (docs/deploy.md), so signals spread over minutes could be stale to a replica that lags."""
    for symbol in WAVES[wave]:
        for s in market.cross_up(symbol, WAVE_MINUTES[wave] - 1, price=PRICES[symbol]):
            await suite.send_signal(s)


async def fills_by_order(suite) -> dict[str, list]:  # type: ignore[no-untyped-def]
    records = await read_records(suite.bootstrap, suite.topic(topics.TRADE_UPDATES), expect=10_000, timeout=0.5)
    unique = {r.model(topics.TRADE_UPDATES).fingerprint: r.model(topics.TRADE_UPDATES) for r in records}
    fills: dict[str, list] = defaultdict(list)
    for update in unique.values():
        if update.event in FILLS:
            fills[update.order.client_order_id].append(update)
    return fills


async def tick_until_filled(suite, market, wave: int, timeout_s: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    """The paper venue fills on a symbol's next price: keep every unfilled symbol's (unchanged) price
    coming, a second of event time apart, until each is filled."""
    symbols = tuple(symbol for symbols in WAVES[:wave + 1] for symbol in symbols)
    deadline = asyncio.get_running_loop().time() + timeout_s
    tick = 0
    while asyncio.get_running_loop().time() < deadline:
        fills = await fills_by_order(suite)
        filled = {updates[0].order.symbol for updates in fills.values()
                  if sum(u.fill_qty for u in updates) == updates[0].order.qty}
        waiting = [s for s in symbols if s not in filled]
        if not waiting:
            return
        tick += 1
        for symbol in waiting:
            s = market.signal(symbol, WAVE_MINUTES[wave], macd="0.20", macd_signal="0.00", price=PRICES[symbol],
                              seq=WAVE_MINUTES[wave] * 1000 + tick)
            await suite.send_signal(s.model_copy(update={"event_ts": s.event_ts + timedelta(seconds=tick)}))
        await asyncio.sleep(1.0)
    raise AssertionError(f"not filled: {waiting}\n{suite.logs()}")


def expected_book() -> dict[str, tuple[Decimal, Decimal]]:
    """(quantity, fill price) per symbol, as one process of each service makes it."""
    book = {}
    for symbol, text in PRICES.items():
        price = Decimal(text)
        book[symbol] = ((NOTIONAL / price).to_integral_value(ROUND_FLOOR), slipped_price(Side.BUY, price, SLIPPAGE_BPS))
    return book


@pytest.mark.parametrize("replicas", [1, 2])
async def test_a_replica_killed_mid_stream_loses_nothing_doubles_nothing_and_books_the_same(  # type: ignore[no-untyped-def]
        start_suite, market, replicas: int) -> None:
    suite = await start_suite(partitions=3, DECISION_CLIENT_WORKERS="4", RISK_MAX_NOTIONAL_PER_TRADE=str(NOTIONAL),
                              RISK_LIMITS__MAX_ORDERS_PER_SECOND="199", RISK_LIMITS__MAX_ORDERS_PER_MINUTE="199")
    seconds = [suite.add_replica(name) for name in REPLICATED] if replicas == 2 else []
    await suite.control(kill_switch=False)

    await send_wave(suite, market, 0)
    await suite.wait_for(topics.ORDERS_APPROVED, lambda o: True)
    if seconds:
        for name in REPLICATED:  # the first of each dies with records in hand; the second takes over
            suite.services[name].kill()
    await tick_until_filled(suite, market, 0)
    await send_wave(suite, market, 1)
    await tick_until_filled(suite, market, 1)
    if seconds:
        for name in REPLICATED:
            suite.restart(name)
        for second in seconds:
            second.kill()
    await send_wave(suite, market, 2)
    await tick_until_filled(suite, market, 2)

    crossings = sum(len(wave) for wave in WAVES)
    triggers = await suite.wait_for(topics.TRIGGERS, lambda t: True, count=crossings)
    assert len({r.model(topics.TRIGGERS).request_id for r in triggers}) == crossings, "one trigger per crossing"
    decisions = await suite.wait_for(topics.DECISIONS, lambda d: True, count=crossings)
    assert len({r.model(topics.DECISIONS).decision_id for r in decisions}) == crossings, "one decision each"
    verdicts = await suite.wait_for(topics.RISK_VERDICTS, lambda v: True, count=crossings)
    judged: dict[str, set[tuple[VerdictOutcome, str]]] = defaultdict(set)
    for r in verdicts:
        verdict = r.model(topics.RISK_VERDICTS)
        judged[verdict.decision_id].add((verdict.outcome, verdict.client_order_id))
    assert len(judged) == crossings and all(len(seen) == 1 for seen in judged.values()), \
        "every decision judged once: a redelivered one gets the same verdict again, never a second"
    assert {outcome for seen in judged.values() for outcome, _ in seen} == {VerdictOutcome.APPROVE}, judged

    approved = await suite.wait_for(topics.ORDERS_APPROVED, lambda o: True, count=crossings)
    orders = {r.model(topics.ORDERS_APPROVED).client_order_id for r in approved}
    assert len(orders) == crossings, "one order per approval"
    news = await suite.wait_for(topics.TRADE_UPDATES, lambda u: u.event is TradeEvent.NEW, count=crossings)
    submitted = defaultdict(set)
    for r in news:
        update = r.model(topics.TRADE_UPDATES)
        submitted[update.order.client_order_id].add(update.order.venue_order_id)
    assert set(submitted) == orders and all(len(ids) == 1 for ids in submitted.values()), \
        "each order submitted to the venue once"

    fills = await fills_by_order(suite)
    book = {}
    for client_order_id, updates in fills.items():
        assert client_order_id in orders
        qty = sum(u.fill_qty for u in updates)
        assert qty == updates[0].order.qty, f"{client_order_id} filled {qty} of {updates[0].order.qty}"
        book[updates[0].order.symbol] = (qty, sum(u.fill_qty * u.fill_price for u in updates) / qty)
    assert book == expected_book(), "the same book as one process of each service makes"
