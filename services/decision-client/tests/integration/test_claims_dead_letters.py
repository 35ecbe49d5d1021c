"""A claim that cannot be recorded.

No engine run holds a database connection: triggers are claimed, decided outside any transaction,
then recorded and published. Through the REAL Tansu broker and Postgres, against the fake engine
(loopback SSE).

It goes to the triggers' DLQ after its attempts, alone: the decisions recorded in its group, and its
symbol's next trigger, go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.models import StrategyTrigger
from torghut_decision_client.adapters import store
from torghut_decision_client.app import DecisionClientApp, build_app
from torghut_decision_client.settings import DecisionClientSettings
from torghut_decision_client.testing.fake_engine import FakeEngine
from torghut_runtime.testing import eventually, read_records

from .conftest import client, counts, send_snapshot, send_triggers, trigger


async def test_a_claim_that_cannot_be_recorded_goes_to_the_dead_letter_topic_alone(
        kafka_bootstrap: str, prefix: str, engine: FakeEngine, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(decision_client_workers=4, consumer_max_attempts=3, consumer_retry_backoff_ms=20)
    transport = client(settings)
    transport.gates["req-poison"] = transport.gates["req-other"] = both_asked = asyncio.Event()
    app = build_app(settings, transport=transport, configure_logs=False)
    real_store = store.store_decisions
    stored_with: list[tuple[str, ...]] = []

    async def refuses_poison(conn: Any, decisions: Any) -> Any:
        stored_with.append(tuple(decision.request_id for decision in decisions))
        if "req-poison" in stored_with[-1]:
            raise ValueError("this decision cannot be stored")
        return await real_store(conn, decisions)

    monkeypatch.setattr(store, "store_decisions", refuses_poison)
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
    assert stored_with.count(("req-poison",)) == 3, "tried alone CONSUMER_MAX_ATTEMPTS times, then dead-lettered"
    (letter,) = dead
    assert StrategyTrigger.model_validate_json(letter.value).request_id == "req-poison"
    assert letter.headers[h.DLQ_REASON] == "handler_error"
    assert "this decision cannot be stored" in letter.headers[h.DLQ_ERROR]
    assert letter.headers[h.DLQ_ATTEMPTS] == "3"
    assert letter.headers[h.DLQ_ORIGINAL_TOPIC] == prefix + topics.TRIGGERS.name
    assert letter.headers[h.DLQ_ORIGINAL_OFFSET] == "0", "the record the trigger was read from"
    assert letter.headers[h.MESSAGE_ID] == "m-poison"
