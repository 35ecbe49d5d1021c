"""The whole service through the REAL Tansu broker and Postgres, asking the REAL reference engine.

Triggers in, decisions out (keyed by account, correlation id = request id); a replayed trigger
republishes the stored decision without a second engine run; no or a stale portfolio holds without
asking the engine; the portfolio survives a restart; DSPy shadow records a verdict it does not act on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dspy.utils.dummies import DummyLM
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.decision_engine import DecisionRequest
from torghut_contracts.enums import Action
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import AccountSnapshot, Decision, StrategyTrigger
from torghut_decision_client.adapters.engine_client import DecisionEngineClient, EngineClientConfig
from torghut_decision_client.app import DecisionClientApp, build_app
from torghut_decision_client.domain.ids import decision_id
from torghut_decision_client.domain.outcome import EngineOutcome
from torghut_decision_client.settings import DecisionClientSettings
from torghut_decision_program import write_artifact
from torghut_decision_program.shipped import shipped_artifacts
from torghut_embedded.llm_standin import LocalLlm, dspy_chat_answer
from torghut_runtime.testing import produce, read_records, test_settings

ACCOUNT = "paper-main"
ARTIFACT_HASH = next(iter(shipped_artifacts()))


class CountingTransport:
    """Wraps a transport and records every request that reached it (an engine run each)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.requests: list[DecisionRequest] = []

    async def decide(self, request: DecisionRequest) -> EngineOutcome:
        self.requests.append(request)
        outcome: EngineOutcome = await self.inner.decide(request)
        return outcome

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def make_settings(kafka_bootstrap: str, fresh_database_url: str, prefix: str,
                  reference_engine_url: str) -> Callable[..., DecisionClientSettings]:
    def make(**overrides: Any) -> DecisionClientSettings:
        values: dict[str, Any] = dict(decision_engine_url=reference_engine_url, decision_engine_read_timeout_s=2.0,
                                      decision_engine_stall_timeout_s=3.0, decision_deadline_s=10.0,
                                      decision_engine_backoff_initial_s=0.02, decision_engine_backoff_max_s=0.1)
        values.update(overrides)
        return test_settings(DecisionClientSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                             topic_prefix=prefix, service_name="decision-client", **values)
    return make


def engine_transport(settings: DecisionClientSettings, fault: str | None = None) -> CountingTransport:
    return CountingTransport(DecisionEngineClient(EngineClientConfig.from_settings(settings),
                                                  extra_headers={"x-torghut-fault": fault} if fault else None))


def trigger(request_id: str, *, event_ts: datetime | None = None) -> StrategyTrigger:
    now = event_ts or datetime.now(UTC)
    return StrategyTrigger(request_id=request_id, strategy_id="macd-rsi-v1", symbol="NVDA", direction="buy",
                           trigger_type="macd_cross_up", event_ts=now, signal_seq=7, price=Decimal("160"),
                           features={"macd": Decimal("1.2"), "macd_signal": Decimal("0.8"), "rsi14": Decimal("61"),
                                     "spread_bps": Decimal("5")}, triggered_at=now)


def snapshot(snapshot_id: str, *, as_of: datetime, equity: str = "100000") -> AccountSnapshot:
    return AccountSnapshot(snapshot_id=snapshot_id, account=ACCOUNT, venue="paper", as_of=as_of,
                           equity=Decimal(equity), cash=Decimal(equity), buying_power=Decimal(equity) * 2,
                           positions=[{"symbol": "NVDA", "qty": "10", "market_value": "1600"}])


async def send_snapshot(kafka_bootstrap: str, prefix: str, app: DecisionClientApp, snap: AccountSnapshot) -> None:
    await produce(kafka_bootstrap, prefix + topics.ACCOUNT_SNAPSHOTS.name, snap, key=snap.account)
    for _ in range(200):
        async with app.runtime.engine.connect() as conn:
            stored = (await conn.execute(sa.text("SELECT snapshot_id FROM account_snapshots WHERE account = :a"),
                                         {"a": snap.account})).scalar()
        if stored == snap.snapshot_id:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"snapshot {snap.snapshot_id} was not stored")


async def send_trigger(kafka_bootstrap: str, prefix: str, item: StrategyTrigger, message_id: str) -> None:
    headers = MessageHeaders.new(topics.TRIGGERS.name, message_id=message_id, correlation_id=item.request_id)
    await produce(kafka_bootstrap, prefix + topics.TRIGGERS.name, item, key=item.symbol, headers=headers)


