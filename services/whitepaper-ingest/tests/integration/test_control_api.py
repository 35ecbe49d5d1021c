"""The control API on the real broker and Postgres: auth on every route, manual replay, dispatch, finalize."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from torghut_contracts import topics
from torghut_runtime.testing import read_records
from torghut_whitepaper_ingest.app import WhitepaperService
from torghut_whitepaper_ingest.domain import ids
from torghut_whitepaper_ingest.domain.issue_body import normalize_url
from torghut_whitepaper_ingest.testing import (
    StubHttpServer,
    agentrun_created,
    issue_body,
    issues_payload,
    pdf_reply,
    webhook_headers,
)

REPO = "proompteng/lab"
TOKEN = "control-test-token"
ANY_RUN = "wp-0123456789abcdef01234567"
ROUTES = [
    ("GET", "/whitepapers/status", None),
    ("POST", "/whitepapers/events/github-issue", {"action": "opened"}),
    ("POST", f"/whitepapers/runs/{ANY_RUN}/dispatch-agentrun", {}),
    ("POST", f"/whitepapers/runs/{ANY_RUN}/finalize", {"status": "completed"}),
    ("GET", f"/whitepapers/runs/{ANY_RUN}", None),
]
Factory = Callable[..., WhitepaperService]
Clients = Callable[[WhitepaperService], httpx.AsyncClient]


async def call(client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers)


async def test_every_route_needs_the_token(make_service: Factory, client_for: Clients) -> None:
    closed = client_for(make_service(whitepaper_workflow_api_token=None, jangar_api_key=None))
    for method, path, body in ROUTES:  # no token configured: refused before anything is read
        for headers in ({}, {"Authorization": "Bearer anything"}):
            r = await call(closed, method, path, body, headers)
            assert (r.status_code, r.json()["error"]) == (503, "control_api_token_not_configured"), path

    service = make_service()
    async with service.runtime.running():
        client = client_for(service)
        for method, path, body in ROUTES:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                            {"Authorization": f"Bearer {TOKEN}x"}, {"X-Whitepaper-Token": "wrong"}):
                r = await call(client, method, path, body, headers)
                assert r.status_code == 401, (path, headers)
                assert r.json()["error"] == "whitepaper_control_auth_required"
                assert r.headers["www-authenticate"].startswith("Bearer")
            for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"authorization": f"bearer {TOKEN}"},
                            {"X-Whitepaper-Token": TOKEN}):
                r = await call(client, method, path, body, headers)
                assert r.status_code not in (401, 503), (path, headers, r.text)


async def test_jangar_api_key_is_the_fallback_token(make_service: Factory, client_for: Clients) -> None:
    service = make_service(whitepaper_workflow_api_token=None, jangar_api_key="jangar-key")
    async with service.runtime.running():
        client = client_for(service)
        assert (await client.get("/whitepapers/status", headers={"Authorization": "Bearer jangar-key"})
                ).status_code == 200
        assert (await client.get("/whitepapers/status", headers={"Authorization": f"Bearer {TOKEN}"})
                ).status_code == 401


async def wait_status(client: httpx.AsyncClient, run_id: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await client.get(f"/whitepapers/runs/{run_id}", headers={"Authorization": f"Bearer {TOKEN}"})
        if r.status_code == 200 and r.json()["status"] == status:
            return dict(r.json())
        await asyncio.sleep(0.05)
    raise AssertionError(f"{run_id} never reached {status}")


async def test_manual_replay_and_manual_dispatch(make_service: Factory, client_for: Clients,
                                                 stub_http: StubHttpServer, kafka_bootstrap: str,
                                                 wp_topics: str) -> None:
    stub_http.route("GET", "/p.pdf", pdf_reply())
    stub_http.route("POST", "/v1/agent-runs", agentrun_created("wp-manual-1"))
    pdf_url = stub_http.url("/p.pdf")
    run_id = ids.run_id(REPO, 21, normalize_url(pdf_url))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    service = make_service(whitepaper_agentrun_auto_dispatch=False)
    async with service.runtime.running():
        client = client_for(service)
        # Upstream's wrapper form, with the event name and delivery id inside.
        wrapped = {"headers": {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "manual-21"},
                   "body": issues_payload(REPO, 21, issue_body(pdf_url))}
        r = await client.post("/whitepapers/events/github-issue", json=wrapped, headers=auth)
        assert r.status_code == 202
        assert r.json() | {"message_id": None} == {"accepted": True, "reason": "queued", "run_id": run_id,
                                                   "delivery_id": "manual-21", "message_id": None}
        stored = await wait_status(client, run_id, "pdf_stored")
        assert stored["agentrun_name"] is None, "auto dispatch is off"

        unmarked = await client.post("/whitepapers/events/github-issue", headers=auth,
                                     json=issues_payload(REPO, 22, "no marker here https://x.org/a.pdf"))
        assert (unmarked.status_code, unmarked.json()["reason"]) == (200, "marker_missing")
        assert (await client.post("/whitepapers/events/github-issue", headers=auth, json={"zen": "ping"})
                ).status_code == 400
        assert (await client.post("/whitepapers/events/github-issue", headers=auth, content=b"{oops")
                ).status_code == 400

        early = await client.post(f"/whitepapers/runs/{run_id}/finalize", headers=auth, json={"status": "completed"})
        assert (early.status_code, early.json()["error"]) == (409, "illegal_transition")

        dispatched = await client.post(f"/whitepapers/runs/{run_id}/dispatch-agentrun", headers=auth)
        assert dispatched.status_code == 202
        assert dispatched.json() | {"reason": None} == {"run_id": run_id, "status": "dispatched", "idempotent": False,
                                                        "agentrun_name": "wp-manual-1", "reason": None}
        again = await client.post(f"/whitepapers/runs/{run_id}/dispatch-agentrun", headers=auth)
        assert (again.status_code, again.json()["idempotent"]) == (200, True)
        assert len(stub_http.requests_to("POST", "/v1/agent-runs")) == 1

        for bad in (b"[1]", b"{bad", json.dumps({"status": "exploded"}).encode()):
            r = await client.post(f"/whitepapers/runs/{run_id}/finalize", headers=auth, content=bad)
            assert r.status_code in (400, 422), bad
        missing = await client.post("/whitepapers/runs/wp-ffffffffffffffffffffffff/finalize", headers=auth, json={})
        assert missing.status_code == 404
        assert (await client.get("/whitepapers/runs/not-a-run-id", headers=auth)).status_code == 404
        assert (await client.post("/whitepapers/runs/wp-ffffffffffffffffffffffff/dispatch-agentrun",
                                  headers=auth)).status_code == 404

        done = await client.post(f"/whitepapers/runs/{run_id}/finalize", headers=auth,
                                 json={"status": "completed", "synthesis": {"executive_summary": "NUL \u0000"}})
        assert done.json()["status"] == "finalized"
        refused = await client.post(f"/whitepapers/runs/{run_id}/dispatch-agentrun", headers=auth)
        assert (refused.status_code, refused.json()["error"]) == (409, "already_finalized")
        other = await client.post(f"/whitepapers/runs/{run_id}/finalize", headers=auth,
                                  json={"status": "failed", "failure_reason": "agentrun_failed"})
        assert other.status_code == 409, "a finalized run takes no other outcome"

        status = (await client.get("/whitepapers/status", headers=auth)).json()
        records = await read_records(kafka_bootstrap, wp_topics + topics.WHITEPAPER_RUNS.name, expect=4, settle=0.3)

    assert status["workflow_enabled"] is True and status["worker_running"] is True
    assert status["agentrun_auto_dispatch"] is False and status["object_store"] == "local"
    assert status["requeue_comment_keyword"] == "research whitepaper"
    assert status["runs_by_status"] == {"finalized": 1} and status["unpublished_run_events"] == 0
    assert [r.model(topics.WHITEPAPER_RUNS).status.value for r in records] == [
        "received", "pdf_stored", "dispatched", "finalized"]


async def test_a_disabled_workflow_does_nothing(make_service: Factory, client_for: Clients, kafka_bootstrap: str,
                                                wp_topics: str) -> None:
    service = make_service(whitepaper_workflow_enabled=False, github_webhook_secret=None)
    assert not list(service.runtime.broker.subscribers), "no worker consumes while the workflow is off"
    async with service.runtime.running():
        client = client_for(service)
        body = json.dumps(issues_payload(REPO, 5, issue_body("https://x.org/p.pdf"))).encode()
        r = await client.post("/webhooks/github", content=body,
                              headers=webhook_headers(None, body, event="issues", delivery="d-5"))
        assert r.status_code == 202 and r.json()["reason"] == "workflow_disabled"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        replay = await client.post("/whitepapers/events/github-issue", content=body, headers=auth)
        assert replay.json() == {"accepted": False, "reason": "workflow_disabled"}
        status = (await client.get("/whitepapers/status", headers=auth)).json()
        assert (status["workflow_enabled"], status["worker_running"]) == (False, False)
        inbound = await read_records(kafka_bootstrap, wp_topics + topics.GITHUB_ISSUE_EVENTS.name, expect=0,
                                     settle=0.3)
    assert inbound == []
