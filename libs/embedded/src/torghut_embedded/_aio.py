"""Asyncio helpers: run a coroutine from sync code; wait for a server to answer.

The stack's lifecycle is synchronous (context manager, pytest session fixtures, CLI), but its
readiness probes use aiokafka and asyncpg. ``asyncio.run`` fails when a loop is already running in
this thread (e.g. ``EmbeddedStack.start()`` called from inside an async test), so in that case the
coroutine runs on a fresh loop in a helper thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .errors import ServerExited

T = TypeVar("T")


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on its own event loop and return its result, whether or not a loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="torghut-embedded") as pool:
        return pool.submit(asyncio.run, coro).result()


async def wait_until_answers(
    probe: Callable[[], Awaitable[object]],
    *,
    what: str,
    deadline: float,
    alive: Callable[[], bool],
    attempt_timeout_s: float = 5.0,
) -> None:
    """Retry ``probe`` until it succeeds; stop at once if ``alive()`` turns False.

    The liveness watcher runs *concurrently* with each attempt, so a server that dies while an
    attempt hangs (e.g. a foreign process owns the port and accepts but never answers) is reported
    within milliseconds rather than after the attempt's timeout.

    Raises :class:`ServerExited` if the process died, TimeoutError at ``deadline`` (monotonic).
    """

    async def watch() -> None:
        # Polling is the only option: process exit is not an asyncio event we can await here.
        while alive():  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    last: BaseException | None = None
    try:
        while True:
            budget = max(0.05, min(attempt_timeout_s, deadline - time.monotonic()))
            attempt = asyncio.create_task(asyncio.wait_for(probe(), budget))
            done, _ = await asyncio.wait({attempt, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if attempt in done and attempt.exception() is None:
                return
            if watcher in done:
                attempt.cancel()
                await asyncio.gather(attempt, return_exceptions=True)
                raise ServerExited(f"the {what} process exited")
            last = attempt.exception()
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} did not answer; last error: {last!r}")
            await asyncio.sleep(0.02)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
