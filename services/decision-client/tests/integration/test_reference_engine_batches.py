"""Runs asked in batches of the REAL reference engine (``POST .../batches``), over HTTP.

Runs asked at the same moment leave in one batch and end exactly as if each had its own stream; a
run the batch answers live is followed by its id; a batch the engine refuses becomes one stream per
run; an engine without the endpoint is asked one stream per run for a while.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry
from torghut_decision_client.adapters.engine_client import DecisionEngineClient, EngineClientConfig
from torghut_decision_client.app import build_transport
from torghut_decision_client.domain.outcome import EngineAnswer
from torghut_decision_client.metrics import DecisionMetrics
from torghut_decision_client.settings import DecisionClientSettings
from torghut_decision_client.startup import check_startup
from torghut_decision_client.testing.fake_engine import FakeEngine
from torghut_runtime.testing import test_settings

from .test_reference_engine import FAST, fresh_request, run_status

DATABASE_URL = "postgresql+asyncpg://unused@127.0.0.1:9/unused"
"""The transport alone: no runtime, so nothing connects to it."""


def batching_client(url: str, fault: str | None = None, **overrides: Any) -> DecisionEngineClient:
    return DecisionEngineClient(EngineClientConfig(base_url=url, **{**FAST, "batch_max": 4, **overrides}),
                                extra_headers={"x-torghut-fault": fault} if fault else None)


async def test_runs_asked_together_leave_in_batches_and_end_as_their_own_streams_would(
        reference_engine_url: str) -> None:
    requests = [fresh_request() for _ in range(6)]
    client = batching_client(reference_engine_url)
    alone = DecisionEngineClient(EngineClientConfig(base_url=reference_engine_url, **FAST))
    try:
        batched = await asyncio.gather(*(client.decide(request) for request in requests))
        streamed = [await alone.decide(request.model_copy(update={"request_id": request.request_id + "-alone"}))
                    for request in requests]
    finally:
        await client.aclose()
        await alone.aclose()
    assert client.batcher is not None and client.batcher.batches == 2  # 4 + 2: at most batch_max each
    assert client.resumes == 0, "every run came back finished: no stream was needed"
    for request, outcome, own_stream in zip(requests, batched, streamed, strict=True):
        assert isinstance(outcome, EngineAnswer) and isinstance(own_stream, EngineAnswer), (outcome, own_stream)
        assert (outcome.intent, outcome.confidence, outcome.reason_codes) == (
            own_stream.intent, own_stream.confidence, own_stream.reason_codes)
        assert outcome.provenance.run_id is not None
        status = await run_status(reference_engine_url, outcome.provenance.run_id)
        assert status.request_id == request.request_id and status.final is not None
        assert status.final.intent == outcome.intent


async def test_a_run_the_batch_answers_live_is_followed_by_its_id(reference_engine_url: str) -> None:
    client = batching_client(reference_engine_url, fault="slow:0.3")
    try:
        outcomes = await asyncio.gather(*(client.decide(fresh_request()) for _ in range(2)))
    finally:
        await client.aclose()
    assert all(isinstance(outcome, EngineAnswer) for outcome in outcomes), outcomes
    assert client.batcher is not None and client.batcher.batches == 1
    assert client.resumes == 2, "each live run was followed on its own stream from the batch's last event"


async def test_a_batch_the_engine_refuses_becomes_one_stream_per_run(reference_engine_url: str) -> None:
    """The engine refuses ``drop-after`` on a batch (it cuts streams): each run is streamed alone, and the
    injected drop is then survived by resuming, as for any stream."""
    client = batching_client(reference_engine_url, fault="drop-after:2")
    try:
        outcomes = await asyncio.gather(*(client.decide(fresh_request()) for _ in range(3)))
    finally:
        await client.aclose()
    assert all(isinstance(outcome, EngineAnswer) for outcome in outcomes), outcomes
    assert client.batcher is not None and client.batcher.batches == 0 and client.batcher.supported
    assert client.resumes == 3


async def test_an_engine_without_batches_is_asked_one_stream_per_run_meanwhile(
        fake_engine: tuple[FakeEngine, str]) -> None:
    engine, url = fake_engine
    client = batching_client(url)
    try:
        first = await asyncio.gather(*(client.decide(fresh_request()) for _ in range(3)))
        assert client.batcher is not None and not client.batcher.supported
        posts_after_first = engine.posts
        second = await client.decide(fresh_request())
    finally:
        await client.aclose()
    assert all(isinstance(outcome, EngineAnswer) for outcome in [*first, second])
    assert (posts_after_first, engine.posts, engine.runs_created) == (3, 4, 4)


async def test_the_service_counts_the_runs_of_each_batch_on_its_metrics(reference_engine_url: str) -> None:
    settings = test_settings(DecisionClientSettings, kafka_bootstrap="127.0.0.1:9", database_url=DATABASE_URL,
                             topic_prefix="", service_name="decision-client", decision_engine_url=reference_engine_url)
    registry = CollectorRegistry()
    client = build_transport(settings, check_startup(settings), metrics=DecisionMetrics(registry))
    try:
        await asyncio.gather(*(client.decide(fresh_request()) for _ in range(3)))
    finally:
        await client.aclose()
    assert registry.get_sample_value("torghut_decision_client_engine_batch_runs_count") == 1
    assert registry.get_sample_value("torghut_decision_client_engine_batch_runs_sum") == 3
