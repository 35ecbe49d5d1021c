"""SIGTERM with a decision stream open: the stream ends at once with ``decision.error shutting_down``.

The engine runs as its own process, so the signal goes through uvicorn's real handler. Before, an
open stream kept sending heartbeats until the graceful timeout and was then cut without a word.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from typing import Any

import httpx
from torghut_contracts.decision_engine import STREAM_PATH, DecisionError

from ..conftest import BodyFactory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_sigterm_ends_an_open_stream_with_shutting_down(kafka_bootstrap: str, fresh_database_url: str,
                                                              make_body: BodyFactory, tmp_path: Any) -> None:
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": fresh_database_url,
           "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(port), "LOG_LEVEL": "WARNING",
           "DECISION_ENGINE_FAULT_INJECTION": "true", "DECISION_ENGINE_HEARTBEAT_S": "0.2",
           "DECISION_ENGINE_RUN_TIMEOUT_S": "120", "GRACEFUL_TIMEOUT_S": "60", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    log = (tmp_path / "engine.log").open("wb")
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "torghut_decision_engine", env=env,
                                                   stdout=log, stderr=asyncio.subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    events: list[tuple[str | None, str, str]] = []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(600):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            async with client.stream("POST", STREAM_PATH, json=make_body(request_id="req-sigterm"),
                                     headers={"x-torghut-fault": "stall"}) as response:
                assert response.status_code == 200
                event_id, name = None, ""
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        event_id = line[4:]
                    elif line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        events.append((event_id, name, line[6:]))
                        event_id = None
                        if name == "decision.accepted":
                            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.close()
    names = [name for _, name, _ in events]
    assert names[0] == "decision.accepted" and names[-1] == "decision.error", events
    assert "decision.final" not in names and names.count("decision.error") == 1
    last_id, _, data = events[-1]
    error = DecisionError.model_validate(json.loads(data))
    assert (error.code, error.retryable) == ("shutting_down", True)
    assert last_id is None, "not an event of the run: a resume reads the run's own outcome"
    assert code in (0, -signal.SIGTERM), (tmp_path / "engine.log").read_text()[-3000:]  # uvicorn re-raises it