async def test_triggers_in_decisions_out_and_a_replay_runs_the_engine_once(
        kafka_bootstrap: str, prefix: str, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any]) -> None:
    settings = make_settings()
    transport = engine_transport(settings)
    app = build_app(settings, transport=transport, configure_logs=False)
    decisions_topic = prefix + topics.DECISIONS.name
    item = trigger("req-service-1")
    async with running(app):
        fresh = snapshot("snap-1", as_of=item.event_ts - timedelta(seconds=5))
        await send_snapshot(kafka_bootstrap, prefix, app, fresh)
        await send_trigger(kafka_bootstrap, prefix, item, "msg-1")
        first = await read_records(kafka_bootstrap, decisions_topic, expect=1)
        # the same trigger replayed under a new message id, then the original message redelivered
        await send_trigger(kafka_bootstrap, prefix, item, "msg-2")
        await send_trigger(kafka_bootstrap, prefix, item, "msg-1")
        records = await read_records(kafka_bootstrap, decisions_topic, expect=3, settle=0.5)
        assert app.handlers.metrics.replays._value.get() == 1, "msg-2 answered from the decisions table"
        duplicates = app.runtime.metrics.messages.labels(topic=topics.TRIGGERS.name, outcome="duplicate")
        assert duplicates._value.get() == 1, "msg-1 redelivered: skipped by the runtime's idempotency store"

    assert len(first) == 1 and len(records) == 3
    assert [r.request_id for r in transport.requests] == ["req-service-1"], "one engine run for three deliveries"
    decisions = [r.model(topics.DECISIONS) for r in records]
    assert all(d == decisions[0] for d in decisions), "a replay republishes the stored decision unchanged"
    decision: Decision = decisions[0]
    assert decision.decision_id == decision_id(ACCOUNT, "req-service-1")
    assert decision.account == ACCOUNT and decision.symbol == "NVDA" and decision.reference_price == Decimal("160")
    assert decision.provenance.transport == "decision-engine"
    assert decision.provenance.run_id and decision.provenance.run_id.startswith("run-")
    assert decision.provenance.engine_version not in ("", "unknown") and decision.provenance.latency_ms is not None
    assert decision.provenance.mode != "fail_closed", decision
    for record in records:
        assert record.key == ACCOUNT
        assert record.headers[h.CORRELATION_ID] == "req-service-1"
    # the redelivered msg-1 is republished with the first output's message id; msg-2 got its own
    assert records[2].headers[h.MESSAGE_ID] == records[0].headers[h.MESSAGE_ID] != records[1].headers[h.MESSAGE_ID]
    request = transport.requests[0]
    assert request.portfolio.equity == Decimal(100000) and request.portfolio.position is not None
    assert request.risk_policy.max_notional_per_trade == settings.risk_max_notional_per_trade
    assert request.account == ACCOUNT


async def test_no_or_stale_portfolio_holds_without_asking_the_engine(
        kafka_bootstrap: str, prefix: str, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any]) -> None:
    settings = make_settings(portfolio_max_age_s=60)
    transport = engine_transport(settings)
    app = build_app(settings, transport=transport, configure_logs=False)
    now = datetime.now(UTC)
    async with running(app):
        await send_trigger(kafka_bootstrap, prefix, trigger("req-no-portfolio", event_ts=now), "m-a")
        await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=1)
        await send_snapshot(kafka_bootstrap, prefix, app, snapshot("snap-old", as_of=now - timedelta(minutes=5)))
        await send_trigger(kafka_bootstrap, prefix, trigger("req-stale", event_ts=now), "m-b")
        records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=2)
    decisions = [r.model(topics.DECISIONS) for r in records]
    assert [d.reason_codes for d in decisions] == [["portfolio_unavailable"], ["portfolio_stale"]]
    assert all(d.intent.action is Action.HOLD and d.intent.qty == 0 for d in decisions)
    assert transport.requests == []


async def test_the_portfolio_survives_a_restart_and_an_engine_error_is_a_published_hold(
        kafka_bootstrap: str, prefix: str, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any]) -> None:
    settings = make_settings()
    now = datetime.now(UTC)
    first = build_app(settings, transport=engine_transport(settings), configure_logs=False)
    async with running(first):
        await send_snapshot(kafka_bootstrap, prefix, first, snapshot("snap-9", as_of=now, equity="55000"))
    # a new process: the snapshot's offset is committed, so only Postgres can supply the portfolio
    transport = engine_transport(settings, fault="error")
    second = build_app(settings, transport=transport, configure_logs=False)
    async with running(second):
        await send_trigger(kafka_bootstrap, prefix, trigger("req-after-restart", event_ts=now), "m-r")
        records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=1)
    assert transport.requests[0].portfolio.equity == Decimal(55000)
    decision = records[0].model(topics.DECISIONS)
    assert decision.intent.action is Action.HOLD and decision.reason_codes == ["engine_error"]
    assert decision.provenance.run_id and decision.provenance.mode == "fail_closed"


