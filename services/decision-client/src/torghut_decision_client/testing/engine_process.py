"""The reference decision engine (services/decision-engine) as a real subprocess, over real HTTP.

The client never imports the engine's package: it starts ``python -m torghut_decision_engine`` with
fault injection on and a short heartbeat, waits for ``/healthz``, and talks to it like production.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx

ENGINE_MODULE = "torghut_decision_engine"


def engine_installed() -> bool:
    """Whether the engine's entry point exists in this environment (looked up, not imported)."""
    return importlib.util.find_spec(ENGINE_MODULE + ".__main__") is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EngineStartError(RuntimeError):
    pass


@contextlib.asynccontextmanager
async def reference_engine(*, kafka_bootstrap: str, database_url: str, heartbeat_s: float = 0.1,
                           run_timeout_s: float = 5.0, extra_env: Mapping[str, str] | None = None,
                           startup_timeout_s: float = 60.0) -> AsyncIterator[str]:
    """Yields the engine's base URL; the process is stopped (SIGTERM, then SIGKILL) on exit."""
    port = _free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "DECISION_ENGINE_FAULT_INJECTION": "true",
        "DECISION_ENGINE_HEARTBEAT_S": str(heartbeat_s),
        "DECISION_ENGINE_RUN_TIMEOUT_S": str(run_timeout_s),
        "DECISION_ENGINE_POLL_INTERVAL_S": "0.05",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "GRACEFUL_TIMEOUT_S": "2",
        **dict(extra_env or {}),
    }
    log_file = Path(tempfile.mkstemp(prefix="decision-engine-", suffix=".log")[1])
    url = f"http://127.0.0.1:{port}"
    with log_file.open("wb") as log:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", ENGINE_MODULE, env=env,
                                                       stdout=log, stderr=asyncio.subprocess.STDOUT)
    try:
        await _wait_healthy(process, url, log_file, startup_timeout_s)
        yield url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        with contextlib.suppress(OSError):
            log_file.unlink()


async def _wait_healthy(process: asyncio.subprocess.Process, url: str, log_file: Path, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with httpx.AsyncClient(timeout=1.0) as http:
        while loop.time() < deadline:
            if process.returncode is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url + "/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    tail = log_file.read_text(errors="replace")[-3000:] if log_file.exists() else ""
    raise EngineStartError(f"the reference engine did not become healthy (exit code {process.returncode}):\n{tail}")
