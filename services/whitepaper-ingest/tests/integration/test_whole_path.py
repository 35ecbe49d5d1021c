"""The whole path on the real broker and Postgres: webhook -> topic -> worker -> PDF stored -> AgentRun
dispatched -> finalize -> runs topic; replays and duplicate deliveries change nothing twice; requeue by comment.

GitHub is the test itself (signed deliveries), Jangar and the PDF host are a local HTTP server, the
object store is a directory or a real S3 server (SeaweedFS).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.headers import derived_message_id
from torghut_runtime.testing import read_records
from torghut_whitepaper_ingest.app import WhitepaperService
from torghut_whitepaper_ingest.domain import ids
from torghut_whitepaper_ingest.domain.issue_body import normalize_url
from torghut_whitepaper_ingest.testing import (
    MINIMAL_PDF,
    RecordedRequest,
    Reply,
    SeaweedS3,
    StubHttpServer,
    agentrun_created,
    comment_payload,
    issue_body,
    issues_payload,
    pdf_reply,
    webhook_headers,
)

REPO = "proompteng/lab"
SECRET = "webhook-test-secret"
AUTH = {"Authorization": "Bearer control-test-token"}
AGENT_RUNS = "/v1/agent-runs"


async def deliver(client: httpx.AsyncClient, payload: dict[str, Any], *, event: str, delivery: str) -> httpx.Response:
    body = json.dumps(payload).encode()
    return await client.post("/webhooks/github", content=body,
                             headers=webhook_headers(SECRET, body, event=event, delivery=delivery))


async def run_events(bootstrap: str, prefix: str, expect: int, settle: float = 0.3) -> list[Any]:
    records = await read_records(bootstrap, prefix + topics.WHITEPAPER_RUNS.name, expect=expect, settle=settle)
    return records


def distinct(records: list[Any]) -> list[Any]:
    """One record per message id: an event published twice (the outbox retried) carries the same id."""
    seen: set[str] = set()
    out = []
    for record in records:
        if record.headers[h.MESSAGE_ID] not in seen:
            seen.add(record.headers[h.MESSAGE_ID])
            out.append(record)
    return out


def statuses(records: list[Any]) -> list[str]:
    return [r.model(topics.WHITEPAPER_RUNS).status.value for r in distinct(records)]


async def handled(service: WhitepaperService, outcome: str, count: int, timeout: float = 20.0) -> None:
    """Wait until the worker has handled ``count`` issue events with ``outcome`` (processed / duplicate)."""
    counter = service.runtime.metrics.messages.labels(topic=topics.GITHUB_ISSUE_EVENTS.name, outcome=outcome)
    deadline = time.monotonic() + timeout
    while counter._value.get() < count:
        assert time.monotonic() < deadline, f"never saw {count} {outcome} issue events"
        await asyncio.sleep(0.05)


async def wait_for(client: httpx.AsyncClient, run_id: str, predicate: Callable[[dict[str, Any]], bool],
                   timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    detail: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.get(f"/whitepapers/runs/{run_id}", headers=AUTH)
        if response.status_code == 200:
            detail = response.json()
            if predicate(detail):
                return detail
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached the expected state; last: {detail}")


FINAL = {
    "status": "completed", "source": "jangar-whitepaper-finalize-consumer", "agentrun_name": "wp-agentrun-1",
    "repository": REPO, "head_branch": "codex/whitepaper-x", "base_branch": "main",
    "synthesis": {"executive_summary": "Janus-Q", "confidence": 0.82},
    "verdict": {"verdict": "implement", "score": 0.8, "confidence": 0.82},
    "design_pull_request": {"pr_number": 3600, "pr_url": "https://github.com/proompteng/lab/pull/3600"},
    "artifacts": [{"artifact_type": "design_doc", "artifact_uri": "docs/whitepapers/x/design.md"}],
}


@pytest.mark.parametrize("store", ["local", "s3"])
async def test_webhook_to_finalize(store: str, request: pytest.FixtureRequest, make_service: Callable[...,
                                   WhitepaperService], client_for: Callable[[WhitepaperService], httpx.AsyncClient],
                                   stub_http: StubHttpServer, kafka_bootstrap: str, wp_topics: str) -> None:
    overrides: dict[str, Any] = {}
    if store == "s3":
        seaweed: SeaweedS3 = request.getfixturevalue("seaweed")
        overrides = {"whitepaper_object_store": "s3", "whitepaper_s3_bucket": seaweed.bucket,
                     "whitepaper_s3_endpoint_url": seaweed.endpoint_url,
                     "whitepaper_s3_access_key_id": seaweed.access_key,
                     "whitepaper_s3_secret_access_key": seaweed.secret_key}
    stub_http.route("GET", "/papers/janus-q.pdf", pdf_reply())
    stub_http.route("POST", AGENT_RUNS, agentrun_created("wp-agentrun-1"))
    pdf_url = stub_http.url("/papers/janus-q.pdf")
    run_id = ids.run_id(REPO, 3589, normalize_url(pdf_url))
    sha = hashlib.sha256(MINIMAL_PDF).hexdigest()
    issue = issues_payload(REPO, 3589, issue_body(pdf_url))
    service = make_service(**overrides)

    async with service.runtime.running():
        client = client_for(service)
        first = await deliver(client, issue, event="issues", delivery="delivery-1")
        again = await deliver(client, issue, event="issues", delivery="delivery-1")  # GitHub redelivers
        assert (first.status_code, again.status_code) == (202, 202)
        await handled(service, "processed", 1)
        await handled(service, "duplicate", 1)
        records = await run_events(kafka_bootstrap, wp_topics, expect=3)
        assert statuses(records) == ["received", "pdf_stored", "dispatched"]
        assert len(records) == 3, "the duplicate delivery published nothing: a run's events go out once, by the outbox"

        # An edit of the issue (a new delivery, same paper) is a replay: no new rows, no new dispatch.
        edited = issues_payload(REPO, 3589, issue_body(pdf_url) + "\n\nedited", action="edited")
        assert (await deliver(client, edited, event="issues", delivery="delivery-2")).status_code == 202
        inbound = await read_records(kafka_bootstrap, wp_topics + topics.GITHUB_ISSUE_EVENTS.name, expect=3)
        assert [r.key for r in inbound] == [f"{REPO}#3589"] * 3
        assert inbound[0].headers[h.MESSAGE_ID] == inbound[1].headers[h.MESSAGE_ID] == \
            derived_message_id("github-delivery", "delivery-1")
        await handled(service, "processed", 2)

        [dispatch] = stub_http.requests_to("POST", AGENT_RUNS)
        assert len(stub_http.requests_to("GET", "/papers/janus-q.pdf")) == 1
        body = dispatch.json()
        key = ids.object_key(sha)
        expected_uri = f"s3://{overrides['whitepaper_s3_bucket']}/{key}" if store == "s3" else None
        assert dispatch.headers["idempotency-key"] == body["idempotencyKey"] == run_id
        assert body["parameters"]["runId"] == run_id and body["parameters"]["issueNumber"] == "3589"
        assert body["parameters"]["cephUri"] == (expected_uri or body["parameters"]["cephUri"])
        assert body["parameters"]["cephUri"].endswith(key)
        assert await service.objects.get(key) == MINIMAL_PDF

        detail = await wait_for(client, run_id, lambda d: d["status"] == "dispatched")
        assert (detail["pdf_sha256"], detail["pdf_size_bytes"]) == (sha, len(MINIMAL_PDF))
        assert detail["agentrun_name"] == "wp-agentrun-1" and detail["agentrun_idempotency_key"] == run_id
        assert detail["source_event"]["delivery_id"] == "delivery-1"
        assert [e["to_status"] for e in detail["events"]] == ["received", "pdf_stored", "dispatched"]

        finalize = await client.post(f"/whitepapers/runs/{run_id}/finalize", json=FINAL, headers=AUTH)
        assert finalize.status_code == 200 and finalize.json() == {"run_id": run_id, "status": "finalized",
                                                                   "changed": True}
        repeat = await client.post(f"/whitepapers/runs/{run_id}/finalize", json=FINAL, headers=AUTH)
        assert repeat.json()["changed"] is False
        records = await run_events(kafka_bootstrap, wp_topics, expect=4, settle=0.5)
        detail = await wait_for(client, run_id, lambda d: d["status"] == "finalized")

    assert statuses(records) == ["received", "pdf_stored", "dispatched", "finalized"]
    assert len(records) == 4, "the repeated finalize published nothing"
    events = [r.model(topics.WHITEPAPER_RUNS) for r in distinct(records)]
    assert {r.key for r in records} == {run_id}
    assert {r.headers[h.CORRELATION_ID] for r in records} == {run_id}
    assert events[1].pdf_sha256 == sha and events[1].pdf_size_bytes == len(MINIMAL_PDF)
    assert events[3].event_id == ids.run_event_id(run_id, 4, "finalized")
    assert detail["result"]["verdict"] == "implement"
    assert detail["result"]["design_pull_requests"] == ["https://github.com/proompteng/lab/pull/3600"]
    assert detail["finalized_at"] is not None


async def test_a_failed_dispatch_is_requeued_by_comment(
        make_service: Callable[..., WhitepaperService], client_for: Callable[[WhitepaperService], httpx.AsyncClient],
        stub_http: StubHttpServer, kafka_bootstrap: str, wp_topics: str) -> None:
    agent_up = False

    def jangar(_: RecordedRequest) -> Reply:
        return agentrun_created("wp-agentrun-2", phase="Running") if agent_up else Reply(503, b"unavailable")

    stub_http.route("GET", "/p.pdf", pdf_reply())
    stub_http.route("POST", AGENT_RUNS, jangar)
    pdf_url = stub_http.url("/p.pdf")
    text = issue_body(pdf_url)
    run_id = ids.run_id(REPO, 7, normalize_url(pdf_url))
    service = make_service()

    async with service.runtime.running():
        client = client_for(service)
        await deliver(client, issues_payload(REPO, 7, text), event="issues", delivery="open-7")
        detail = await wait_for(client, run_id, lambda d: d["status"] == "failed")
        assert detail["status_reason"] == "agentrun_dispatch_failed:http_503 after 3 attempt(s)"
        assert detail["dispatch_attempts"] == 3
        assert len(stub_http.requests_to("POST", AGENT_RUNS)) == 3

        agent_up = True
        await deliver(client, comment_payload(REPO, 7, text, "thanks!"), event="issue_comment", delivery="c-1")
        await deliver(client, comment_payload(REPO, 7, text, "Please research whitepaper again"),
                      event="issue_comment", delivery="c-2")
        detail = await wait_for(client, run_id, lambda d: d["status"] == "running")
        # A second keyword comment while the run is live changes nothing.
        await deliver(client, comment_payload(REPO, 7, text, "research whitepaper"), event="issue_comment",
                      delivery="c-3")
        records = await run_events(kafka_bootstrap, wp_topics, expect=7, settle=0.5)

        # Jangar reports the AgentRun failed; a new keyword comment re-dispatches once more.
        failed = {"status": "failed", "failure_reason": "agentrun_failed", "agentrun_name": "wp-agentrun-2"}
        assert (await client.post(f"/whitepapers/runs/{run_id}/finalize", json=failed, headers=AUTH)).json()[
            "status"] == "failed"
        await deliver(client, comment_payload(REPO, 7, text, "research whitepaper"), event="issue_comment",
                      delivery="c-4")
        last = await wait_for(client, run_id, lambda d: d["dispatch_generation"] == 3 and d["status"] == "running")

    assert statuses(records) == ["received", "pdf_stored", "failed", "received", "pdf_stored", "dispatched",
                                 "running"]
    assert records[3].model(topics.WHITEPAPER_RUNS).reason.startswith("requeued after: agentrun_dispatch_failed")
    keys = [r.headers["idempotency-key"] for r in stub_http.requests_to("POST", AGENT_RUNS)]
    assert keys == [run_id] * 3 + [f"{run_id}-retry-1", f"{run_id}-retry-2"]
    heads = [r.json()["parameters"]["head"] for r in stub_http.requests_to("POST", AGENT_RUNS)]
    assert heads[-1].endswith("-retry-2")
    assert len(stub_http.requests_to("GET", "/p.pdf")) == 1, "a stored PDF is not fetched again"
    assert detail["agentrun_name"] == "wp-agentrun-2"
    assert [e["to_status"] for e in last["events"]] == [
        "received", "pdf_stored", "failed", "received", "pdf_stored", "dispatched", "running",
        "failed", "received", "pdf_stored", "dispatched", "running"]
    assert [e["seq"] for e in last["events"]] == list(range(1, 13))


async def test_a_pdf_that_cannot_be_fetched_fails_the_run_with_its_reason(
        make_service: Callable[..., WhitepaperService], client_for: Callable[[WhitepaperService], httpx.AsyncClient],
        stub_http: StubHttpServer, kafka_bootstrap: str, wp_topics: str) -> None:
    stub_http.route("GET", "/gone.pdf", Reply(404, b"gone"))
    pdf_url = stub_http.url("/gone.pdf")
    run_id = ids.run_id(REPO, 8, normalize_url(pdf_url))
    service = make_service()
    async with service.runtime.running():
        client = client_for(service)
        payload = issues_payload(REPO, 8, issue_body(pdf_url), title="NUL \u0000 in a title")
        await deliver(client, payload, event="issues", delivery="open-8")
        detail = await wait_for(client, run_id, lambda d: d["status"] == "failed")
        records = await run_events(kafka_bootstrap, wp_topics, expect=2, settle=0.3)
        late = await client.post(f"/whitepapers/runs/{run_id}/finalize", json={"status": "completed"}, headers=AUTH)
        assert late.status_code == 409, "a run that was never dispatched cannot be reported complete"
    assert detail["status_reason"] == "download_failed:http_404" and detail["pdf_sha256"] is None
    assert detail["issue_title"] == "NUL \ufffd in a title", "Postgres refuses NUL; it is replaced, not fatal"
    assert statuses(records) == ["received", "failed"]
    assert records[1].model(topics.WHITEPAPER_RUNS).reason == "download_failed:http_404"
    assert stub_http.requests_to("POST", AGENT_RUNS) == []
