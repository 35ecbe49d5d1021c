"""Wall time and Postgres round trips of sequential deterministic runs over real HTTP (not part of the suite).

Run: ``cd /work/main && uv run pytest services/decision-engine/bench/bench_runs.py -q -s``
(the file name keeps it out of ``pytest services/decision-engine``). Prints ms per run (p50, mean) for
50 sequential POSTs each read to the end of their stream, and SQL statements and commits per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
from torghut_contracts.decision_engine import STREAM_PATH
from torghut_decision_engine.app import build
from torghut_decision_engine.settings import DecisionEngineSettings
from torghut_runtime.testing import test_settings

RUNS = 50
BODY: dict[str, Any] = {
    "symbol": "NVDA", "strategy_id": "intraday-v3-momentum-01",
    "trigger": {"type": "signal_cross", "source": "torghut-ta", "direction": "buy", "price": "160",
                "features": {"macd": "1.2", "macd_signal": "0.8", "rsi14": "61.4", "spread_bps": "5.1"}},
    "portfolio": {"equity": "100000", "buying_power": "250000", "current_exposure": "42000",
                  "position": {"symbol": "NVDA", "qty": "40", "market_value": "6400"}},
    "risk_policy": {"max_notional_per_trade": "7000", "max_position_pct_equity": "0.08",
                    "kill_switch_enabled": False},
    "execution_context": {"primary_adapter": "alpaca", "lean_enabled": True, "mode": "paper"},
}


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    # proto IPPROTO_TCP, not 0: only then does asyncio turn on TCP_NODELAY (else Nagle adds ~40 ms a stream)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(1000):
            if server.started:
                break
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        sock.close()


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
            body = dict(BODY, request_id=f"bench-{index}",
                        trigger=dict(BODY["trigger"], event_ts=(datetime.now(UTC) - timedelta(seconds=1)).isoformat()))
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
