"""An ASGI app on a free loopback port, for the local stand-ins tests talk to over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any


def server(app: Any, port: int = 0) -> Any:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=1)
    return uvicorn.Server(config)


def _url(running: Any) -> str:
    return f"http://127.0.0.1:{running.servers[0].sockets[0].getsockname()[1]}"


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` inside the running loop; yields ``http://127.0.0.1:PORT``; stops it (and open streams) on exit."""
    running = server(app)
    task = asyncio.create_task(running.serve())
    try:
        for _ in range(500):
            if running.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not running.started:
            raise RuntimeError("local test server did not start")
        yield _url(running)
    finally:
        running.should_exit = True
        running.force_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=5)


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve ``app`` on its own thread and event loop (for synchronous callers such as dspy); yields the URL."""
    running = server(app)
    thread = threading.Thread(target=running.run, name="loopback-server", daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if running.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not running.started:
            raise RuntimeError("local test server did not start")
        yield _url(running)
    finally:
        running.should_exit = True
        thread.join(timeout=5)
