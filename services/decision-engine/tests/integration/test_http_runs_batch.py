"""The batch endpoint over real HTTP with real Postgres: many runs in one request, each a run like any other.

A batch's deterministic runs come back finished with the finals their streams carry; a request id seen
before returns its run, not a second; a run that takes time comes back live and is followed by its
id; bad batches are refused naming the request and field; nothing is created by a refused batch.
"""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from torghut_contracts.decision_engine import (
    BATCH_PATH,
    MAX_BATCH_REQUESTS,
    RUNS_PATH,
    STREAM_PATH,
    DecisionBatchResult,
    DecisionFinal,
    RunState,
)
from torghut_decision_engine.domain.ids import run_id_for

from .conftest import NORMAL_ORDER, BodyFactory, EngineServer, read_stream


async def _batch(client: httpx.AsyncClient, bodies: list[dict[str, Any]], **headers: str) -> httpx.Response:
    return await client.post(BATCH_PATH, json={"requests": bodies}, headers=headers)


async def test_a_batch_creates_one_finished_run_per_request_with_the_final_its_stream_carries(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, engine), httpx.AsyncClient(base_url=base, timeout=10) as client:
        bodies = [make_body(request_id=f"req-b{i}", symbol=symbol)
                  for i, symbol in enumerate(["AAPL", "MSFT", "NVDA"])]
        response = await _batch(client, bodies)
        assert response.status_code == 200, response.text
        result = DecisionBatchResult.model_validate_json(response.content)
        assert [run.request_id for run in result.runs] == ["req-b0", "req-b1", "req-b2"]
        assert [run.run_id for run in result.runs] == [run_id_for(f"req-b{i}") for i in range(3)]
        assert {(run.status, run.last_event_id) for run in result.runs} == {(RunState.FINAL, len(NORMAL_ORDER))}
        assert engine.manager.tasks == {}

        for run in result.runs:  # each is a run of its own: its stream replays the same final
            stream = await read_stream(client, "GET", RUNS_PATH.format(run_id=run.run_id) + "/stream")
            assert stream.names == NORMAL_ORDER
            assert DecisionFinal.model_validate(stream.data("decision.final")) == run.final
        # the same request asked alone is the same decision
        alone = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-alone", symbol="MSFT"))
        final = DecisionFinal.model_validate(alone.data("decision.final"))
        assert result.runs[1].final is not None
        assert final.intent == result.runs[1].final.intent and final.reason_codes == result.runs[1].final.reason_codes
        metrics = (await client.get("/metrics")).text
        assert 'torghut_decision_engine_runs_total{outcome="hold"} 3.0' in metrics  # AAPL, MSFT twice
        assert 'torghut_decision_engine_runs_total{outcome="buy"} 1.0' in metrics  # NVDA, the example's position


async def test_a_request_id_seen_before_returns_its_run_and_new_ones_are_created_beside_it(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, engine), httpx.AsyncClient(base_url=base, timeout=10) as client:
        first = DecisionBatchResult.model_validate_json((await _batch(client, [make_body(request_id="req-1")])).content)
        again = await _batch(client, [make_body(request_id="req-2"), make_body(request_id="req-1")])
        result = DecisionBatchResult.model_validate_json(again.content)
        assert [run.request_id for run in result.runs] == ["req-2", "req-1"]
        assert result.runs[1] == first.runs[0]  # the stored run, unchanged: same final, same timestamps
        assert result.runs[0].status is RunState.FINAL and result.runs[0].created_at > first.runs[0].created_at
        async with engine.manager.store.engine.connect() as conn:
            count = (await conn.execute(sa.text("SELECT count(*) FROM runs"))).scalar()
        assert count == 2


async def test_a_run_that_takes_time_comes_back_live_and_is_followed_by_its_id(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, _), httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await _batch(client, [make_body(request_id="req-slow")], **{"x-torghut-fault": "slow:0.3"})
        run = DecisionBatchResult.model_validate_json(response.content).runs[0]
        assert run.status in (RunState.ACCEPTED, RunState.RUNNING) and run.final is None
        stream = await read_stream(client, "GET", RUNS_PATH.format(run_id=run.run_id) + "/stream",
                                   headers={"Last-Event-ID": str(run.last_event_id)})
        assert stream.names[-1] == "decision.final"
        assert stream.ids[0] == run.last_event_id + 1


async def test_bad_batches_are_refused_naming_the_request_and_field_and_create_nothing(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, engine), httpx.AsyncClient(base_url=base, timeout=10) as client:
        bad_symbol = await _batch(client, [make_body(request_id="ok"), make_body(request_id="bad", symbol="not a sym")])
        assert bad_symbol.status_code == 422
        assert bad_symbol.json()["fields"][0]["field"] == "requests.1.symbol"

        twice = await _batch(client, [make_body(request_id="same"), make_body(request_id="same")])
        assert twice.status_code == 422 and "'same' appears twice" in twice.json()["message"]

        domains = await _batch(client, [make_body(request_id="d0"), make_body(request_id="d1",
                                                                             required_domains=["horoscope"])])
        assert domains.status_code == 422 and domains.json()["fields"][0]["field"] == "requests.1.required_domains"

        empty = await client.post(BATCH_PATH, json={"requests": []})
        too_many = await _batch(client, [make_body(request_id=f"r{i}") for i in range(MAX_BATCH_REQUESTS + 1)])
        assert (empty.status_code, too_many.status_code) == (422, 422)
        not_json = await client.post(BATCH_PATH, content=b"[1, 2", headers={"content-type": "application/json"})
        assert not_json.status_code == 400

        drop = await _batch(client, [make_body(request_id="drop")], **{"x-torghut-fault": "drop-after:2"})
        assert drop.status_code == 400 and "drop-after" in drop.json()["message"]

        for request_id in ("ok", "bad", "same", "d0", "drop"):
            assert (await client.get(RUNS_PATH.format(run_id=run_id_for(request_id)))).status_code == 404
        assert engine.manager.tasks == {}