async def test_dspy_shadow_records_a_verdict_beside_the_primary_without_acting_on_it(
        kafka_bootstrap: str, prefix: str, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any]) -> None:
    settings = make_settings(llm_dspy_runtime_mode="shadow", llm_dspy_artifact_hash=ARTIFACT_HASH,
                             jangar_base_url="http://127.0.0.1:9/openai/v1")
    shadow_lm = DummyLM([{"action": "buy", "qty": 25, "confidence": 0.9, "rationale": "r", "risk_flags": []}])
    transport = engine_transport(settings, fault="error")  # the primary holds; the shadow says buy
    app = build_app(settings, transport=transport, dspy_lm=shadow_lm, configure_logs=False)
    now = datetime.now(UTC)
    async with running(app):
        await send_snapshot(kafka_bootstrap, prefix, app, snapshot("snap-s", as_of=now))
        await send_trigger(kafka_bootstrap, prefix, trigger("req-shadow", event_ts=now), "m-s")
        records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=1)
    decision = records[0].model(topics.DECISIONS)
    assert decision.intent.action is Action.HOLD and decision.reason_codes == ["engine_error"]
    assert decision.shadow is not None
    assert (decision.shadow.action, decision.shadow.qty, decision.shadow.artifact_hash) == (
        Action.BUY, Decimal(25), ARTIFACT_HASH)


async def test_dspy_shadow_runs_a_compiled_artifact_from_the_artifact_dir(
        kafka_bootstrap: str, prefix: str, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any], local_llm: tuple[LocalLlm, str], tmp_path: Path) -> None:
    """A new compile (other instructions, one demo) written by the library, loaded by hash from
    LLM_DSPY_ARTIFACT_DIR, runs in shadow through dspy.LM against the local OpenAI-compatible stand-in."""
    state = json.loads(json.dumps(shipped_artifacts()[ARTIFACT_HASH].state))
    state["signature"]["instructions"] = "Compiled for the test: prefer hold unless the cross is decisive."
    state["demos"] = state["demos"][:1]
    compiled = write_artifact(tmp_path, state, provenance={"optimizer": "test-compile"})
    assert compiled.artifact_hash != ARTIFACT_HASH
    llm, llm_url = local_llm
    llm.answer(dspy_chat_answer({"action": "buy", "qty": 25, "confidence": 0.9, "rationale": "r", "risk_flags": []}))
    settings = make_settings(llm_dspy_runtime_mode="shadow", llm_dspy_artifact_hash=compiled.artifact_hash,
                             llm_dspy_artifact_dir=str(tmp_path), jangar_base_url=llm_url,
                             llm_model="local-test-model")
    transport = engine_transport(settings, fault="error")  # the primary holds; the shadow says buy
    app = build_app(settings, transport=transport, configure_logs=False)
    now = datetime.now(UTC)
    async with running(app):
        await send_snapshot(kafka_bootstrap, prefix, app, snapshot("snap-c", as_of=now))
        await send_trigger(kafka_bootstrap, prefix, trigger("req-compiled", event_ts=now), "m-c")
        records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=1)
    decision = records[0].model(topics.DECISIONS)
    assert decision.intent.action is Action.HOLD and decision.reason_codes == ["engine_error"]
    assert decision.shadow is not None
    assert (decision.shadow.action, decision.shadow.qty, decision.shadow.artifact_hash) == (
        Action.BUY, Decimal(25), compiled.artifact_hash)
    assert llm.paths == ["/openai/v1/chat/completions"]
    prompt = json.dumps(llm.requests[0]["messages"])
    assert "Compiled for the test" in prompt and "NVDA" in prompt and "AAPL" not in prompt  # its one demo


async def test_the_dspy_transport_decides_when_active(
        kafka_bootstrap: str, prefix: str, make_settings: Callable[..., DecisionClientSettings],
        running: Callable[[DecisionClientApp], Any]) -> None:
    settings = make_settings(decision_transport="dspy", llm_dspy_runtime_mode="active",
                             llm_dspy_artifact_hash=ARTIFACT_HASH, jangar_base_url="http://127.0.0.1:9")
    lm = DummyLM([{"action": "sell", "qty": 3, "confidence": 0.7, "rationale": "fade", "risk_flags": ["x"]}])
    app = build_app(settings, dspy_lm=lm, configure_logs=False)
    now = datetime.now(UTC)
    async with running(app):
        await send_snapshot(kafka_bootstrap, prefix, app, snapshot("snap-d", as_of=now))
        await send_trigger(kafka_bootstrap, prefix, trigger("req-dspy", event_ts=now), "m-d")
        records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=1)
    decision = records[0].model(topics.DECISIONS)
    assert (decision.intent.action, decision.intent.qty) == (Action.SELL, Decimal(3))
    p = decision.provenance
    assert (p.transport, p.mode, p.artifact_hash) == ("dspy", "dspy-active", ARTIFACT_HASH)
    assert decision.shadow is None
