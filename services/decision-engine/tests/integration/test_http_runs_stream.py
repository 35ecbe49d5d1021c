"""The decision-engine endpoint over real HTTP (uvicorn) with real Postgres and the real broker: a run.

Event order and payload of a normal run; a deterministic run created finished and streamed as stored;
a run that cannot be computed at once ends in run_failed; httpx-sse reads the stream; the same
request id returns the existing run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from torghut_contracts.decision_engine import (
    RUNS_PATH,
    STREAM_PATH,
    DecisionError,
    DecisionFinal,
    RunAccepted,
    RunState,
    RunStatus,
    SkillOutput,
)
from torghut_contracts.enums import Action
from torghut_decision_engine.domain.ids import run_id_for

from .conftest import NORMAL_ORDER, BodyFactory, EngineServer, read_stream


async def test_a_normal_run_streams_every_stage_in_order_and_a_valid_final(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, engine), httpx.AsyncClient(base_url=base, timeout=10) as client:
        stream = await read_stream(client, "POST", STREAM_PATH, body=make_body())
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.names == NORMAL_ORDER
        assert stream.ids == list(range(1, len(NORMAL_ORDER) + 1))
        run_id = stream.headers["x-torghut-run-id"]
        assert run_id == run_id_for("req-1")
        accepted = RunAccepted.model_validate(stream.data("decision.accepted"))
        assert (accepted.run_id, accepted.status, accepted.existing) == (run_id, RunState.ACCEPTED, False)
        skills = [SkillOutput.model_validate(s) for s in stream.data("decision.context_ready")["skills"]]
        assert [s.skill for s in skills] == ["market-context", "news-sentiment", "fundamentals", "technicals-regime",
                                             "risk-exposure-sizing", "execution-routing"]
        progress_skills = [data.get("skill") for _, name, data in stream.events if name == "decision.progress"]
        assert progress_skills[1:7] == [s.skill for s in skills]

        final = DecisionFinal.model_validate(stream.data("decision.final"))
        assert (final.run_id, final.request_id) == (run_id, "req-1")
        assert (final.intent.action, final.intent.qty) == (Action.BUY, 10)
        assert (final.size_recommendation.max_qty, final.size_recommendation.max_notional) == (10, 1600)
        assert final.intent.adapter_hint is not None and final.intent.adapter_hint_reason
        assert {"missing_news", "missing_fundamentals"} <= set(final.risk_flags)
        assert (final.mode, final.program, final.skill_bundle_version) == (
            "deterministic", "torghut-deterministic-rules-v1", "torghut-skills-v1")
        assert final.engine_version == "0.1.0" and final.artifact_hash is not None
        assert final.reason_codes == []

        # Each artifact reference resolves to the skill's output, with the content hash it names.
        ref = final.artifact_refs["technicals-regime"]
        path, _, digest = ref.partition("#sha256=")
        artifact = (await client.get(path)).json()
        canonical = json.dumps(artifact, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        assert hashlib.sha256(canonical.encode()).hexdigest() == digest
        assert (await client.get(RUNS_PATH.format(run_id=run_id) + "/artifacts/horoscope")).status_code == 404

        status = RunStatus.model_validate_json((await client.get(RUNS_PATH.format(run_id=run_id))).content)
        assert (status.status, status.last_event_id, status.final) == (RunState.FINAL, len(NORMAL_ORDER), final)
        metrics = (await client.get("/metrics")).text
        assert 'torghut_decision_engine_runs_total{outcome="buy"} 1.0' in metrics
        assert (await client.get("/readyz")).status_code == 200
    assert engine.manager.tasks == {}


async def test_a_deterministic_run_is_created_finished_and_streamed_as_stored(
        engine_server: EngineServer, make_body: BodyFactory, make_request: Callable[..., Any]) -> None:
    """Nothing in a deterministic run lets time pass: it is committed whole by the statement that
    creates it (no task left to run), and its first stream is exactly what Postgres replays."""
    async with engine_server() as (base, engine), httpx.AsyncClient(base_url=base, timeout=10) as client:
        manager = engine.manager
        submission = await manager.submit(make_request(request_id="req-at-once"), None)
        assert submission.created and manager.tasks == {}
        run = await manager.store.get(submission.run.run_id)
        assert run is not None and (run.status, run.last_event_id) == (RunState.FINAL, len(NORMAL_ORDER))
        stored, _ = await manager.store.events_after(run.run_id, 0)
        assert submission.events is not None and tuple(stored) == submission.events
        assert [event.event.value for event in stored] == NORMAL_ORDER
        assert run.final == stored[-1].data

        live = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-streamed"))
        run_id = live.headers["x-torghut-run-id"]
        replay = await read_stream(client, "GET", RUNS_PATH.format(run_id=run_id) + "/stream")
        assert live.names == NORMAL_ORDER and live.ids == replay.ids
        assert live.events[1:] == replay.events[1:]
        assert (live.data("decision.accepted")["existing"], replay.data("decision.accepted")["existing"]) == (
            False, True)
        after_five = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-resumed"),
                                       headers={"Last-Event-ID": "5"})
        assert after_five.ids == list(range(6, len(NORMAL_ORDER) + 1))


async def test_a_run_that_cannot_be_computed_at_once_still_ends_in_run_failed(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    """A bug in the rules falls back to the run's own task, which fails it like any other run."""
    async with engine_server() as (base, engine), httpx.AsyncClient(base_url=base, timeout=10) as client:
        def broken(strategy_id: str) -> frozenset[str]:
            raise RuntimeError(f"no rules for {strategy_id}")

        engine.manager.policy = dataclasses.replace(engine.manager.policy, required_by_strategy=broken)
        stream = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-broken"))
        assert stream.names[0] == "decision.accepted" and stream.names[-1] == "decision.error"
        error = DecisionError.model_validate(stream.data("decision.error"))
        assert error.code == "run_failed" and "no rules for" in error.message
        status = RunStatus.model_validate((await client.get(RUNS_PATH.format(run_id=error.run_id))).json())
        assert (status.status, status.error) == (RunState.ERROR, error)


