"""The decision-engine endpoint over real HTTP (uvicorn) with real Postgres and the real broker: when the
caller goes away or the run stalls.

Disconnect and resume with Last-Event-ID, the poll fallback (and retention), the hard timeout,
heartbeats keeping a slow run alive.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from torghut_contracts.decision_engine import RUNS_PATH, STREAM_PATH, DecisionError, DecisionFinal, RunState, RunStatus
from torghut_contracts.enums import Action

from .conftest import NORMAL_ORDER, BodyFactory, EngineServer, read_stream


async def wait_for_status(client: httpx.AsyncClient, run_id: str, *wanted: str) -> dict[str, Any]:
    for _ in range(400):
        response = await client.get(RUNS_PATH.format(run_id=run_id))
        if response.status_code == 200 and response.json()["status"] in wanted:
            return dict(response.json())
        await asyncio.sleep(0.025)
    raise AssertionError(f"run {run_id} never reached {wanted}")


async def test_a_dropped_stream_resumes_from_last_event_id(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, _), httpx.AsyncClient(base_url=base, timeout=10) as client:
        body = make_body()
        dropped = await read_stream(client, "POST", STREAM_PATH, body=body,
                                    headers={"x-torghut-fault": "drop-after:3"})
        assert dropped.ids == [1, 2, 3], "the server closed the stream after three events"
        run_id = dropped.headers["x-torghut-run-id"]

        by_run = await read_stream(client, "GET", RUNS_PATH.format(run_id=run_id) + "/stream",
                                   headers={"Last-Event-ID": "3"})
        assert by_run.ids == list(range(4, len(NORMAL_ORDER) + 1))
        assert by_run.names == NORMAL_ORDER[3:]

        by_post = await read_stream(client, "POST", STREAM_PATH, body=body, headers={"Last-Event-ID": "9"})
        assert by_post.ids == list(range(10, len(NORMAL_ORDER) + 1))
        assert by_post.data("decision.final") == by_run.data("decision.final")

        beyond = await read_stream(client, "GET", RUNS_PATH.format(run_id=run_id) + "/stream",
                                   headers={"Last-Event-ID": "99"})
        assert beyond.status == 400 and "beyond" in beyond.body
        unknown = await read_stream(client, "GET", RUNS_PATH.format(run_id="run-nope") + "/stream")
        assert unknown.status == 404


async def test_a_caller_that_disconnects_does_not_lose_the_run(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, _), httpx.AsyncClient(base_url=base, timeout=10) as client:
        gone = await read_stream(client, "POST", STREAM_PATH, body=make_body(),
                                 headers={"x-torghut-fault": "slow:0.5"}, stop_after=2)
        run_id = gone.headers["x-torghut-run-id"]
        assert gone.names == ["decision.accepted", "decision.progress"], "left before the run finished"
        status = await wait_for_status(client, run_id, "final")
        assert DecisionFinal.model_validate(status["final"]).intent.action is Action.BUY
        resumed = await read_stream(client, "GET", RUNS_PATH.format(run_id=run_id) + "/stream",
                                    headers={"Last-Event-ID": "2"})
        assert resumed.ids[0] == 3 and resumed.names[-1] == "decision.final"


async def test_the_poll_fallback_reports_progress_then_the_final(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, engine), httpx.AsyncClient(base_url=base, timeout=10) as client:
        accepted_only = await read_stream(client, "POST", STREAM_PATH, body=make_body(),
                                          headers={"x-torghut-fault": "drop-after:1"})
        assert accepted_only.names == ["decision.accepted"]
        run_id = accepted_only.data("decision.accepted")["run_id"]
        status = RunStatus.model_validate(await wait_for_status(client, run_id, "final"))
        assert status.final is not None and status.final.intent.qty == 10
        assert status.error is None and status.last_event_id == len(NORMAL_ORDER)
        missing = await client.get(RUNS_PATH.format(run_id="run-unknown"))
        assert missing.status_code == 404 and "unknown run" in missing.json()["message"]

        # Retention: finished runs older than the horizon go, their events with them.
        from datetime import UTC, datetime

        assert await engine.manager.store.purge_finished(datetime.now(UTC) + timedelta(days=1)) == 1
        assert (await client.get(RUNS_PATH.format(run_id=run_id))).status_code == 404
        assert (await engine.manager.store.events_after(run_id, 0)) == ([], None)


async def test_the_hard_timeout_ends_a_stalled_run_in_decision_error(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server(decision_engine_run_timeout_s=0.4) as (base, _), \
            httpx.AsyncClient(base_url=base, timeout=10) as client:
        stream = await read_stream(client, "POST", STREAM_PATH, body=make_body(), headers={"x-torghut-fault": "stall"})
        assert stream.names == ["decision.accepted", "decision.progress", "decision.error"]
        assert stream.heartbeats >= 1, "only heartbeats while stalled"
        error = DecisionError.model_validate(stream.data("decision.error"))
        assert error.code == "timeout" and "hard timeout" in error.message
        status = RunStatus.model_validate((await client.get(RUNS_PATH.format(run_id=error.run_id))).json())
        assert (status.status, status.error) == (RunState.ERROR, error)


async def test_heartbeats_keep_a_slow_run_alive_until_its_final(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, _), httpx.AsyncClient(base_url=base, timeout=10) as client:
        stream = await read_stream(client, "POST", STREAM_PATH, body=make_body(),
                                   headers={"x-torghut-fault": "slow:0.4"})
        assert stream.names == NORMAL_ORDER
        assert stream.heartbeats >= 2
