"""No download, upload or AgentRun submission holds a database connection: the issue event's handler
writes the run and its work, the advancer takes the slow steps outside any transaction. On the real
broker and Postgres, Jangar and the PDF host a local HTTP server.

* a pool of two connections serves 64 downloads, then 64 submissions, in flight at once;
* a worker that dies with a submission in flight: the next one submits the same idempotency key,
  and the run gets the one AgentRun Jangar created, never a second;
* a worker that dies before the run's events went out: they are published once, later.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_runtime.testing import UnreachableBroker, read_records
from torghut_whitepaper_ingest.adapters import work_store
from torghut_whitepaper_ingest.app import WhitepaperService
from torghut_whitepaper_ingest.domain import ids
from torghut_whitepaper_ingest.domain.issue_body import normalize_url
from torghut_whitepaper_ingest.testing import (
    RecordedRequest,
    Reply,
    StubHttpServer,
    agentrun_created,
    issue_body,
    issues_payload,
    pdf_reply,
    webhook_headers,
)

REPO = "proompteng/lab"
SECRET = "webhook-test-secret"
AGENT_RUNS = "/v1/agent-runs"
POOL_SIZE = 2
Factory = Callable[..., WhitepaperService]
Clients = Callable[[WhitepaperService], httpx.AsyncClient]


class Barrier:
    """Each request waits until ``count`` are in flight together (or ``timeout_s`` passed): proof they were."""

    def __init__(self, count: int, timeout_s: float = 20.0) -> None:
        self.count = count
        self.timeout_s = timeout_s
        self.arrived = 0
        self.reached = False
        self._cond = threading.Condition()

    def wait(self) -> None:
        with self._cond:
            self.arrived += 1
            if self.arrived >= self.count:
                self.reached = True
                self._cond.notify_all()
            self._cond.wait_for(lambda: self.reached, timeout=self.timeout_s)


class FakeJangar:
    """``POST /v1/agent-runs`` keyed by ``Idempotency-Key``: a key seen before gets the AgentRun it created."""

    def __init__(self) -> None:
        self.created: dict[str, str] = {}
        self.submissions: list[str] = []
        self.barrier: Barrier | None = None
        self.answering = threading.Event()
        self.answering.set()
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        key = request.headers["idempotency-key"]
        with self._lock:
            self.submissions.append(key)
            name = self.created.setdefault(key, f"wp-agentrun-{len(self.created) + 1}")
        if self.barrier is not None:
            self.barrier.wait()
        self.answering.wait(timeout=30)
        return agentrun_created(name)




async def deliver(client: httpx.AsyncClient, number: int, pdf_url: str, delivery: str) -> None:
    body = json.dumps(issues_payload(REPO, number, issue_body(pdf_url))).encode()
    response = await client.post("/webhooks/github", content=body,
                                 headers=webhook_headers(SECRET, body, event="issues", delivery=delivery))
    assert response.status_code == 202, response.text


async def scalar(service: WhitepaperService, sql: str) -> Any:
    async with service.runtime.engine.connect() as conn:
        return (await conn.execute(sa.text(sql))).scalar()


async def until(probe: Callable[[], Awaitable[Any]], what: str, *, expect: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (value := await probe()) != expect:
        assert time.monotonic() < deadline, f"timed out waiting for {what} (last: {value!r})"
        await asyncio.sleep(0.05)


def outcome_count(service: WhitepaperService, outcome: str) -> float:
    counter = service.runtime.metrics.messages.labels(topic=topics.GITHUB_ISSUE_EVENTS.name, outcome=outcome)
    return float(counter._value.get())


async def test_a_pool_of_two_connections_serves_64_downloads_and_submissions_in_flight_at_once(
        make_service: Factory, client_for: Clients, stub_http: StubHttpServer,
        wp_topics: str, kafka_bootstrap: str) -> None:
    count = 64
    downloads = Barrier(count)
    jangar = FakeJangar()
    jangar.barrier = Barrier(count)

    def pdf(_: RecordedRequest) -> Reply:
        downloads.wait()
        return pdf_reply()

    stub_http.route("GET", "/p.pdf", pdf)
    stub_http.route("POST", AGENT_RUNS, jangar)
    service = make_service(whitepaper_download_timeout_seconds=60, whitepaper_agentrun_timeout_seconds=60,
                           database_pool_size=POOL_SIZE, database_max_overflow=0, database_pool_timeout_s=10)
    service.advancer.concurrency = count
    assert service.runtime.engine.pool.size() == POOL_SIZE  # type: ignore[attr-defined]
    async with service.runtime.running():
        client = client_for(service)
        for n in range(count):
            await deliver(client, 1000 + n, stub_http.url("/p.pdf"), f"d-{n}")
        await until(lambda: scalar(service, "SELECT count(*) FROM whitepaper_runs WHERE status = 'dispatched'"),
                    "every run dispatched", expect=count, timeout=120)
        await until(lambda: scalar(service, "SELECT count(*) FROM whitepaper_run_work"), "no work left", expect=0)
        records = await read_records(kafka_bootstrap, wp_topics + topics.WHITEPAPER_RUNS.name, expect=3 * count,
                                     settle=0.5)
        processed, retried = outcome_count(service, "processed"), outcome_count(service, "retried")

    assert downloads.reached and downloads.arrived == count, "all 64 downloads were in flight at once"
    assert jangar.barrier.reached and len(jangar.submissions) == count, "so were all 64 submissions"
    assert len(jangar.created) == count and len(set(jangar.submissions)) == count
    assert (processed, retried) == (count, 0), "no handler waited for a connection until it failed"
    assert len(records) == 3 * count and len({r.headers[h.MESSAGE_ID] for r in records}) == 3 * count


async def test_a_worker_dying_with_a_submission_in_flight_never_makes_a_second_agentrun(
        make_service: Factory, client_for: Clients, stub_http: StubHttpServer, kafka_bootstrap: str,
        wp_topics: str, monkeypatch: pytest.MonkeyPatch) -> None:
    jangar = FakeJangar()
    jangar.answering.clear()  # Jangar creates the AgentRun but the worker dies before the answer
    stub_http.route("GET", "/p.pdf", pdf_reply())
    stub_http.route("POST", AGENT_RUNS, jangar)
    pdf_url = stub_http.url("/p.pdf")
    run_id = ids.run_id(REPO, 41, normalize_url(pdf_url))
    first = make_service(graceful_timeout_s=0.5)
    monkeypatch.setattr(work_store, "release", lambda *_, **__: asyncio.sleep(0))  # a crash gives nothing back
    async with first.runtime.running():
        await deliver(client_for(first), 41, pdf_url, "d-41")
        await until(lambda: asyncio.sleep(0, len(jangar.submissions)), "the submission", expect=1)
    assert await scalar(first, "SELECT status FROM whitepaper_runs") == "pdf_stored"
    assert await scalar(first, "SELECT dispatch_generation FROM whitepaper_run_work") == 1, "the claim is kept"
    monkeypatch.undo()
    jangar.answering.set()

    second = make_service()
    async with second.runtime.running():
        client = client_for(second)
        await deliver(client, 41, pdf_url, "d-41")  # GitHub redelivers, too
        await until(lambda: scalar(second, "SELECT status FROM whitepaper_runs"), "the dispatch", expect="dispatched")
        await until(lambda: asyncio.sleep(0, outcome_count(second, "duplicate")), "the redelivery", expect=1)
        records = await read_records(kafka_bootstrap, wp_topics + topics.WHITEPAPER_RUNS.name, expect=3, settle=0.5)
        detail = (await client.get(f"/whitepapers/runs/{run_id}",
                                   headers={"Authorization": "Bearer control-test-token"})).json()

    assert jangar.submissions == [run_id, run_id], "the same idempotency key, submitted again after the crash"
    assert list(jangar.created.values()) == ["wp-agentrun-1"], "one AgentRun"
    assert (detail["agentrun_name"], detail["dispatch_generation"]) == ("wp-agentrun-1", 1)
    assert [r.model(topics.WHITEPAPER_RUNS).status.value for r in records] == ["received", "pdf_stored",
                                                                              "dispatched"]
    assert len(stub_http.requests_to("GET", "/p.pdf")) == 1, "the stored PDF is not fetched again"


async def test_a_worker_dying_before_the_events_went_out_leaves_them_to_be_published_once(
        make_service: Factory, client_for: Clients, stub_http: StubHttpServer, kafka_bootstrap: str,
        wp_topics: str) -> None:
    jangar = FakeJangar()
    stub_http.route("GET", "/p.pdf", pdf_reply())
    stub_http.route("POST", AGENT_RUNS, jangar)
    pdf_url = stub_http.url("/p.pdf")
    first = make_service(graceful_timeout_s=0.5)

    first.outbox.sends = UnreachableBroker()
    async with first.runtime.running():
        await deliver(client_for(first), 42, pdf_url, "d-42")
        await until(lambda: scalar(first, "SELECT status FROM whitepaper_runs"), "the dispatch", expect="dispatched")
    assert await scalar(first, "SELECT count(*) FROM whitepaper_run_events WHERE published_at IS NULL") == 3
    assert await read_records(kafka_bootstrap, wp_topics + topics.WHITEPAPER_RUNS.name, expect=0, settle=0.3) == []

    second = make_service()
    async with second.runtime.running():
        await deliver(client_for(second), 42, pdf_url, "d-42")  # redelivered: nothing to do again
        await until(lambda: scalar(second, "SELECT count(*) FROM whitepaper_run_events WHERE published_at IS NULL"),
                    "the events published", expect=0)
        records = await read_records(kafka_bootstrap, wp_topics + topics.WHITEPAPER_RUNS.name, expect=3, settle=0.5)
    assert [r.model(topics.WHITEPAPER_RUNS).status.value for r in records] == ["received", "pdf_stored",
                                                                              "dispatched"]
    assert len(jangar.submissions) == 1 and len(stub_http.requests_to("GET", "/p.pdf")) == 1


def as_replica(service: WhitepaperService, owner: str) -> WhitepaperService:
    """The service as another replica (another pod) sees it: its own lease owner."""
    service.advancer.owner = service.advancer.recorder.owner = owner
    return service


async def test_a_step_longer_than_its_lease_keeps_the_run_and_a_dead_workers_run_is_taken_over(
        make_service: Factory, client_for: Clients, stub_http: StubHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    jangar = FakeJangar()
    stub_http.route("GET", "/slow.pdf", pdf_reply(delay_s=2.0))  # four leases of 0.5 s
    stub_http.route("POST", AGENT_RUNS, jangar)

    def downloads() -> Awaitable[int]:
        return asyncio.sleep(0, len(stub_http.requests_to("GET", "/slow.pdf")))

    lease = {"whitepaper_lease_seconds": 0.5, "graceful_timeout_s": 0.2}
    first, second = as_replica(make_service(**lease), "replica-a"), as_replica(make_service(**lease), "replica-b")
    second.advancer.concurrency = 0  # b stands aside until a has taken the run
    second.advancer.poll_s = 0.1  # then looks for work ten times a second
    async with first.runtime.running(), second.runtime.running():
        await deliver(client_for(first), 51, stub_http.url("/slow.pdf"), "d-51")
        await until(downloads, "a's download", expect=1)
        second.advancer.concurrency = 8
        await until(lambda: scalar(first, "SELECT status FROM whitepaper_runs"), "the dispatch", expect="dispatched")
        assert await downloads() == 1, "a's renewed lease kept the run from b for all four leases"

        # a dies in the middle of a download (a crash gives nothing back): b takes the run within a lease.
        monkeypatch.setattr(work_store, "release", lambda *_, **__: asyncio.sleep(0))
        second.advancer.concurrency = 0
        await deliver(client_for(first), 52, stub_http.url("/slow.pdf"), "d-52")
        await until(downloads, "a's second download", expect=2)
        first.advancer.concurrency = 0
        await first.advancer.drain(0.0)
        second.advancer.concurrency = 8
        second.advancer.wake()
        await until(lambda: scalar(second, "SELECT count(*) FROM whitepaper_runs WHERE status = 'dispatched'"),
                    "b dispatching the run a dropped", expect=2, timeout=30)
    assert await downloads() == 3, "b downloaded the dropped run again"
    assert len(jangar.created) == 2, "one AgentRun per run"
