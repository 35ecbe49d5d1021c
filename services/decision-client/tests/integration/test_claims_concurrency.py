"""Claims under load.

No engine run holds a database connection: triggers are claimed, decided outside any transaction,
then recorded and published. Through the REAL Tansu broker and Postgres, against the fake engine
(loopback SSE).

* a pool of two connections serves 64 engine runs in flight at once, each ending in one decision;
* a symbol's triggers are decided in order, other symbols meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_decision_client.app import DecisionClientApp, build_app
from torghut_decision_client.settings import DecisionClientSettings
from torghut_decision_client.testing.fake_engine import FakeEngine
from torghut_runtime.testing import eventually, read_records

from .conftest import client, counts, outcome_count, send_snapshot, send_triggers, trigger

POOL_SIZE = 2


def symbol(i: int) -> str:
    return f"Q{chr(65 + i // 26)}{chr(65 + i % 26)}"


async def test_a_pool_of_two_connections_serves_64_engine_runs_in_flight_at_once(
        kafka_bootstrap: str, prefix: str, engine: FakeEngine,
        make_settings: Callable[..., DecisionClientSettings], running: Callable[[DecisionClientApp], Any]) -> None:
    count = 64
    engine.hold_until = count  # no run finishes before all 64 are in flight together
    settings = make_settings(decision_client_workers=count, database_pool_size=POOL_SIZE, database_max_overflow=0,
                             database_pool_timeout_s=10)
    transport = client(settings)
    app = build_app(settings, transport=transport, configure_logs=False)
    assert app.runtime.engine.pool.size() == POOL_SIZE  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    items = [(trigger(f"req-{i}", symbol(i), now), f"msg-{i}") for i in range(count)]
    async with running(app):
        await send_snapshot(kafka_bootstrap, prefix, app, now)
        await send_triggers(kafka_bootstrap, prefix, items)
        records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=count, timeout=90,
                                     settle=0.5)
        await eventually(lambda: counts(app, "SELECT count(*) FROM decision_claims", 0),
                         what="every claim finished", timeout=30)
        retried, processed = outcome_count(app, "retried"), outcome_count(app, "processed")

    assert engine.released_by_count and engine.held == count, "all 64 runs were in flight at the same time"
    assert engine.runs_created == count and sorted(transport.requested()) == sorted(f"req-{i}" for i in range(count))
    decisions = [r.model(topics.DECISIONS) for r in records]
    assert len(records) == count and sorted(d.request_id for d in decisions) == sorted(t.request_id for t, _ in items)
    assert all(d.provenance.mode != "fail_closed" for d in decisions), [d.reason_codes for d in decisions]
    assert len({r.headers[h.MESSAGE_ID] for r in records}) == count
    assert (processed, retried) == (count, 0), "no handler waited for a connection until it failed"


async def test_a_symbol_is_decided_in_order_while_other_symbols_go_on(
        kafka_bootstrap: str, prefix: str, engine: FakeEngine, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any]) -> None:
    settings = make_settings(decision_client_workers=4)
    transport = client(settings)
    transport.gates["req-a1"] = first_held = asyncio.Event()
    app = build_app(settings, transport=transport, configure_logs=False)
    now = datetime.now(UTC)
    decisions_topic = prefix + topics.DECISIONS.name
    async with running(app):
        await send_snapshot(kafka_bootstrap, prefix, app, now)
        await send_triggers(kafka_bootstrap, prefix, [(trigger("req-a1", "AAA", now), "m-a1"),
                                                      (trigger("req-a2", "AAA", now), "m-a2"),
                                                      (trigger("req-b1", "BBB", now), "m-b1")])
        other = await read_records(kafka_bootstrap, decisions_topic, expect=1)
        assert [r.model(topics.DECISIONS).request_id for r in other] == ["req-b1"], "BBB is not held up by AAA"
        assert "req-a2" not in transport.requested(), "AAA's second trigger waits for its first"
        first_held.set()
        records = await read_records(kafka_bootstrap, decisions_topic, expect=3, settle=0.3)
    assert [r.model(topics.DECISIONS).request_id for r in records] == ["req-b1", "req-a1", "req-a2"]
