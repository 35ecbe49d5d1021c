"""Wall time and Postgres round trips of sequential deterministic runs over real HTTP (not part of the suite).

Run: ``cd /work/main && uv run pytest services/decision-engine/bench/bench_runs.py -q -s``
(the file name keeps it out of ``pytest services/decision-engine``). Prints ms per run (p50, mean) for
50 sequential POSTs each read to the end of their stream, and SQL statements and commits per run.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from torghut_contracts.decision_engine import STREAM_PATH
from torghut_decision_engine.app import build
from torghut_decision_engine.settings import DecisionEngineSettings
from torghut_decision_engine.testing import REQUEST_BODY, serve
from torghut_runtime.testing import test_settings

RUNS = 50


async def test_bench_sequential_deterministic_runs(kafka_bootstrap: str, fresh_database_url: str) -> None:
    settings = test_settings(DecisionEngineSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                             topic_prefix="", service_name="decision-engine")
    engine = build(settings, configure_logs=False)
    counts = {"statements": 0, "commits": 0}

    def on_statement(*_: Any) -> None:
        counts["statements"] += 1

    def on_commit(*_: Any) -> None:
        counts["commits"] += 1

    sync_engine = engine.runtime.engine.sync_engine
    sa.event.listen(sync_engine, "before_cursor_execute", on_statement)
    sa.event.listen(sync_engine, "commit", on_commit)
    async with serve(engine.runtime.asgi()) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        timings: list[float] = []
        for index in range(RUNS + 5):
            fresh = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
            trigger = dict(REQUEST_BODY["trigger"], event_ts=fresh)
            body = dict(REQUEST_BODY, request_id=f"bench-{index}", trigger=trigger)
            if index == 5:  # the first few warm up connections and caches
                counts.update(statements=0, commits=0)
            started = time.perf_counter()
            async with client.stream("POST", STREAM_PATH, json=body) as response:
                text = "".join([chunk async for chunk in response.aiter_text()])
            timings.append(time.perf_counter() - started)
            assert "event: decision.final" in text, text
        measured = timings[5:]
        await asyncio.gather(*engine.manager.tasks.values())  # the last run's task, before reading the counters
    print(f"\n{RUNS} sequential deterministic runs: p50 {statistics.median(measured) * 1000:.1f} ms, "
          f"mean {statistics.mean(measured) * 1000:.1f} ms, min {min(measured) * 1000:.1f} ms; "
          f"per run {counts['statements'] / RUNS:.1f} SQL statements, {counts['commits'] / RUNS:.1f} commits")
