"""After fills the account snapshot waits SNAPSHOT_FILL_SETTLE_MS: a burst of fills, one snapshot."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from torghut_contracts import topics


async def test_a_burst_of_fills_gives_one_snapshot(offline_router: Any) -> None:
    service = await offline_router(snapshot_fill_settle_ms=200, snapshot_interval_s=3600)
    snapshots = service.snapshots
    published: asyncio.Queue[Any] = asyncio.Queue()

    async def record(spec: Any, message: Any, **_: Any) -> None:
        assert spec is topics.ACCOUNT_SNAPSHOTS
        published.put_nowait(message)

    snapshots.publish = record
    loop = asyncio.create_task(snapshots.run())
    try:
        await asyncio.wait_for(published.get(), 10)  # the start-up snapshot
        snapshots.wake.notify("fill")
        await asyncio.sleep(0.05)  # the loop is now settling
        snapshots.wake.notify("fill")
        snapshots.wake.notify("fill")
        await asyncio.wait_for(published.get(), 10)
        await asyncio.sleep(0.4)  # twice the settle time: a second snapshot would have been published
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert published.empty(), "the burst gave one snapshot"
    assert service.metrics.snapshots.labels(venue="paper", trigger="fill")._value.get() == 1
