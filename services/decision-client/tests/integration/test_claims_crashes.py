"""Claims when a worker dies.

No engine run holds a database connection: triggers are claimed, decided outside any transaction,
then recorded and published. Through the REAL Tansu broker and Postgres, against the fake engine
(loopback SSE).

* a worker that dies between claim and outcome: the next one asks the engine again, one decision;
* a worker that dies between outcome and publish: the next one republishes the stored decision
  under the same message id, without asking the engine, and writes it into the trigger's tracking
  record (so a later redelivery republishes it too);
* a slow run keeps its claim (its lease is renewed), a dead worker's claim is taken over after one lease.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_decision_client.adapters import claims
from torghut_decision_client.adapters.engine_client import DecisionEngineClient, EngineClientConfig
from torghut_decision_client.app import DecisionClientApp, build_app
from torghut_decision_client.settings import DecisionClientSettings
from torghut_decision_client.testing.fake_engine import FakeEngine
from torghut_runtime.testing import eventually, read_records

from .conftest import GatedTransport, client, counts, outcome_count, scalar, send_snapshot, send_triggers, trigger


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
    assert await scalar(first, "SELECT count(*) FROM processed_messages WHERE outputs <> '[]'") == 0, (
        "the tracking record gets its output once the decision is out")
    assert await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=0, settle=0.3) == []

    transport = client(settings)
    second = build_app(settings, transport=transport, configure_logs=False)
    async with running(second):
        await eventually(lambda: counts(second, "SELECT count(*) FROM decision_claims", 0),
                         what="the claim finished", timeout=30)
        await send_triggers(kafka_bootstrap, prefix, sent)  # redelivered: its tracking record has the output now
        await eventually(lambda: outcome_count(second, "duplicate") == 1, what="the redelivery recognised", timeout=30)
        records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=2, settle=0.5)
    assert transport.requests == [], "the stored decision was not asked for again"
    assert engine.runs_created == 1
    assert len(records) == 2, "published by the worker and republished for the redelivery"
    assert len({r.headers[h.MESSAGE_ID] for r in records}) == 1, "under one message id: one decision downstream"
    assert len({r.model(topics.DECISIONS).decision_id for r in records}) == 1


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
        app.intake.claim_lease = claims.ClaimLease(owner, 1.0)
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
