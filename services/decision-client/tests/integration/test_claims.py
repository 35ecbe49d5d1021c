"""No engine run holds a database connection: triggers are claimed, decided outside any transaction,
then recorded and published. Through the REAL Tansu broker and Postgres, against the fake engine
(loopback SSE).

* a pool of two connections serves 64 engine runs in flight at once, each ending in one decision;
* a symbol's triggers are decided in order, other symbols meanwhile;
* a worker that dies between claim and outcome: the next one asks the engine again, one decision;
* a worker that dies between outcome and publish: the next one republishes the stored decision
  under the same message id, without asking the engine;
* a claim that cannot be recorded goes to the triggers' DLQ after its attempts, alone: the decisions
  recorded in its group, and its symbol's next trigger, go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.decision_engine import DecisionRequest
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import AccountSnapshot, StrategyTrigger
from torghut_decision_client.adapters import claims, store
from torghut_decision_client.adapters.engine_client import DecisionEngineClient, EngineClientConfig
from torghut_decision_client.app import DecisionClientApp, build_app
from torghut_decision_client.domain.outcome import EngineOutcome
from torghut_decision_client.settings import DecisionClientSettings
from torghut_decision_client.testing.fake_engine import FakeEngine
from torghut_runtime.testing import eventually, read_records, test_settings

ACCOUNT = "paper-main"
POOL_SIZE = 2


class GatedTransport:
    """The engine client, counting requests; a request id given a gate waits for it to open first."""

    def __init__(self, inner: DecisionEngineClient) -> None:
        self.inner = inner
        self.name = inner.name
        self.requests: list[DecisionRequest] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def decide(self, request: DecisionRequest) -> EngineOutcome:
        self.requests.append(request)
        gate = self.gates.get(request.request_id)
        if gate is not None:
            await gate.wait()
        outcome: EngineOutcome = await self.inner.decide(request)
        return outcome

    async def aclose(self) -> None:
        await self.inner.aclose()

    def requested(self) -> list[str]:
        return [r.request_id for r in self.requests]


@pytest.fixture
async def engine(fake_engine: tuple[FakeEngine, str]) -> FakeEngine:
    fake_engine[0].heartbeat_s = 0.5  # 64 streams at once on two cores: fewer heartbeats
    return fake_engine[0]


@pytest.fixture
def make_settings(kafka_bootstrap: str, fresh_database_url: str, prefix: str,
                  fake_engine: tuple[FakeEngine, str]) -> Callable[..., DecisionClientSettings]:
    def make(**overrides: Any) -> DecisionClientSettings:
        values: dict[str, Any] = dict(decision_engine_url=fake_engine[1], decision_engine_read_timeout_s=10.0,
                                      decision_engine_stall_timeout_s=60.0, decision_deadline_s=60.0,
                                      decision_engine_backoff_initial_s=0.02, decision_engine_backoff_max_s=0.1)
        values.update(overrides)
        return test_settings(DecisionClientSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                             topic_prefix=prefix, service_name="decision-client", **values)
    return make




def client(settings: DecisionClientSettings) -> GatedTransport:
    return GatedTransport(DecisionEngineClient(EngineClientConfig.from_settings(settings)))


def symbol(i: int) -> str:
    return f"Q{chr(65 + i // 26)}{chr(65 + i % 26)}"


def trigger(request_id: str, sym: str, now: datetime) -> StrategyTrigger:
    return StrategyTrigger(request_id=request_id, strategy_id="macd-rsi-v1", symbol=sym, direction="buy",
                           trigger_type="macd_cross_up", event_ts=now, signal_seq=7, price=Decimal("160"),
                           features={"macd": Decimal("1.2"), "rsi14": Decimal("61")}, triggered_at=now)


async def produce_all(bootstrap: str, topic: str, items: list[tuple[Any, str, MessageHeaders]]) -> None:
    """(message, key, headers) in order, with one producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for message, key, headers in items:
            await producer.send_and_wait(topic, message.model_dump_json().encode(), key=key.encode(),
                                         headers=headers.as_kafka())
    finally:
        await producer.stop()


async def send_triggers(bootstrap: str, prefix: str, items: list[tuple[StrategyTrigger, str]]) -> None:
    await produce_all(bootstrap, prefix + topics.TRIGGERS.name, [
        (item, item.symbol, MessageHeaders.new(topics.TRIGGERS.name, message_id=message_id,
                                               correlation_id=item.request_id)) for item, message_id in items])


