"""The decision-engine transport against the REAL reference engine (services/decision-engine), over HTTP.

The engine runs as a subprocess (``python -m torghut_decision_engine``) on a fresh database with
fault injection on, a 0.1 s heartbeat and a 2 s hard run timeout; the client's timeouts are shrunk
to match, so "a run longer than the read timeout stays connected and finishes" is the small-scale
form of the >60 s requirement.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from torghut_contracts.decision_engine import (
    RUNS_PATH,
    DecisionRequest,
    PortfolioContext,
    RiskPolicyContext,
    RunState,
    RunStatus,
    TriggerContext,
)
from torghut_contracts.enums import Side
from torghut_decision_client.adapters.engine_client import DecisionEngineClient, EngineClientConfig
from torghut_decision_client.domain import reasons
from torghut_decision_client.domain.outcome import EngineAnswer, EngineFailure
from torghut_decision_client.testing.engine_process import reference_engine
from torghut_embedded.postgres import create_database, drop_database

RUN_TIMEOUT_S = 2.0  # the engine's hard run timeout (conftest: reference_engine_url)
FAST = dict(connect_timeout_s=2.0, read_timeout_s=1.0, stall_timeout_s=1.5, poll_interval_s=0.05, deadline_s=15.0,
            max_reconnects=3, backoff_initial_s=0.02, backoff_max_s=0.1)


def fresh_request(request_id: str | None = None) -> DecisionRequest:
    now = datetime.now(UTC)
    return DecisionRequest(
        request_id=request_id or f"req-{uuid.uuid4().hex[:12]}", symbol="NVDA", strategy_id="macd-rsi-v1",
        account="paper-main",
        trigger=TriggerContext(type="macd_cross_up", event_ts=now, direction=Side.BUY, price=Decimal("160"),
                               features={"macd": Decimal("1.2"), "macd_signal": Decimal("0.8"),
                                         "rsi14": Decimal("61.4"), "spread_bps": Decimal("5.1")}),
        portfolio=PortfolioContext(equity=Decimal(100000), buying_power=Decimal(250000),
                                   current_exposure=Decimal(42000), as_of=now),
        risk_policy=RiskPolicyContext(max_notional_per_trade=Decimal(7000), max_position_pct_equity=Decimal("0.08")),
    )


async def decide(url: str, request: DecisionRequest, fault: str | None = None,
                 **overrides: Any) -> tuple[Any, DecisionEngineClient]:
    client = DecisionEngineClient(EngineClientConfig(base_url=url, **{**FAST, **overrides}),
                                  extra_headers={"x-torghut-fault": fault} if fault else None)
    try:
        return await client.decide(request), client
    finally:
        await client.aclose()


async def run_status(url: str, run_id: str) -> RunStatus:
    async with httpx.AsyncClient() as http:
        response = await http.get(url + RUNS_PATH.format(run_id=run_id))
        response.raise_for_status()
        return RunStatus.model_validate_json(response.content)


async def test_a_normal_run_ends_in_the_engines_final(reference_engine_url: str) -> None:
    request = fresh_request()
    outcome, client = await decide(reference_engine_url, request)
    assert isinstance(outcome, EngineAnswer), outcome
    assert outcome.provenance.run_id and outcome.provenance.engine_version not in ("", "unknown")
    assert outcome.provenance.transport == "decision-engine" and outcome.provenance.mode
    assert client.resumes == 0
    status = await run_status(reference_engine_url, outcome.provenance.run_id)
    assert status.status is RunState.FINAL and status.request_id == request.request_id
    assert status.final is not None and status.final.intent == outcome.intent


async def test_a_dropped_connection_resumes_with_last_event_id(reference_engine_url: str) -> None:
    outcome, client = await decide(reference_engine_url, fresh_request(), fault="drop-after:2")
    assert isinstance(outcome, EngineAnswer), outcome
    assert client.resumes == 1


async def test_a_duplicate_request_id_returns_the_existing_run(reference_engine_url: str) -> None:
    request = fresh_request()
    first, _ = await decide(reference_engine_url, request)
    second, _ = await decide(reference_engine_url, request)
    assert isinstance(first, EngineAnswer) and isinstance(second, EngineAnswer)
    assert first.provenance.run_id == second.provenance.run_id
    assert (first.intent, first.confidence) == (second.intent, second.confidence)


async def test_a_slow_run_sending_only_heartbeats_trips_the_watchdog(reference_engine_url: str) -> None:
    outcome, client = await decide(reference_engine_url, fresh_request(), fault="slow:1.8", stall_timeout_s=0.6)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_STALLED,), outcome
    assert outcome.provenance.run_id is not None
    assert client.resumes == 0, "heartbeats kept the connection open: the watchdog, not a drop, ended it"


async def test_a_run_longer_than_the_read_timeout_stays_connected_and_finishes(reference_engine_url: str) -> None:
    outcome, client = await decide(reference_engine_url, fresh_request(), fault="slow:1.2", read_timeout_s=0.4,
                                   stall_timeout_s=3.0)
    assert isinstance(outcome, EngineAnswer), outcome
    assert client.resumes == 0


async def test_the_engines_hard_timeout_is_engine_timeout(reference_engine_url: str) -> None:
    outcome, _ = await decide(reference_engine_url, fresh_request(), fault="stall", stall_timeout_s=RUN_TIMEOUT_S * 3)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_TIMEOUT,), outcome
    assert "timeout" in outcome.detail


@pytest.mark.parametrize(("fault", "reason"), [("error", reasons.ENGINE_ERROR),
                                               ("malformed-final", reasons.ENGINE_MALFORMED_FINAL)])
async def test_error_and_malformed_final_are_holds_with_reasons(reference_engine_url: str, fault: str,
                                                                reason: str) -> None:
    outcome, _ = await decide(reference_engine_url, fresh_request(), fault=fault)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reason,), outcome
    assert outcome.provenance.run_id is not None


async def test_an_engine_that_went_down_is_engine_unavailable(kafka_bootstrap: str, database_url: str) -> None:
    name = f"t_engine_{uuid.uuid4().hex[:10]}"
    db = await create_database(database_url, name)
    try:
        async with reference_engine(kafka_bootstrap=kafka_bootstrap, database_url=db) as url:
            assert isinstance((await decide(url, fresh_request()))[0], EngineAnswer)
        outcome, _ = await decide(url, fresh_request(), max_reconnects=2)
    finally:
        await drop_database(database_url, name)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_UNAVAILABLE,)
    assert "ConnectError" in outcome.detail
