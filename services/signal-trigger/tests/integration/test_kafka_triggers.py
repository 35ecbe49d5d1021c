"""Through the real Tansu broker and Postgres: signals in, exactly the expected triggers out.

A replay of the same signals yields no new request ids; a restart resumes each symbol's strategy
memory from Postgres; the live clock gates stale signals; the gates are counted on /metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.enums import Side
from torghut_contracts.models import TaSignal
from torghut_runtime.testing import Record, create_topics_for, produce, read_records, test_settings
from torghut_signal_trigger.app import SignalTriggerService, build_service
from torghut_signal_trigger.settings import SignalTriggerSettings
from torghut_strategies.book import parse_strategy_book
from torghut_strategies.engine import request_id_for
from torghut_strategies.testing import make_signal

D = Decimal
BOOK = parse_strategy_book({"version": 1, "strategies": [
    {"id": "macd-v1", "type": "macd_cross", "universe": "*", "cooldown_s": 0},
    {"id": "rsi-v1", "type": "rsi_reversion", "universe": ["NVDA"], "cooldown_s": 0},
]}, origin="test")


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.TA_SIGNALS, topics.TRIGGERS)
    return topic_namespace


def make_service(kafka_bootstrap: str, database_url: str, prefix: str, **overrides: Any) -> SignalTriggerService:
    values: dict[str, Any] = {"clock": "event", "service_name": "signal-trigger", **overrides}
    settings = test_settings(SignalTriggerSettings, kafka_bootstrap=kafka_bootstrap, database_url=database_url,
                             topic_prefix=prefix, **values)
    return build_service(settings, BOOK, configure_logs=False)


def counted(service: SignalTriggerService, name: str, **labels: str) -> float:
    return service.runtime.registry.get_sample_value(name, labels) or 0.0


async def until_signals(service: SignalTriggerService, total: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while counted(service, "torghut_signal_trigger_signals_total", source="kafka") < total:
        assert time.monotonic() < deadline, f"the service did not evaluate {total} signals in time"
        await asyncio.sleep(0.02)


async def send(kafka_bootstrap: str, prefix: str, signals: Sequence[TaSignal]) -> None:
    for signal in signals:
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal, key=signal.symbol)


def request_ids(records: Sequence[Record]) -> list[str]:
    return [r.model(topics.TRIGGERS).request_id for r in records]


SCRIPT = [
    make_signal(1, symbol="AAPL", macd=D(-1)),
    make_signal(1, symbol="NVDA", rsi14=D(50)),
    make_signal(2, symbol="AAPL", macd=D(1)),                               # AAPL MACD crosses up: buy
    make_signal(2, symbol="NVDA", rsi14=D(28)),                             # NVDA enters oversold: buy
    make_signal(2, symbol="AAPL", macd=D(1)),                               # duplicate seq: gated
    make_signal(3, symbol="AAPL", macd=D(-1), bid=D(99), ask=D(101)),       # a cross on a 200 bps quote: gated
    make_signal(4, symbol="AAPL", macd=D(1)),                               # back up: buy (the gated cross counted)
    make_signal(3, symbol="NVDA", rsi14=None),                              # missing rsi14: gated
    make_signal(5, symbol="AAPL", macd=D(-1)),                              # crosses down: sell
]
EXPECTED = {
    request_id_for("macd-v1", "AAPL", 2, SCRIPT[2].event_ts, Side.BUY),
    request_id_for("rsi-v1", "NVDA", 2, SCRIPT[3].event_ts, Side.BUY),
    request_id_for("macd-v1", "AAPL", 4, SCRIPT[6].event_ts, Side.BUY),
    request_id_for("macd-v1", "AAPL", 5, SCRIPT[8].event_ts, Side.SELL),
}


async def test_signals_in_exactly_the_expected_triggers_out_and_a_replay_adds_no_request_id(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    service = make_service(kafka_bootstrap, fresh_database_url, prefix)
    out_topic = prefix + topics.TRIGGERS.name
    async with service.runtime.running():
        await send(kafka_bootstrap, prefix, SCRIPT)
        await until_signals(service, len(SCRIPT))
        first = await read_records(kafka_bootstrap, out_topic, expect=len(EXPECTED), settle=0.3)

        await send(kafka_bootstrap, prefix, SCRIPT)  # the same signals again, as a replay would send them
        await until_signals(service, 2 * len(SCRIPT))
        after_replay = await read_records(kafka_bootstrap, out_topic, expect=len(EXPECTED), settle=0.3)

        gated = {reason: counted(service, "torghut_signal_trigger_gated_total", reason=reason)
                 for reason in ("duplicate_signal", "spread_bps_exceeded", "missing_required_field")}

    assert sorted(request_ids(first)) == sorted(EXPECTED)
    assert sorted(request_ids(after_replay)) == sorted(EXPECTED), "a replay must not add a request id"
    for record in first:
        trigger = record.model(topics.TRIGGERS)
        assert record.key == trigger.symbol
        assert record.headers[h.CORRELATION_ID] == trigger.request_id, "the request id is the correlation id"
        assert trigger.features["price"] == D(100)
    # 1 duplicate in the script, then all 9 replayed signals are duplicates.
    assert gated == {"duplicate_signal": 1 + len(SCRIPT), "spread_bps_exceeded": 1, "missing_required_field": 1}


async def test_a_restart_resumes_each_symbols_strategy_memory(kafka_bootstrap: str, fresh_database_url: str,
                                                               prefix: str) -> None:
    first = make_service(kafka_bootstrap, fresh_database_url, prefix)
    async with first.runtime.running():
        await send(kafka_bootstrap, prefix, [make_signal(1, macd=D(-1))])
        await until_signals(first, 1)

    second = make_service(kafka_bootstrap, fresh_database_url, prefix)
    async with second.runtime.running():
        await send(kafka_bootstrap, prefix, [make_signal(1, macd=D(-1)), make_signal(2, macd=D(1))])
        await until_signals(second, 2)  # the committed seq 1 is not redelivered; the resent copy is a duplicate
        out = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=1, settle=0.3)
        assert counted(second, "torghut_signal_trigger_gated_total", reason="duplicate_signal") == 1

    assert [(t.trigger_type, t.signal_seq) for t in (r.model(topics.TRIGGERS) for r in out)] == [
        ("macd_cross_up", 2)], "the cross spans the restart: below before it, above after it"


async def test_live_mode_gates_stale_signals_against_the_wall_clock(kafka_bootstrap: str, fresh_database_url: str,
                                                                     prefix: str) -> None:
    book = parse_strategy_book({"version": 1, "strategies": [
        {"id": "anytime", "type": "macd_cross", "universe": "*", "cooldown_s": 0, "allow_outside_session": True}]},
        origin="test")
    settings = test_settings(SignalTriggerSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                             topic_prefix=prefix, service_name="signal-trigger", clock="wall",
                             signal_max_staleness_ms=60_000)
    service = build_service(settings, book, configure_logs=False)
    now = datetime.now(UTC).replace(microsecond=0)
    signals = [
        make_signal(1, symbol="MSFT", at=now - timedelta(hours=1, seconds=2), macd=D(-1)),
        make_signal(2, symbol="MSFT", at=now - timedelta(hours=1, seconds=1), macd=D(1)),  # a stale cross
        make_signal(3, symbol="MSFT", at=now - timedelta(seconds=2), macd=D(-1)),           # fresh: sell
    ]
    async with service.runtime.running():
        await send(kafka_bootstrap, prefix, signals)
        await until_signals(service, 3)
        out = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=1, settle=0.3)
        assert counted(service, "torghut_signal_trigger_gated_total", reason="stale_signal") == 2
        assert counted(service, "torghut_signal_trigger_lag_seconds_count") == 3
    assert [(t.trigger_type, t.signal_seq) for t in (r.model(topics.TRIGGERS) for r in out)] == [
        ("macd_cross_down", 3)]


async def test_the_strategy_book_in_force_is_served(kafka_bootstrap: str, fresh_database_url: str,
                                                    prefix: str) -> None:
    service = make_service(kafka_bootstrap, fresh_database_url, prefix)
    transport = httpx.ASGITransport(app=service.runtime.asgi())  # no lifespan: routes only
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/strategies")
    assert response.status_code == 200
    assert [s["id"] for s in response.json()["strategies"]] == ["macd-v1", "rsi-v1"]


async def test_a_rolled_back_state_write_does_not_swallow_the_retried_signal(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    service = make_service(kafka_bootstrap, fresh_database_url, prefix)
    wiring = service.runtime.kafka
    real_claim = wiring.store.claim_processed_many  # signals are consumed in batches, claimed at the end
    failures = 0

    async def claim_then_fail_once(conn: Any, consumer: str, processed: Any) -> int:
        nonlocal failures
        claimed = await real_claim(conn, consumer, processed)
        if failures == 0 and any(outputs for _, outputs in processed):
            failures += 1
            raise ConnectionError("the database went away before the commit")
        return claimed

    monkeypatch.setattr(wiring.store, "claim_processed_many", claim_then_fail_once)
    signals = [make_signal(1, macd=D(-1)), make_signal(2, macd=D(1))]
    async with service.runtime.running():
        await send(kafka_bootstrap, prefix, signals)
        out = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=1, settle=0.3)
    assert failures == 1, "the transaction holding the cross was rolled back once"
    assert request_ids(out) == [request_id_for("macd-v1", "AAPL", 2, signals[1].event_ts, Side.BUY)]


async def test_two_instances_sharing_the_state_never_fire_the_same_cross_twice(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    # Two consumer groups over one schema: every signal reaches both, as during a rebalance overlap.
    first = make_service(kafka_bootstrap, fresh_database_url, prefix, db_schema="shared_state")
    second = make_service(kafka_bootstrap, fresh_database_url, prefix, db_schema="shared_state",
                          service_name="signal-trigger-2")
    signals = [make_signal(seq, macd=D(1) if seq % 2 == 0 else D(-1)) for seq in range(1, 9)]
    async with first.runtime.running(), second.runtime.running():
        for signal in signals:
            await send(kafka_bootstrap, prefix, [signal])
        await until_signals(first, len(signals))
        await until_signals(second, len(signals))
        out = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=len(signals) - 1, settle=0.5)
    expected = sorted(request_id_for("macd-v1", "AAPL", s.seq, s.event_ts, Side.BUY if s.seq % 2 == 0 else Side.SELL)
                      for s in signals[1:])
    assert sorted(request_ids(out)) == expected
