"""Benchmark: whitepaper-ingest alone, its own OS process, on the same broker and Postgres.

    uv run python -m bench.whitepaper_ingest [--issues 1200] [--edits 400] [--runs-in-flight N] [--json]

GitHub is the bench (signed deliveries), the PDF host and Jangar's AgentRun endpoint are one local
HTTP server speaking their protocols (:class:`torghut_whitepaper_ingest.testing.StubHttpServer`),
and the object store is a local directory. The service runs with its shipped defaults.

* **worker**: one ``issues/opened`` event per issue, each naming its own paper, is on
  ``torghut.github.issue-events.v1`` before the service starts (built exactly as the webhook builds
  them). The worker takes one event at a time: parse the issue, download the PDF, store it, dispatch
  the AgentRun, record the run and its events in the handler's transaction. The rate runs from the
  first ``dispatched`` run event to the last, so start-up and the group join are left out. The
  service's CPU from ready to the last run, per run, is the cost that does not depend on how the two
  cores were shared.
* **webhook**: then signed ``issues/edited`` deliveries of those same issues are POSTed by a few
  concurrent clients: deliveries accepted (HTTP 202, published to the topic) per second, first
  answer to last. The worker handles them meanwhile as replays of live runs (no download, no
  dispatch), as it would an editing spree on GitHub. One delivery at a time gives the latency of
  one webhook answer.
* **peak RSS** of the process (``VmHWM``) after both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from torghut_cli.demo.processes import ServiceProcess
from torghut_contracts import topics
from torghut_contracts.models import GithubIssueEvent
from torghut_embedded.kafka import create_test_topics, delete_topics
from torghut_embedded.postgres import create_database, drop_database
from torghut_embedded.stack import EmbeddedStack
from torghut_whitepaper_ingest.adapters.webhook import issue_event_headers
from torghut_whitepaper_ingest.domain.webhook import issue_event
from torghut_whitepaper_ingest.testing import (
    MINIMAL_PDF,
    StubHttpServer,
    agentrun_created,
    issue_body,
    issues_payload,
    pdf_reply,
    webhook_headers,
)

from .observe import Observer
from .procfs import cpu_seconds, peak_rss_mb
from .scrape import mean_ms, snapshot
from .stats import latency_summary

REPO = "torghut/bench-papers"
SECRET = "bench-webhook-secret"
AGENT_RUNS = "/v1/agent-runs"


def _paper(number: int) -> bytes:
    """A distinct small PDF per issue, so each run stores its own object."""
    return MINIMAL_PDF.replace(b"%PDF-1.4\n", f"%PDF-1.4\n% bench paper {number}\n".encode(), 1)


def _dispatched(_topic: str, _headers: dict[str, str], value: bytes) -> str | None:
    event = json.loads(value)
    return str(event["run_id"]) if event.get("status") == "dispatched" else None


async def _post_all(client: httpx.AsyncClient, deliveries: list[tuple[bytes, dict[str, str]]],
                    concurrency: int) -> tuple[list[float], list[int]]:
    """POST every delivery, ``concurrency`` at a time; answer times (perf_counter) and status codes."""
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for delivery in deliveries:
        queue.put_nowait(delivery)
    answered: list[float] = []
    codes: list[int] = []

    async def client_loop() -> None:
        while not queue.empty():
            body, headers = queue.get_nowait()
            response = await client.post("/webhooks/github", content=body, headers=headers)
            answered.append(time.perf_counter())
            codes.append(response.status_code)

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return answered, codes


async def _bench(bootstrap: str, admin_url: str, log_dir: Path, store_dir: Path, *, issues: int, edits: int,
                 concurrency: int, latency_samples: int, settings: dict[str, str]) -> dict[str, Any]:
    prefix = f"benchwp{uuid.uuid4().hex[:6]}."
    names = [prefix + s.name for s in (topics.GITHUB_ISSUE_EVENTS, topics.WHITEPAPER_RUNS)]
    await create_test_topics(bootstrap, names + [n + topics.DLQ_SUFFIX for n in names])
    database = f"bench_wp_{uuid.uuid4().hex[:8]}"
    database_url = await create_database(admin_url, database)
    stub = StubHttpServer().start()
    stub.route("POST", AGENT_RUNS, agentrun_created())
    urls = {}
    for number in range(1, issues + 1):
        path = f"/papers/{number}.pdf"
        stub.route("GET", path, pdf_reply(_paper(number)))
        urls[number] = stub.url(path)
    service = ServiceProcess("whitepaper-ingest", "torghut_whitepaper_ingest", {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": database_url, "TOPIC_PREFIX": prefix,
        "LOG_LEVEL": "WARNING", "KAFKA_SESSION_TIMEOUT_MS": "1000", "KAFKA_HEARTBEAT_INTERVAL_MS": "200",
        "KAFKA_FETCH_MAX_WAIT_MS": "20", "WHITEPAPER_WORKFLOW_ENABLED": "true", "GITHUB_WEBHOOK_SECRET": SECRET,
        "WHITEPAPER_PDF_ALLOWED_HOSTS": "127.0.0.1", "WHITEPAPER_AGENTRUN_SUBMIT_URL": stub.url(AGENT_RUNS),
        "WHITEPAPER_AGENTRUN_API_TOKEN": "bench-agentrun-token", "WHITEPAPER_OBJECT_STORE": "local",
        "WHITEPAPER_LOCAL_STORE_DIR": str(store_dir), "WHITEPAPER_WORKFLOW_API_TOKEN": "bench-control-token",
        **settings}, log_dir)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5)
    runs = Observer(bootstrap, [prefix + topics.WHITEPAPER_RUNS.name], _dispatched)
    try:
        await producer.start()
        now = datetime.now(UTC)
        futures = []
        for number, url in urls.items():
            event = issue_event("issues", f"bench-opened-{prefix}{number}",
                                issues_payload(REPO, number, issue_body(url)), now)
            assert isinstance(event, GithubIssueEvent), event
            futures.append(await producer.send(
                prefix + topics.GITHUB_ISSUE_EVENTS.name, topics.GITHUB_ISSUE_EVENTS.encode(event),
                key=topics.GITHUB_ISSUE_EVENTS.key(event).encode(), headers=issue_event_headers(event).as_kafka()))
        await asyncio.gather(*futures)
        await runs.start()
        service.start()
        await asyncio.to_thread(service.wait_ready, 120)
        assert service.process is not None
        cpu_ready = cpu_seconds(service.process.pid) or 0.0
        if not await runs.wait_until(lambda: len(runs.arrivals) >= issues, 300):
            raise TimeoutError(f"only {len(runs.arrivals)}/{issues} runs dispatched; log: {service.log_path}")
        worker_cpu_ms = ((cpu_seconds(service.process.pid) or 0.0) - cpu_ready) * 1000 / issues
        dispatched = sorted(runs.arrivals.values())
        worker_per_s = (issues - 1) / max(dispatched[-1] - dispatched[0], 1e-9)
        inside = mean_ms({}, await snapshot([(service.name, service.url)]))

        async with httpx.AsyncClient(base_url=service.url, timeout=30.0) as client:
            def edit(number: int, n: int) -> tuple[bytes, dict[str, str]]:
                body = json.dumps(issues_payload(REPO, number, issue_body(urls[number]) + f"\n\nedit {n}",
                                                 action="edited")).encode()
                return body, webhook_headers(SECRET, body, event="issues", delivery=f"bench-edit-{prefix}{n}")

            one_at_a_time = []
            for n in range(latency_samples):
                body, headers = edit(n % issues + 1, n)
                started = time.perf_counter()
                response = await client.post("/webhooks/github", content=body, headers=headers)
                one_at_a_time.append((time.perf_counter() - started) * 1000)
                if response.status_code != 202:
                    raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")
            deliveries = [edit(n % issues + 1, n) for n in range(latency_samples, latency_samples + edits)]
            started = time.perf_counter()
            answered, codes = await _post_all(client, deliveries, concurrency)
        refused = [c for c in codes if c != 202]
        webhook_per_s = len(answered) / max(max(answered) - started, 1e-9)
        stored = sum(1 for _ in store_dir.rglob("source.pdf"))
        rss = peak_rss_mb(service.process.pid) if service.process is not None else None
    finally:
        await runs.stop()
        await producer.stop()
        service.stop(grace_s=10)
        stub.stop()
        try:
            await delete_topics(bootstrap, names + [n + topics.DLQ_SUFFIX for n in names])
        finally:
            await drop_database(admin_url, database)
    return {"issues": issues, "runs_dispatched_per_s": round(worker_per_s, 1), "pdfs_stored": stored,
            "worker_cpu_ms_per_run": round(worker_cpu_ms, 2),
            "agentruns_submitted": len(stub.requests_to("POST", AGENT_RUNS)),
            "webhook_deliveries": edits, "webhook_concurrency": concurrency,
            "webhook_accepted_per_s": round(webhook_per_s, 1), "webhook_refused": len(refused),
            "webhook_latency": latency_summary(one_at_a_time), "peak_rss_mb": rss, "worker_inside_service": inside}


def run(bootstrap: str, admin_url: str, workdir: Path, *, issues: int = 100, edits: int = 400, concurrency: int = 8,
        latency_samples: int = 50, settings: dict[str, str] | None = None) -> dict[str, Any]:
    """Both parts on a started stack (synchronous: it runs its own event loop). ``settings``: environment
    over the service's shipped defaults (an A/B of one setting)."""
    return asyncio.run(_bench(bootstrap, admin_url, workdir / "logs", workdir / "whitepapers", issues=issues,
                              edits=edits, concurrency=concurrency, latency_samples=latency_samples,
                              settings=settings or {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--issues", type=int, default=1200, help="issues (runs) on the topic before the start")
    parser.add_argument("--edits", type=int, default=400, help="webhook deliveries POSTed after the runs")
    parser.add_argument("--runs-in-flight", type=int, help="WHITEPAPER_RUNS_IN_FLIGHT (default: the service's)")
    parser.add_argument("--json", action="store_true", help="print every figure as JSON too")
    args = parser.parse_args()
    settings = {} if args.runs_in_flight is None else {"WHITEPAPER_RUNS_IN_FLIGHT": str(args.runs_in_flight)}
    with tempfile.TemporaryDirectory(prefix="torghut-bench-wp-") as scratch, EmbeddedStack(Path(scratch)) as stack:
        figures = run(stack.kafka_bootstrap, stack.database_url, Path(scratch), issues=args.issues, edits=args.edits,
                      settings=settings)
    print("whitepaper-ingest benchmark" + (f" ({settings})" if settings else ""))
    print(f"  issues -> runs dispatched   {figures['runs_dispatched_per_s']:>8,.1f} /s  ({args.issues} runs)")
    print(f"  its CPU per run             {figures['worker_cpu_ms_per_run']:>8.2f} ms")
    print(f"  webhook deliveries accepted {figures['webhook_accepted_per_s']:>8,.1f} /s  ({args.edits} deliveries)")
    print(f"  peak RSS                    {figures['peak_rss_mb']} MB")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
