"""Group commit of the runs' slow steps, on the real broker and Postgres (Jangar a local HTTP server).

* the outcomes of many runs' calls are recorded in one transaction (Postgres' ``xmin``: the id of the
  transaction that last wrote a row), which also claims each run's dispatch;
* a worker that dies after that commit, before submitting, leaves the claims: the next lease submits
  each run's AgentRun once, under the claimed generation's idempotency key;
* the outbox publishes many runs' events in one batch, each run's in order.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import sqlalchemy as sa
from torghut_contracts import topics
from torghut_runtime.db import StoredOutput
from torghut_runtime.outbox import Sends
from torghut_runtime.testing import read_records
from torghut_whitepaper_ingest.adapters import work_store
from torghut_whitepaper_ingest.app import WhitepaperService
from torghut_whitepaper_ingest.domain import ids
from torghut_whitepaper_ingest.domain.outcomes import PdfStored
from torghut_whitepaper_ingest.domain.work import Step
from torghut_whitepaper_ingest.testing import (
    RecordedRequest,
    Reply,
    StubHttpServer,
    agentrun_created,
    issue_body,
    issues_payload,
    webhook_headers,
)

REPO = "proompteng/lab"
SECRET = "webhook-test-secret"
AGENT_RUNS = "/v1/agent-runs"
COUNT = 6
Factory = Callable[..., WhitepaperService]
Clients = Callable[[WhitepaperService], httpx.AsyncClient]


class KeyedJangar:
    """``POST /v1/agent-runs``: one AgentRun per ``Idempotency-Key``; every submission's key recorded."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.keys.append(request.headers["idempotency-key"])
        return agentrun_created(f"wp-agentrun-{request.headers['idempotency-key']}")


async def rows(service: WhitepaperService, sql: str) -> list[Any]:
    async with service.runtime.engine.connect() as conn:
        return list((await conn.execute(sa.text(sql))).all())


async def until(probe: Callable[[], Awaitable[Any]], what: str, *, expect: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (value := await probe()) != expect:
        assert time.monotonic() < deadline, f"timed out waiting for {what} (last: {value!r})"
        await asyncio.sleep(0.05)


async def count(service: WhitepaperService, sql: str) -> int:
    return int((await rows(service, sql))[0][0])


class BatchSizes:
    """The outbox's sends, counting the records of each batch it publishes (one confirm a batch)."""

    def __init__(self, sends: Sends) -> None:
        self.sends = sends
        self.sizes: list[int] = []

    async def send(self, output: StoredOutput) -> asyncio.Future[Any]:
        return await self.sends.send(output)

    async def confirm(self, sent: Sequence[tuple[StoredOutput, asyncio.Future[Any]]]) -> None:
        self.sizes.append(len(sent))
        await self.sends.confirm(sent)


def stored_facts(run_id: str) -> dict[str, Any]:
    sha = hashlib.sha256(run_id.encode()).hexdigest()
    return {"pdf_sha256": sha, "pdf_size_bytes": 100, "pdf_content_type": "application/pdf",
            "object_key": ids.object_key(sha), "object_uri": f"file:///papers/{sha}"}


async def test_outcomes_of_many_runs_are_one_transaction_and_a_crash_after_it_resubmits_the_claimed_keys(
        make_service: Factory, client_for: Clients, stub_http: StubHttpServer, kafka_bootstrap: str,
        wp_topics: str) -> None:
    jangar = KeyedJangar()
    stub_http.route("POST", AGENT_RUNS, jangar)
    service = make_service()
    advancer = service.advancer
    advancer.concurrency = 0  # this worker takes no step by itself until the test says so
    batches = BatchSizes(service.outbox.sends)
    service.outbox.sends = batches
    async with service.runtime.running():
        client = client_for(service)
        for n in range(COUNT):
            body = json.dumps(issues_payload(REPO, 500 + n, issue_body(stub_http.url(f"/p{n}.pdf")))).encode()
            response = await client.post("/webhooks/github", content=body,
                                         headers=webhook_headers(SECRET, body, event="issues", delivery=f"g-{n}"))
            assert response.status_code == 202, response.text
        await until(lambda: count(service, "SELECT count(*) FROM whitepaper_run_work"), "intake", expect=COUNT)
        run_ids = [row.run_id for row in await rows(service, "SELECT run_id FROM whitepaper_run_work")]
        leased = await work_store.lease(service.runtime.engine, run_ids, owner=advancer.owner,
                                        lease_s=advancer.lease_s)
        assert sorted(item.run.run_id for item in leased) == sorted(run_ids)

        # Every download finished at once: their outcomes queue while the first is being recorded.
        following = await asyncio.gather(*(
            advancer.recorder.record(PdfStored(run_id, stored_facts(run_id)), cause="test") for run_id in run_ids))
        work = await rows(service, "SELECT xmin::text AS tx, step, dispatch_generation FROM whitepaper_run_work")
        runs = await rows(service, "SELECT xmin::text AS tx, status, seq FROM whitepaper_runs")
        assert len({row.tx for row in work}) <= 2 and len({row.tx for row in runs}) <= 2, \
            f"{COUNT} outcomes recorded in at most two transactions"
        assert {(row.step, row.dispatch_generation) for row in work} == {(Step.DISPATCH.value, 1)}, \
            "each run's dispatch claimed in the same transaction"
        assert {(row.status, row.seq) for row in runs} == {("pdf_stored", 2)}
        assert all(item is not None and item.work.dispatch_generation == 1 for item in following)

        # The worker "dies" here, claims committed, nothing submitted. Its next lease takes them over.
        advancer.concurrency = 8
        advancer.wake()
        await until(lambda: count(service, "SELECT count(*) FROM whitepaper_runs WHERE status = 'dispatched'"),
                    "every run dispatched", expect=COUNT)
        await until(lambda: count(service, "SELECT count(*) FROM whitepaper_run_work"), "no work left", expect=0)
        records = await read_records(kafka_bootstrap, wp_topics + topics.WHITEPAPER_RUNS.name, expect=3 * COUNT,
                                     settle=0.5)

    assert sorted(jangar.keys) == sorted(run_ids), "one submission per run, under generation 1's key (the run id)"
    by_run: dict[str, list[str]] = {}
    for record in records:
        event = record.model(topics.WHITEPAPER_RUNS)
        by_run.setdefault(event.run_id, []).append(event.status.value)
    assert by_run == {run_id: ["received", "pdf_stored", "dispatched"] for run_id in run_ids}
    assert max(batches.sizes) >= COUNT - 1, "one publish for a group's events"
