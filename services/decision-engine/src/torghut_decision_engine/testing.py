"""What the engine's tests and benches share: a realistic request and a real uvicorn server."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from torghut_contracts.decision_engine import DecisionRequest

REQUEST_BODY: dict[str, Any] = {
    "request_id": "req-1",
    "symbol": "NVDA",
    "strategy_id": "intraday-v3-momentum-01",
    "trigger": {"type": "signal_cross", "source": "torghut-ta", "direction": "buy", "price": "160",
                "features": {"macd": "1.2", "macd_signal": "0.8", "rsi14": "61.4", "spread_bps": "5.1"}},
    "portfolio": {"equity": "100000", "buying_power": "250000", "current_exposure": "42000",
                  "position": {"symbol": "NVDA", "qty": "40", "market_value": "6400"}},
    "risk_policy": {"max_notional_per_trade": "7000", "max_position_pct_equity": "0.08",
                    "kill_switch_enabled": False},
    "execution_context": {"primary_adapter": "alpaca", "lean_enabled": True, "mode": "paper"},
}
"""A decision request as the decision-client sends it (JSON), for tests to vary."""


def decision_request(now: datetime | None = None) -> DecisionRequest:
    """``REQUEST_BODY`` as a request whose trigger is a second old (at ``now``, default the wall clock)."""
    body = copy.deepcopy(REQUEST_BODY)
    body["trigger"]["event_ts"] = ((now or datetime.now(UTC)) - timedelta(seconds=1)).isoformat()
    return DecisionRequest.model_validate(body)


def free_socket() -> socket.socket:
    # proto IPPROTO_TCP, not 0: only then does asyncio turn on TCP_NODELAY (else Nagle adds ~40 ms a stream)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with real uvicorn on a free loopback port; yields its base URL."""
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(400):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        sock.close()
