"""The decision-engine transport against a scripted engine over real HTTP (uvicorn on loopback).

Covers the client's own robustness: resume after a drop, the poll fallback when the engine has no
resumable stream, retries of 5xx and connection failures, no retry of a 4xx, the watchdog (heartbeats
are not progress), the overall deadline, and every way a run can end badly ending in a reason code.
The same scenarios against the reference engine are in tests/integration/test_reference_engine.py.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from torghut_contracts.decision_engine import DecisionRequest
from torghut_contracts.enums import Action
from torghut_decision_client.adapters.engine_client import DecisionEngineClient, EngineClientConfig
from torghut_decision_client.domain import reasons
from torghut_decision_client.domain.outcome import EngineAnswer, EngineFailure
from torghut_decision_client.testing.fake_engine import ENGINE_VERSION, FakeEngine, FakeRun, default_final

FAST = dict(connect_timeout_s=1.0, read_timeout_s=1.0, stall_timeout_s=2.0, poll_interval_s=0.05, deadline_s=10.0,
            max_reconnects=3, backoff_initial_s=0.01, backoff_max_s=0.05)


def client(url: str, fault: str | None = None, **overrides: Any) -> DecisionEngineClient:
    config = EngineClientConfig(base_url=url, **{**FAST, **overrides})
    return DecisionEngineClient(config, extra_headers={"x-torghut-fault": fault} if fault else None)


async def decide(url: str, request: DecisionRequest, fault: str | None = None, **overrides: Any) -> Any:
    engine_client = client(url, fault, **overrides)
    try:
        return await engine_client.decide(request), engine_client
    finally:
        await engine_client.aclose()


async def test_a_normal_run_streams_to_the_engines_final(fake_engine: tuple[FakeEngine, str],
                                                         make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    outcome, _ = await decide(url, make_request())
    assert isinstance(outcome, EngineAnswer)
    assert outcome.intent.action is Action.BUY and outcome.intent.qty == Decimal(10)
    assert outcome.provenance.run_id == "run-1" and outcome.provenance.engine_version == ENGINE_VERSION
    assert outcome.provenance.mode == "deterministic" and outcome.provenance.latency_ms is not None
    assert outcome.artifact_refs == {"technicals-regime": "fake://technicals/1"}
    assert engine.runs_created == 1 and engine.posts == 1


async def test_a_dropped_stream_resumes_from_the_last_event_id(fake_engine: tuple[FakeEngine, str],
                                                               make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    outcome, engine_client = await decide(url, make_request(), fault="drop-after:2")
    assert isinstance(outcome, EngineAnswer) and outcome.intent.action is Action.BUY
    assert engine.resume_last_event_ids == ["2"]
    assert engine_client.resumes == 1 and engine.runs_created == 1 and engine.posts == 1


async def test_an_engine_shutting_down_is_resumed_not_taken_for_the_runs_error(
        fake_engine: tuple[FakeEngine, str], make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    engine.shut_down_after = 2
    outcome, engine_client = await decide(url, make_request())
    assert isinstance(outcome, EngineAnswer) and outcome.intent.action is Action.BUY
    assert engine.resume_last_event_ids == ["2"], "resumed after the last numbered event"
    assert engine_client.resumes == 1 and engine.runs_created == 1


async def test_without_a_resumable_stream_the_run_is_polled_to_its_end(
        make_request: Callable[..., DecisionRequest]) -> None:
    from torghut_decision_client.testing.servers import serve

    engine = FakeEngine(resume_supported=False)
    async with serve(engine.app) as url:
        outcome, _ = await decide(url, make_request(), fault="drop-after:1")
    await engine.aclose()
    assert isinstance(outcome, EngineAnswer) and outcome.provenance.run_id == "run-1"
    assert engine.resume_last_event_ids == ["1"] and engine.status_polls >= 1


async def test_resumes_that_keep_failing_fall_back_to_polling(fake_engine: tuple[FakeEngine, str],
                                                              make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    engine.resume_status = 503
    outcome, _ = await decide(url, make_request(), fault="drop-after:2", max_reconnects=2)
    assert isinstance(outcome, EngineAnswer) and engine.status_polls >= 1
    assert len(engine.resume_last_event_ids) == 2 and engine.runs_created == 1


async def test_an_engine_unreachable_until_the_watchdog_fires_is_unavailable_not_stalled(
        fake_engine: tuple[FakeEngine, str], make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    engine.resume_status = 503
    outcome, _ = await decide(url, make_request(), fault="drop-after:2", max_reconnects=1000, stall_timeout_s=0.4)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_UNAVAILABLE,)
    assert "503" in outcome.detail


async def test_the_same_request_id_gets_the_existing_run(fake_engine: tuple[FakeEngine, str],
                                                         make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    first, _ = await decide(url, make_request("dup-1"))
    second, _ = await decide(url, make_request("dup-1"))
    assert isinstance(first, EngineAnswer) and isinstance(second, EngineAnswer)
    assert first.provenance.run_id == second.provenance.run_id and engine.runs_created == 1


@pytest.mark.parametrize("fault", [None, "error"])
async def test_runs_one_after_another_share_one_connection(fake_engine: tuple[FakeEngine, str],
                                                           make_request: Callable[..., DecisionRequest],
                                                           fault: str | None) -> None:
    """After the terminal event (final or error) the response is read to its end, so its connection
    goes back to the pool for the next run."""
    engine, url = fake_engine
    engine_client = client(url, fault)
    try:
        outcomes = [await engine_client.decide(make_request(f"seq-{n}")) for n in range(3)]
    finally:
        await engine_client.aclose()
    expected = EngineAnswer if fault is None else EngineFailure
    assert all(isinstance(outcome, expected) for outcome in outcomes), outcomes
    assert engine.runs_created == 3 and len(engine.post_peers) == 3
    assert len(set(engine.post_peers)) == 1, f"one connection for every run, got {engine.post_peers}"


async def test_an_engine_that_keeps_the_stream_open_after_the_final_does_not_hold_the_decision(
        fake_engine: tuple[FakeEngine, str], make_request: Callable[..., DecisionRequest]) -> None:
    """Heartbeats after the final event: the answer stands, the stream is closed (not reused), and
    later runs do not wait for an end that never comes."""
    engine, url = fake_engine
    engine.linger_after_terminal = True
    engine_client = client(url)
    try:
        outcomes = [await engine_client.decide(make_request(f"linger-{n}")) for n in range(3)]
    finally:
        await engine_client.aclose()
    assert all(isinstance(outcome, EngineAnswer) and outcome.intent.action is Action.BUY for outcome in outcomes)
    assert engine.runs_created == 3 and len(set(engine.post_peers)) == 3, "each lingering stream was closed"


async def test_5xx_is_retried_with_backoff(fake_engine: tuple[FakeEngine, str],
                                           make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    engine.post_failures = [503, 502]
    outcome, _ = await decide(url, make_request())
    assert isinstance(outcome, EngineAnswer) and engine.posts == 3 and engine.runs_created == 1


async def test_5xx_that_never_ends_is_engine_unavailable(fake_engine: tuple[FakeEngine, str],
                                                         make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    engine.post_failures = [503] * 10
    outcome, _ = await decide(url, make_request(), max_reconnects=2)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_UNAVAILABLE,)
    assert engine.posts == 3


async def test_a_4xx_is_not_retried(fake_engine: tuple[FakeEngine, str],
                                    make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    engine.post_failures = [422]
    outcome, _ = await decide(url, make_request())
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_REJECTED_REQUEST,)
    assert "422" in outcome.detail and engine.posts == 1


async def test_an_engine_that_is_down_is_engine_unavailable(make_request: Callable[..., DecisionRequest]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connection refused
        outcome, _ = await decide(f"http://127.0.0.1:{port}", make_request(), max_reconnects=2)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_UNAVAILABLE,)
    assert "ConnectError" in outcome.detail and outcome.provenance.run_id is None


async def test_heartbeats_alone_trip_the_watchdog(fake_engine: tuple[FakeEngine, str],
                                                  make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    outcome, _ = await decide(url, make_request(), fault="stall", stall_timeout_s=0.5, read_timeout_s=0.3)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_STALLED,)
    assert outcome.provenance.run_id == "run-1"
    assert engine.resume_last_event_ids == [], "heartbeats kept the connection: no reconnect was needed"


async def test_a_slow_run_with_heartbeats_outlives_the_read_timeout_and_finishes(
        fake_engine: tuple[FakeEngine, str], make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    outcome, engine_client = await decide(url, make_request(), fault="slow:1.0", read_timeout_s=0.3,
                                          stall_timeout_s=3.0)
    assert isinstance(outcome, EngineAnswer)
    assert engine_client.resumes == 0 and engine.posts == 1


async def test_the_overall_deadline_bounds_the_run(fake_engine: tuple[FakeEngine, str],
                                                   make_request: Callable[..., DecisionRequest]) -> None:
    _, url = fake_engine
    outcome, _ = await decide(url, make_request(), fault="slow:5", deadline_s=0.5, stall_timeout_s=5.0)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_TIMEOUT,)
    assert "deadline" in outcome.detail


async def test_the_engines_hard_timeout_is_engine_timeout(make_request: Callable[..., DecisionRequest]) -> None:
    from torghut_decision_client.testing.servers import serve

    engine = FakeEngine(run_timeout_s=0.3)
    async with serve(engine.app) as url:
        outcome, _ = await decide(url, make_request(), fault="stall", stall_timeout_s=5.0)
    await engine.aclose()
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_TIMEOUT,)
    assert "timeout" in outcome.detail


@pytest.mark.parametrize(("fault", "reason"), [("error", reasons.ENGINE_ERROR),
                                               ("malformed-final", reasons.ENGINE_MALFORMED_FINAL)])
async def test_error_and_malformed_final_fail_closed(fake_engine: tuple[FakeEngine, str],
                                                     make_request: Callable[..., DecisionRequest], fault: str,
                                                     reason: str) -> None:
    _, url = fake_engine
    outcome, _ = await decide(url, make_request(), fault=fault)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reason,)
    assert outcome.provenance.run_id == "run-1"


async def test_a_final_for_another_request_is_malformed(fake_engine: tuple[FakeEngine, str],
                                                        make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine

    def wrong_request(run: FakeRun) -> Any:
        return default_final(run).model_copy(update={"request_id": "someone-else"})

    engine.final = wrong_request
    outcome, _ = await decide(url, make_request())
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_MALFORMED_FINAL,)
    assert "someone-else" in outcome.detail


async def test_a_final_that_is_not_json_is_malformed(fake_engine: tuple[FakeEngine, str],
                                                     make_request: Callable[..., DecisionRequest]) -> None:
    engine, url = fake_engine
    engine.final_data = lambda run: "{truncated"
    outcome, _ = await decide(url, make_request())
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_MALFORMED_FINAL,)
