"""Account snapshots on ``torghut.account.snapshots.v1``: at start-up, on a timer, and after fills.

They come from the account venue: the primary, or the fallback when the primary is LEAN.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from torghut_contracts import topics
from torghut_contracts.models import AccountSnapshot
from torghut_runtime.wake import Wake

from .adapters.metrics import RouterMetrics
from .adapters.venues.base import AccountSource, VenueUnavailable

log = structlog.get_logger("torghut.execution.router")
Publish = Callable[..., Awaitable[Any]]


def _now() -> datetime:
    return datetime.now(UTC)


class SnapshotPublisher:
    def __init__(self, account: str, source: AccountSource | None, publish: Publish, metrics: RouterMetrics,
                 wake: Wake, *, interval_s: float, fill_settle_s: float = 0.0,
                 clock: Callable[[], datetime] = _now) -> None:
        self.account = account
        self.source = source
        """The account venue; None when there is none (LEAN with no fallback): nothing is published."""
        self.publish = publish
        self.metrics = metrics
        self.wake = wake
        """Notified on a fill at the account venue (``ExecutionRecorder``)."""
        self.interval_s = interval_s
        self.fill_settle_s = fill_settle_s
        self.clock = clock

    async def publish_snapshot(self, trigger: str) -> AccountSnapshot | None:
        if self.source is None:
            return None
        try:
            snapshot = await self.source.account_snapshot(self.account, self.clock())
        except VenueUnavailable as exc:
            log.warning("account snapshot unavailable", venue=self.source.name.value, error=str(exc))
            return None
        await self.publish(topics.ACCOUNT_SNAPSHOTS, snapshot)
        self.metrics.snapshots.labels(venue=self.source.name.value, trigger=trigger).inc()
        return snapshot

    async def run(self) -> None:
        trigger = "startup"
        while True:
            await self.publish_snapshot(trigger)
            reasons = await self.wake.wait(self.interval_s)
            trigger = "fill" if "fill" in reasons else "timer"
            if trigger == "fill" and self.fill_settle_s > 0:
                # Partial fills and the orders of one decision come in bursts: one snapshot after the
                # burst. And a fill placed in the consumer's transaction is still being published;
                # the snapshot should not compete with it for this process.
                await asyncio.sleep(self.fill_settle_s)
                self.wake.drain()  # the fills of the burst: this snapshot covers them