async def send_snapshot(bootstrap: str, prefix: str, app: DecisionClientApp, now: datetime) -> None:
    snap = AccountSnapshot(snapshot_id="snap-1", account=ACCOUNT, venue="paper", as_of=now - timedelta(seconds=5),
                           equity=Decimal(100_000), cash=Decimal(100_000), buying_power=Decimal(200_000), positions=[])
    await produce_all(bootstrap, prefix + topics.ACCOUNT_SNAPSHOTS.name,
                      [(snap, ACCOUNT, MessageHeaders.new(topics.ACCOUNT_SNAPSHOTS.name))])
    await eventually(lambda: counts(app, "SELECT count(*) FROM account_snapshots", 1), what="the snapshot stored")


async def scalar(app: DecisionClientApp, sql: str) -> Any:
    async with app.runtime.engine.connect() as conn:
        return (await conn.execute(sa.text(sql))).scalar()


async def counts(app: DecisionClientApp, sql: str, expect: int) -> bool:
    return bool(await scalar(app, sql) == expect)


def outcome_count(app: DecisionClientApp, outcome: str) -> float:
    return float(app.runtime.metrics.messages.labels(topic=topics.TRIGGERS.name, outcome=outcome)._value.get())


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


async def test_a_worker_dying_between_claim_and_outcome_leaves_the_call_to_the_next_one(
        kafka_bootstrap: str, prefix: str, engine: FakeEngine, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(graceful_timeout_s=0.5)
    slow = GatedTransport(DecisionEngineClient(EngineClientConfig.from_settings(settings),
                                               extra_headers={"x-torghut-fault": "slow:3"}))
    first = build_app(settings, transport=slow, configure_logs=False)
    # A crash, not a stop: the dying worker gives nothing back, its lease stays taken.
    monkeypatch.setattr(claims, "release", lambda *_, **__: asyncio.sleep(0))
    now = datetime.now(UTC)
    sent = [(trigger("req-crash", "NVDA", now), "m-crash")]
    async with running(first):
        await send_snapshot(kafka_bootstrap, prefix, first, now)
        await send_triggers(kafka_bootstrap, prefix, sent)
        await eventually(lambda: engine.runs_created == 1, what="the engine run started", timeout=30)
    assert await scalar(first, "SELECT count(*) FROM decisions") == 0
    assert await scalar(first, "SELECT count(lease_owner) FROM decision_claims") == 1, "claimed and still leased"
    monkeypatch.undo()

    transport = client(settings)
    second = build_app(settings, transport=transport, configure_logs=False)  # same host and process: its lease
    async with running(second):
        await send_triggers(kafka_bootstrap, prefix, sent)  # the trigger redelivered, too
        records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=1, settle=0.5)
        await eventually(lambda: outcome_count(second, "duplicate") == 1, what="the redelivery recognised", timeout=30)
        await eventually(lambda: counts(second, "SELECT count(*) FROM decision_claims", 0),
                         what="the claim finished", timeout=30)
        republished = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=1, settle=0.5)
    assert slow.requested() == transport.requested() == ["req-crash"], "the next worker asked the engine again"
    assert engine.runs_created == 1, "and the engine answered with the run it had for the request"
    assert len(records) == len(republished) == 1, "one decision, however often the trigger came"
    assert records[0].model(topics.DECISIONS).provenance.run_id == "run-1"
    assert await scalar(second, "SELECT count(*) FROM decisions") == 1


async def test_a_worker_dying_between_outcome_and_publish_leaves_the_stored_decision_to_republish(
        kafka_bootstrap: str, prefix: str, engine: FakeEngine, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any]) -> None:
    settings = make_settings(graceful_timeout_s=0.5)
    first = build_app(settings, transport=client(settings), configure_logs=False)

    async def broker_away(*_: Any) -> None:
        raise ConnectionError("the broker went away")

    first.worker.outputs.publish = broker_away  # type: ignore[method-assign]
    now = datetime.now(UTC)
    sent = [(trigger("req-late", "NVDA", now), "m-late")]
    async with running(first):
        await send_snapshot(kafka_bootstrap, prefix, first, now)
        await send_triggers(kafka_bootstrap, prefix, sent)
        await eventually(lambda: counts(first, "SELECT count(*) FROM decisions", 1),
                         what="the decision stored", timeout=30)
    assert await scalar(first, "SELECT count(*) FROM decision_claims") == 1
    assert await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=0, settle=0.3) == []

    transport = client(settings)
    second = build_app(settings, transport=transport, configure_logs=False)
    async with running(second):
        await send_triggers(kafka_bootstrap, prefix, sent)  # redelivered: its tracking record has the output
        await eventually(lambda: counts(second, "SELECT count(*) FROM decision_claims", 0),
                         what="the claim finished", timeout=30)
        await eventually(lambda: outcome_count(second, "duplicate") == 1, what="the redelivery recognised", timeout=30)
        records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=2, settle=0.5)
    assert transport.requests == [], "the stored decision was not asked for again"
    assert engine.runs_created == 1
    assert len(records) == 2, "published by the worker and republished for the redelivery"
    assert len({r.headers[h.MESSAGE_ID] for r in records}) == 1, "under one message id: one decision downstream"
    assert len({r.model(topics.DECISIONS).decision_id for r in records}) == 1


