"""Mutated requests against the real HTTP servers: the decision engine's stream and the GitHub webhook.

The properties: no answer is a 5xx (a 5xx tells GitHub and the decision-client to try again, for
ever); a request the engine takes (200) streams to a terminal event; a delivery the webhook
acknowledges with ``accepted: true`` is handled by the worker and never dead-lettered (a 202 means
it will be processed); memory stays bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torghut_contracts import topics
from torghut_contracts.decision_engine import STREAM_PATH
from torghut_decision_engine.app import build as build_engine
from torghut_decision_engine.settings import DecisionEngineSettings
from torghut_decision_engine.testing import REQUEST_BODY, serve
from torghut_runtime.testing import create_topics_for, read_records, test_settings
from torghut_runtime.tracing import build_tracer_provider
from torghut_whitepaper_ingest.app import WhitepaperService
from torghut_whitepaper_ingest.settings import WhitepaperSettings
from torghut_whitepaper_ingest.testing import (
    StubHttpServer,
    agentrun_created,
    issue_body,
    issues_payload,
    pdf_reply,
    webhook_headers,
)

from .mutations import mutated

pytestmark = pytest.mark.fuzz

SECRET = "fuzz-secret"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.fixture
async def engine_url(kafka_bootstrap: str, fresh_database_url: str) -> AsyncIterator[str]:
    values: dict[str, Any] = {"decision_engine_heartbeat_s": 0.05, "decision_engine_poll_interval_s": 0.05}
    engine_settings = test_settings(DecisionEngineSettings, kafka_bootstrap=kafka_bootstrap,
                                    database_url=fresh_database_url, topic_prefix="", service_name="decision-engine",
                                    **values)
    engine = build_engine(engine_settings, configure_logs=False)
    async with serve(engine.runtime.asgi()) as base_url:
        yield base_url


def fresh_request() -> dict[str, Any]:
    body = json.loads(json.dumps(REQUEST_BODY))
    body["trigger"]["event_ts"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    return body


LAST_EVENT_IDS = st.one_of(st.none(), st.sampled_from(["", "0", "3", "-1", "abc", "9" * 25, "1e9", "2.5"]))


@FUZZ
@given(body=mutated(fresh_request(), big=300_000), last_event_id=LAST_EVENT_IDS, request_id=st.uuids())
async def test_no_request_to_the_decision_engine_gets_a_5xx(engine_url: str, body: bytes, last_event_id: str | None,
                                                           request_id: Any) -> None:
    try:  # a fresh request id per example, where the body still has one, so runs do not collide
        parsed = json.loads(body)
        if isinstance(parsed, dict) and isinstance(parsed.get("request_id"), str):
            parsed["request_id"] = f"fuzz-{request_id}"
            body = json.dumps(parsed).encode()
    except (ValueError, RecursionError):
        pass
    headers = {"content-type": "application/json"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    baseline = rss_mb()
    async with httpx.AsyncClient(base_url=engine_url, timeout=30) as client, \
            client.stream("POST", STREAM_PATH, content=body, headers=headers) as response:
        assert response.status_code < 500, (response.status_code, (await response.aread())[:300])
        if response.status_code == 200:
            events = [line[7:] async for line in response.aiter_lines() if line.startswith("event: ")]
            assert events and events[-1] in ("decision.final", "decision.error"), events
        else:
            detail = json.loads(await response.aread())
            assert detail.get("message") or detail.get("detail"), "a refusal says why"
    assert rss_mb() - baseline < 300


@pytest.fixture
async def webhook(kafka_bootstrap: str, fresh_database_url: str, topic_namespace: str,
                  tmp_path: Path) -> AsyncIterator[tuple[WhitepaperService, httpx.AsyncClient, StubHttpServer]]:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.GITHUB_ISSUE_EVENTS, topics.WHITEPAPER_RUNS)
    stub = StubHttpServer().start()
    stub.route("GET", "/paper.pdf", pdf_reply())
    stub.route("POST", "/v1/agent-runs", agentrun_created())
    wp_settings = test_settings(
        WhitepaperSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
        topic_prefix=topic_namespace, service_name="whitepaper-ingest", whitepaper_workflow_enabled=True,
        github_webhook_secret=SECRET, whitepaper_workflow_api_token="fuzz-token",
        whitepaper_pdf_allowed_hosts="127.0.0.1", whitepaper_agentrun_submit_url=stub.url("/v1/agent-runs"),
        whitepaper_agentrun_retry_backoff_seconds=0.01, whitepaper_local_store_dir=tmp_path / "pdfs",
        consumer_max_attempts=2, consumer_retry_backoff_ms=10)
    service = WhitepaperService(wp_settings, tracer_provider=build_tracer_provider("whitepaper-ingest", None),
                                configure_logs=False)
    try:
        async with service.runtime.running(), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=service.runtime.asgi()), base_url="http://wp") as client:
            yield service, client, stub
    finally:
        stub.stop()


class Deliveries:
    """What the webhook answered, across the examples of one test."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.count = 0


@pytest.fixture
def deliveries() -> Deliveries:
    return Deliveries()


def issue_payload() -> dict[str, Any]:
    return issues_payload("proompteng/lab", 7, issue_body("http://127.0.0.1:1/paper.pdf"))


@FUZZ
@given(body=mutated(issue_payload(), big=400_000), event=st.sampled_from(["issues", "issue_comment", "push", ""]))
async def test_no_signed_delivery_gets_a_5xx_and_every_accepted_one_is_handled(
        webhook: tuple[WhitepaperService, httpx.AsyncClient, StubHttpServer], deliveries: Deliveries,
        kafka_bootstrap: str, topic_namespace: str, body: bytes, event: str) -> None:
    service, client, _ = webhook
    deliveries.count += 1
    delivery = f"fuzz-{deliveries.count}"
    response = await client.post("/webhooks/github", content=body,
                                 headers=webhook_headers(SECRET, body, event=event, delivery=delivery))
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code == 202 and response.json().get("accepted"):
        deliveries.accepted.append(delivery)
    await _all_handled(service, len(deliveries.accepted))
    dead = await read_records(kafka_bootstrap, topic_namespace + topics.GITHUB_ISSUE_EVENTS.name + ".dlq",
                              expect=1, timeout=0.2)
    assert dead == [], f"accepted, then dead-lettered: {[r.headers for r in dead]}"


async def _all_handled(service: WhitepaperService, accepted: int, timeout_s: float = 20.0) -> None:
    metrics = service.runtime.metrics.messages

    def outcomes() -> float:
        return sum(metrics.labels(topic=topics.GITHUB_ISSUE_EVENTS.name, outcome=outcome)._value.get()
                   for outcome in ("processed", "duplicate"))

    for _ in range(int(timeout_s / 0.05)):
        if outcomes() >= accepted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{accepted} deliveries accepted, {outcomes():.0f} handled")