async def test_httpx_sse_reads_the_stream(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    """The client library the decision-client uses parses every event (heartbeat blanks skipped)."""
    async with engine_server() as (base, _), httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with aconnect_sse(client, "POST", STREAM_PATH, json=make_body(),
                                headers={"x-torghut-fault": "slow:0.2"}) as source:
            events = [(sse.id, sse.event) async for sse in source.aiter_sse() if sse.data]
    assert [name for _, name in events] == NORMAL_ORDER
    assert [int(event_id) for event_id, _ in events] == list(range(1, len(NORMAL_ORDER) + 1))


async def test_the_same_request_id_returns_the_existing_run(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, engine), httpx.AsyncClient(base_url=base, timeout=10) as client:
        body = make_body()
        slow = {"x-torghut-fault": "slow:0.3"}
        first, second = await asyncio.gather(read_stream(client, "POST", STREAM_PATH, body=body, headers=slow),
                                             read_stream(client, "POST", STREAM_PATH, body=body, headers=slow))
        assert first.headers["x-torghut-run-id"] == second.headers["x-torghut-run-id"]
        assert sorted([first.data("decision.accepted")["existing"], second.data("decision.accepted")["existing"]]) \
            == [False, True]
        assert first.data("decision.final") == second.data("decision.final")
        assert first.ids == second.ids

        # After the run finished, a repeat (even with a different body) replays it rather than running again.
        later = await read_stream(client, "POST", STREAM_PATH, body=make_body(symbol="AAPL"))
        assert later.data("decision.accepted")["existing"] is True
        assert later.headers["x-torghut-run-existing"] == "true"
        assert later.data("decision.final") == first.data("decision.final")
        async with engine.runtime.engine.connect() as conn:
            from sqlalchemy import text

            assert (await conn.execute(text("SELECT count(*) FROM runs"))).scalar() == 1
