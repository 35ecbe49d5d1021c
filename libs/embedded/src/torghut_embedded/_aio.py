"""Run a coroutine to completion from synchronous code.

The stack's lifecycle is synchronous (context manager, pytest session fixtures, CLI), but its
readiness probes use aiokafka and asyncpg. ``asyncio.run`` fails when a loop is already running in
this thread (e.g. ``EmbeddedStack.start()`` called from inside an async test), so in that case the
coroutine runs on a fresh loop in a helper thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on its own event loop and return its result, whether or not a loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="torghut-embedded") as pool:
        return pool.submit(asyncio.run, coro).result()
