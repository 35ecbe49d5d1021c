"""The decision-engine endpoint over real HTTP (uvicorn) with real Postgres and the real broker.

Event order and payload of a normal run, idempotency by request id, disconnect and resume with
Last-Event-ID, the poll fallback, the hard timeout, restarts, bad requests and the injected faults.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from pydantic import ValidationError
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
from torghut_decision_engine.adapters.store import NewRun, RunStore
from torghut_decision_engine.domain.ids import run_id_for

NORMAL_ORDER = (["decision.accepted", "decision.progress"] + ["decision.progress"] * 6
                + ["decision.context_ready", "decision.progress", "decision.analysis_complete", "decision.final"])


@dataclass
class Stream:
    status: int
    headers: httpx.Headers
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    heartbeats: int = 0
    body: str = ""

    @property
    def names(self) -> list[str]:
        return [name for _, name, _ in self.events]

    @property
    def ids(self) -> list[int]:
        return [event_id for event_id, _, _ in self.events]

    def data(self, name: str) -> dict[str, Any]:
        return next(data for _, event, data in self.events if event == name)


async def read_stream(client: httpx.AsyncClient, method: str, url: str, *, body: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None, stop_after: int | None = None) -> Stream:
    """Read raw SSE lines (so heartbeat comments are counted); ``stop_after`` disconnects early."""
    async with client.stream(method, url, json=body, headers=headers) as response:
        stream = Stream(response.status_code, response.headers)
        if response.status_code != 200:
            stream.body = (await response.aread()).decode()
            return stream
        current: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                stream.heartbeats += 1
            elif line == "":
                if current:
                    stream.events.append((int(current["id"]), current["event"], json.loads(current["data"])))
                    current = {}
                    if stop_after is not None and len(stream.events) >= stop_after:
                        break
            else:
                name, _, value = line.partition(": ")
                current[name] = value
    return stream


async def wait_for_status(client: httpx.AsyncClient, run_id: str, *wanted: str) -> dict[str, Any]:
    for _ in range(400):
        response = await client.get(RUNS_PATH.format(run_id=run_id))
        if response.status_code == 200 and response.json()["status"] in wanted:
            return dict(response.json())
        await asyncio.sleep(0.025)
    raise AssertionError(f"run {run_id} never reached {wanted}")


BodyFactory = Callable[..., dict[str, Any]]
EngineServer = Callable[..., Any]
"""The ``engine_server`` fixture: an async context manager yielding (base URL, engine)."""


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


async def test_injected_error_and_malformed_final(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, _), httpx.AsyncClient(base_url=base, timeout=10) as client:
        failed = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-err"),
                                   headers={"x-torghut-fault": "error"})
        assert failed.names[-1] == "decision.error"
        assert DecisionError.model_validate(failed.data("decision.error")).code == "injected"

        malformed = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-bad"),
                                      headers={"x-torghut-fault": "malformed-final"})
        assert malformed.names[-1] == "decision.final"
        with pytest.raises(ValidationError):
            DecisionFinal.model_validate(malformed.data("decision.final"))
        polled = await client.get(RUNS_PATH.format(run_id=malformed.headers["x-torghut-run-id"]))
        assert polled.json()["status"] == "final"
        with pytest.raises(ValidationError):
            RunStatus.model_validate(polled.json())


async def test_fault_header_is_ignored_unless_fault_injection_is_on(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server(decision_engine_fault_injection=False) as (base, _), \
            httpx.AsyncClient(base_url=base, timeout=10) as client:
        stream = await read_stream(client, "POST", STREAM_PATH, body=make_body(),
                                   headers={"x-torghut-fault": "error"})
        assert stream.names == NORMAL_ORDER
        nonsense = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-2"),
                                     headers={"x-torghut-fault": "nonsense"})
        assert nonsense.status == 200


BAD_REQUESTS: list[tuple[str, Any, dict[str, str], int, str]] = [
    ("not json", "{nope", {}, 400, "malformed JSON"),
    ("nested 100,000 deep", "[" * 100_000 + "]" * 100_000, {}, 400, "deeper than 64"),
    ("nested 65 deep", "[" * 65 + "]" * 65, {}, 400, "deeper than 64"),
    ("NaN", '{"request_id": NaN}', {}, 400, "malformed JSON"),
    ("NUL in the request id", {"request_id": "req\u0000-1"}, {}, 400, "NUL"),
    ("a lone surrogate", '{"request_id": "\\ud800"}', {}, 400, "malformed JSON"),
    ("price 1e999999", {"trigger": {"price": "1e999999"}}, {}, 422, "trigger.price"),
    ("a 20-digit Last-Event-ID", {}, {"Last-Event-ID": "9" * 20}, 400, "Last-Event-ID"),
    ("a list", [1, 2], {}, 400, "must be a JSON object"),
    ("no event_ts", {"trigger": {"event_ts": None}}, {}, 422, "trigger.event_ts"),
    ("lower-case symbol", {"symbol": "nvda"}, {}, 422, "symbol"),
    ("negative buying power", {"portfolio": {"buying_power": "-1"}}, {}, 422, "portfolio.buying_power"),
    ("unknown direction", {"trigger": {"direction": "up"}}, {}, 422, "trigger.direction"),
    ("unknown required domain", {"required_domains": ["astrology"]}, {}, 422, "required_domains"),
    ("bad fault", {}, {"x-torghut-fault": "explode"}, 400, "x-torghut-fault"),
    ("bad Last-Event-ID", {}, {"Last-Event-ID": "abc"}, 400, "Last-Event-ID"),
]


async def test_bad_requests_get_a_4xx_naming_the_field(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, _), httpx.AsyncClient(base_url=base, timeout=10) as client:
        for case, overrides, headers, status, names in BAD_REQUESTS:
            if isinstance(overrides, dict):
                content = json.dumps(make_body(**overrides)).encode()
            elif isinstance(overrides, str):
                content = overrides.encode()
            else:
                content = json.dumps(overrides).encode()
            response = await client.post(STREAM_PATH, content=content,
                                         headers={"content-type": "application/json", **headers})
            assert (case, response.status_code) == (case, status)
            assert names in response.json()["message"], case
        too_big = await client.post(STREAM_PATH, content=b"{" + b" " * 300_000 + b"}")
        assert too_big.status_code == 413
        nul_run = await client.get(RUNS_PATH.format(run_id="run%00x"))
        assert nul_run.status_code == 400 and nul_run.json()["error"] == "bad_path"
        assert (await client.get(RUNS_PATH.format(run_id=run_id_for("req-1")))).status_code == 404, \
            "a refused request creates no run"


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
