"""A fetch's issue events taken in one transaction and a few statements, on the real broker and Postgres.

* issue events waiting on the topic when the service starts are written in one or two transactions
  (Postgres' ``xmin``: the id of the transaction that last wrote a row) and a statement or two per
  table, not one per event; a duplicate and an edit in the same fetch change nothing;
* within one group, an event sees what the events before it did: a second ``opened`` of a run created
  earlier in the group is a replay, and a second keyword comment on a run the group requeued finds
  it live (the group's prepared read of the run is stale by then).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import GithubIssueEvent
from torghut_runtime import Inbound
from torghut_whitepaper_ingest.adapters.webhook import issue_event_headers
from torghut_whitepaper_ingest.app import WhitepaperService
from torghut_whitepaper_ingest.domain import ids
from torghut_whitepaper_ingest.domain.issue_body import normalize_url
from torghut_whitepaper_ingest.domain.webhook import issue_event
from torghut_whitepaper_ingest.handlers import IssueEventHandler
from torghut_whitepaper_ingest.testing import StubHttpServer, comment_payload, issue_body, issues_payload

from .test_group_commit import rows, until

REPO = "proompteng/lab"
COUNT = 8
Factory = Callable[..., WhitepaperService]


def opened(stub_http: StubHttpServer, number: int, delivery: str, *, action: str = "opened") -> GithubIssueEvent:
    payload = issues_payload(REPO, number, issue_body(stub_http.url(f"/p{number}.pdf")), action=action)
    event = issue_event("issues", delivery, payload, datetime.now(UTC))
    assert isinstance(event, GithubIssueEvent)
    return event


def keyword_comment(stub_http: StubHttpServer, number: int, delivery: str) -> GithubIssueEvent:
    payload = comment_payload(REPO, number, issue_body(stub_http.url(f"/p{number}.pdf")), "research whitepaper")
    event = issue_event("issue_comment", delivery, payload, datetime.now(UTC))
    assert isinstance(event, GithubIssueEvent)
    return event


def run_id_of(stub_http: StubHttpServer, number: int) -> str:
    return ids.run_id(REPO, number, normalize_url(stub_http.url(f"/p{number}.pdf")))


async def test_issue_events_waiting_on_the_topic_are_taken_in_one_transaction(
        make_service: Factory, stub_http: StubHttpServer, kafka_bootstrap: str, wp_topics: str) -> None:
    events = [opened(stub_http, 900 + n, f"open-{n}") for n in range(COUNT)]
    events += [opened(stub_http, 900, "open-0-again"), opened(stub_http, 901, "edit-1", action="edited")]
    spec = topics.GITHUB_ISSUE_EVENTS
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:  # one key: the group is one partition's fetch, in this order
            await producer.send_and_wait(wp_topics + spec.name, spec.encode(event), key=b"one-repo",
                                         headers=issue_event_headers(event).as_kafka())
    finally:
        await producer.stop()

    service = make_service()
    service.advancer.concurrency = 0  # the runs stay as intake left them
    statements: list[str] = []
    sa.event.listen(service.runtime.engine.sync_engine, "before_cursor_execute",
                    lambda _conn, _cursor, statement, *_: statements.append(" ".join(statement.split())))
    async with service.runtime.running():
        await until(lambda: rows(service, "SELECT count(*) FROM processed_messages"), "every event processed",
                    expect=[(len(events),)])
        runs = await rows(service, "SELECT xmin::text AS tx, run_id, status, seq FROM whitepaper_runs")
        work = await rows(service, "SELECT xmin::text AS tx, run_id, step FROM whitepaper_run_work")
        lifecycle = await rows(service, "SELECT run_id, seq, to_status FROM whitepaper_run_events")

    expected = {run_id_of(stub_http, 900 + n) for n in range(COUNT)}
    assert {row.run_id for row in runs} == expected and len(runs) == COUNT
    assert {(row.status, row.seq) for row in runs} == {("received", 1)}
    assert sorted((row.run_id, row.step) for row in work) == sorted((run_id, "store_pdf") for run_id in expected)
    assert sorted((row.run_id, row.seq, row.to_status) for row in lifecycle) == sorted(
        (run_id, 1, "received") for run_id in expected), "the duplicate and the edit added no event"
    assert len({row.tx for row in runs} | {row.tx for row in work}) <= 2, \
        f"{COUNT} runs written in at most two transactions"
    reads = [s for s in statements if s.startswith("SELECT") and "FROM whitepaper_runs WHERE" in s]
    inserts = [s for s in statements
               if s.startswith(("INSERT INTO whitepaper_runs ", "INSERT INTO whitepaper_run_work"))]
    assert len(reads) <= 2 and len(inserts) <= 4, \
        f"a statement per group, not per event: {len(reads)} reads of runs, {len(inserts)} inserts"


async def test_an_event_sees_what_the_events_before_it_in_its_group_did(
        make_service: Factory, stub_http: StubHttpServer) -> None:
    service = make_service()
    service.advancer.concurrency = 0
    handler = IssueEventHandler(service.workflow)
    failed_run = run_id_of(stub_http, 11)

    async def group(*events: GithubIssueEvent) -> list[tuple[bool, str]]:
        """The events as the runtime hands one fetch over: prepared, handled in order, flushed, committed."""
        inbounds = [Inbound(event, MessageHeaders.new(topics.GITHUB_ISSUE_EVENTS.name), "t", 0, n, None,
                            datetime.now(UTC)) for n, event in enumerate(events)]
        async with service.runtime.engine.begin() as conn:
            await handler.prepare(conn, inbounds)
            outcomes = []
            for event in events:
                outcome = await service.workflow.ingest(conn, event, cause="test", batch=handler.batch)
                outcomes.append((outcome.accepted, outcome.reason))
            await handler.flush(conn)
        return outcomes

    async with service.runtime.running():
        assert await group(opened(stub_http, 10, "a"), opened(stub_http, 10, "a-again")) == [
            (True, "accepted"), (True, "idempotent_replay")]

        assert await group(opened(stub_http, 11, "b")) == [(True, "accepted")]
        async with service.runtime.engine.begin() as conn:  # the run failed, its work gone
            await conn.execute(sa.text("UPDATE whitepaper_runs SET status = 'failed', status_reason = 'test', "
                                       "seq = 2 WHERE run_id = :r"), {"r": failed_run})
            await conn.execute(sa.text("DELETE FROM whitepaper_run_work WHERE run_id = :r"), {"r": failed_run})
        assert await group(keyword_comment(stub_http, 11, "c-1"), keyword_comment(stub_http, 11, "c-2")) == [
            (True, "requeued"), (True, "already_in_progress")]
        runs = await rows(service, "SELECT run_id, status, seq FROM whitepaper_runs ORDER BY run_id")
        work = await rows(service, "SELECT run_id, step FROM whitepaper_run_work ORDER BY run_id")

    assert {(row.run_id, row.status, row.seq) for row in runs} == {
        (run_id_of(stub_http, 10), "received", 1), (failed_run, "received", 3)}, "requeued once"
    assert [(row.run_id, row.step) for row in work] == sorted(
        [(run_id_of(stub_http, 10), "store_pdf"), (failed_run, "store_pdf")])
