"""The decision-engine endpoint over real HTTP (uvicorn) with real Postgres and the real broker: restarts
and the run store.

A restart keeps finished runs and fails interrupted ones (and a crashed replica's, once its lease
expired); the event clock judges a recorded session as of its trigger; racing creations of one run
store it once; a batch of events commits with consecutive ids and never after the terminal one.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from torghut_contracts.decision_engine import RUNS_PATH, STREAM_PATH, DecisionFinal, RunAccepted, RunState, RunStatus
from torghut_contracts.enums import Action
from torghut_decision_engine.adapters.store import NewRun, RunStore
from torghut_decision_engine.domain.ids import run_id_for

from .conftest import BodyFactory, EngineServer, read_stream


async def test_a_restart_keeps_finished_runs_and_fails_interrupted_ones(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, _), httpx.AsyncClient(base_url=base, timeout=10) as client:
        done = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-done"))
        interrupted = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-cut"),
                                        headers={"x-torghut-fault": "stall"}, stop_after=2)
    # The first engine has shut down gracefully; a new one serves the same database.
    async with engine_server(decision_engine_lease_ttl_s=0.3) as (base, engine), \
            httpx.AsyncClient(base_url=base, timeout=10) as client:
        kept = RunStatus.model_validate((await client.get(RUNS_PATH.format(run_id=run_id_for("req-done")))).json())
        assert kept.status is RunState.FINAL
        assert kept.final == DecisionFinal.model_validate(done.data("decision.final"))
        replay = await read_stream(client, "GET", RUNS_PATH.format(run_id=kept.run_id) + "/stream")
        assert replay.data("decision.accepted")["existing"] is True, "a replay marks the run as existing"
        assert replay.events[1:] == done.events[1:]

        cut = RunStatus.model_validate((await client.get(
            RUNS_PATH.format(run_id=interrupted.headers["x-torghut-run-id"]))).json())
        assert cut.status is RunState.ERROR and cut.error is not None
        assert cut.error.code == "engine_restarted"
        again = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-cut"))
        assert again.names[-1] == "decision.error", "the same request id never starts a second run"

        # A crashed engine leaves a live run behind: once its lease expires it is failed too.
        ghost = RunStore(engine.runtime.engine, owner="crashed-replica", lease_ttl=timedelta(0))
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        orphan, created = await ghost.create(NewRun(
            run_id="run-orphan", request_id="req-orphan", request_hash="0", request_json="{}", symbol="NVDA",
            strategy_id="s", fault=None, deadline_at=now + timedelta(seconds=90)),
            RunAccepted(run_id="run-orphan", request_id="req-orphan", status=RunState.ACCEPTED,
                        created_at=now).model_dump_json(), now)
        assert created
        stream = await read_stream(client, "GET", RUNS_PATH.format(run_id=orphan.run_id) + "/stream")
        assert stream.names == ["decision.accepted", "decision.error"]
        assert stream.data("decision.error")["code"] == "engine_restarted"


async def test_the_event_clock_judges_a_recorded_session_as_of_its_trigger(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    recorded = datetime(2026, 2, 12, 15, 31, 2, tzinfo=UTC)
    body = make_body(now=recorded, portfolio={"as_of": recorded.isoformat()})
    async with engine_server(clock="event") as (base, _), \
            httpx.AsyncClient(base_url=base, timeout=10) as client:
        replayed = await read_stream(client, "POST", STREAM_PATH, body=body)
    async with engine_server() as (base, _), httpx.AsyncClient(base_url=base, timeout=10) as client:
        live = await read_stream(client, "POST", STREAM_PATH, body={**body, "request_id": "req-live"})
    assert DecisionFinal.model_validate(replayed.data("decision.final")).intent.action is Action.BUY
    assert "stale_trigger" in DecisionFinal.model_validate(live.data("decision.final")).reason_codes


async def test_racing_creations_of_one_run_store_it_once(engine_server: EngineServer) -> None:
    """``create`` is one statement: of racing submissions one inserts the run and its events, the
    others insert nothing and get that run back."""
    from torghut_contracts.decision_engine import SseEvent
    from torghut_decision_engine.adapters.store import FinishedRun, NewEvent

    async with engine_server() as (_, engine):
        store: RunStore = engine.manager.store
        now = datetime.now(UTC)
        new = NewRun(run_id="run-race", request_id="req-race", request_hash="h", request_json="{}", symbol="NVDA",
                     strategy_id="s", fault=None, deadline_at=now + timedelta(minutes=1))
        finished = FinishedRun(events=(NewEvent(SseEvent.PROGRESS, '{"n": 1}'), NewEvent(SseEvent.FINAL, '{"f": 1}')),
                               status=RunState.FINAL, final='{"f": 1}')
        results = await asyncio.gather(*(store.create(new, '{"accepted": true}', now, finished=finished)
                                         for _ in range(4)))
        assert sorted(created for _, created in results) == [False, False, False, True]
        assert {(run.run_id, run.status, run.last_event_id, run.final) for run, _ in results} == {
            ("run-race", RunState.FINAL, 3, '{"f": 1}')}
        events, _ = await store.events_after("run-race", 0)
        assert [(e.event_id, e.event, e.data) for e in events] == [
            (1, SseEvent.ACCEPTED, '{"accepted": true}'), (2, SseEvent.PROGRESS, '{"n": 1}'),
            (3, SseEvent.FINAL, '{"f": 1}')]


async def test_a_batch_of_events_commits_with_consecutive_ids_and_never_after_the_terminal_one(
        engine_server: EngineServer) -> None:
    """``append_many``: one transaction per stretch of a run; ids go on 2, 3, ...; a terminal run takes no more."""
    from torghut_contracts.decision_engine import SseEvent
    from torghut_decision_engine.adapters.store import NewEvent

    async with engine_server() as (_, engine):
        store: RunStore = engine.manager.store
        now = datetime.now(UTC)
        new = NewRun(run_id="run-batch", request_id="req-batch", request_hash="h", request_json="{}", symbol="NVDA",
                     strategy_id="s", fault=None, deadline_at=now + timedelta(minutes=1))
        await store.create(new, '{"accepted": true}', now)
        progress = [NewEvent(SseEvent.PROGRESS, f'{{"n": {n}}}') for n in range(3)]
        assert await store.append_many("run-batch", progress, now, status=RunState.RUNNING) == 4
        final = NewEvent(SseEvent.FINAL, '{"final": true}')
        assert await store.append_many("run-batch", [*progress[:1], final], now, status=RunState.FINAL,
                                       final=final.data) == 6
        assert await store.append_many("run-batch", progress, now) is None
        assert await store.append("run-batch", SseEvent.ERROR, "{}", now, status=RunState.ERROR, error="{}") is None
        events, _ = await store.events_after("run-batch", 0)
        assert [(e.event_id, e.event) for e in events] == [
            (1, SseEvent.ACCEPTED), (2, SseEvent.PROGRESS), (3, SseEvent.PROGRESS), (4, SseEvent.PROGRESS),
            (5, SseEvent.PROGRESS), (6, SseEvent.FINAL)]
        run = await store.get("run-batch")
        assert run is not None and (run.status, run.last_event_id, run.final) == (RunState.FINAL, 6, final.data)