async def test_a_claim_that_cannot_be_recorded_goes_to_the_dead_letter_topic_alone(
        kafka_bootstrap: str, prefix: str, engine: FakeEngine, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(decision_client_workers=4, consumer_max_attempts=3, consumer_retry_backoff_ms=20)
    transport = client(settings)
    transport.gates["req-poison"] = transport.gates["req-other"] = both_asked = asyncio.Event()
    app = build_app(settings, transport=transport, configure_logs=False)
    real_store = store.store_decision
    stored_with: list[str] = []

    async def refuses_poison(conn: Any, decision: Any) -> Any:
        stored_with.append(decision.request_id)
        if decision.request_id == "req-poison":
            raise ValueError("this decision cannot be stored")
        return await real_store(conn, decision)

    monkeypatch.setattr(store, "store_decision", refuses_poison)
    now = datetime.now(UTC)
    async with running(app):
        await send_snapshot(kafka_bootstrap, prefix, app, now)
        await send_triggers(kafka_bootstrap, prefix, [(trigger("req-poison", "AAA", now), "m-poison"),
                                                      (trigger("req-after", "AAA", now), "m-after"),
                                                      (trigger("req-other", "BBB", now), "m-other")])
        await eventually(lambda: {"req-poison", "req-other"} <= set(transport.requested()), what="both asked")
        both_asked.set()  # both decided at once: usually recorded in one group, which then fails
        dead = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.dlq.name, expect=1, timeout=30)
        records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=2, settle=0.5)
        await eventually(lambda: counts(app, "SELECT count(*) FROM decision_claims", 0), what="no claim left")

    assert sorted(r.model(topics.DECISIONS).request_id for r in records) == ["req-after", "req-other"]
    assert stored_with.count("req-poison") == 3, "tried CONSUMER_MAX_ATTEMPTS times, then dead-lettered"
    (letter,) = dead
    assert StrategyTrigger.model_validate_json(letter.value).request_id == "req-poison"
    assert letter.headers[h.DLQ_REASON] == "handler_error"
    assert "this decision cannot be stored" in letter.headers[h.DLQ_ERROR]
    assert letter.headers[h.DLQ_ATTEMPTS] == "3"
    assert letter.headers[h.DLQ_ORIGINAL_TOPIC] == prefix + topics.TRIGGERS.name
    assert letter.headers[h.DLQ_ORIGINAL_OFFSET] == "0", "the record the trigger was read from"
    assert letter.headers[h.MESSAGE_ID] == "m-poison"


async def test_a_slow_run_keeps_its_claim_and_a_dead_workers_claim_is_taken_over_after_one_lease(
        kafka_bootstrap: str, prefix: str, engine: FakeEngine, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two replicas with one-second leases: the first's engine run outlasts several leases and is not taken
    from it (it renews them); then it dies mid-run, and the second decides the claim once the lease ran out."""
    settings = make_settings(graceful_timeout_s=0.5)
    first_transport, second_transport = client(settings), client(settings)
    first_transport.gates["req-slow"] = asyncio.Event()  # never opened: the first replica dies in the run
    first = build_app(settings, transport=first_transport, configure_logs=False)
    second = build_app(settings, transport=second_transport, configure_logs=False)
    for app, owner in ((first, "replica-1:1"), (second, "replica-2:1")):
        app.worker.owner, app.worker.lease_s, app.worker.renew_every_s = owner, 1.0, 0.3
        app.handlers.claim_lease = claims.ClaimLease(owner, 1.0)
    now = datetime.now(UTC)
    async with running(first):
        await send_snapshot(kafka_bootstrap, prefix, first, now)
        await send_triggers(kafka_bootstrap, prefix, [(trigger("req-slow", "NVDA", now), "m-slow")])
        await eventually(lambda: first_transport.requested() == ["req-slow"], what="the first replica's run")
        async with running(second):
            await asyncio.sleep(3.0)  # three leases long: renewed, so the second replica keeps off it
            assert second_transport.requested() == [], "a live replica's claim is not taken from it"
            monkeypatch.setattr(claims, "release", lambda *_, **__: asyncio.sleep(0))  # dies: gives nothing back
            await first.runtime.stop()
            monkeypatch.undo()
            records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=1, timeout=30)
    assert second_transport.requested() == ["req-slow"], "the second replica took the dead one's claim over"
    assert [r.model(topics.DECISIONS).request_id for r in records] == ["req-slow"]
