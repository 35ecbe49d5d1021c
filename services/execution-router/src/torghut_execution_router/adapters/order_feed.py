"""The order feed switched by ``torghut_trading_order_feed_enabled`` at run time.

With feature flags enabled the Alpaca trade-update stream runs while the flag is on: a flip reaches
the service with the flag refresh that brings it (``FeatureFlags.on_change``), and the stream is
started or stopped then, without a restart. Nothing is lost that is not already covered: the stream
never replays what it missed, so every (re)connection, a start by the flag included, asks for a REST
reconciliation, and the periodic reconciler runs whether the feed is on or off.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

import structlog
from torghut_runtime.flags import FeatureFlags, Flag

log = structlog.get_logger("torghut.execution.order_feed")

FLAG = Flag.ORDER_FEED_ENABLED


class OrderFeed(Protocol):
    """A venue's order-event stream (:class:`~.venues.alpaca.stream.AlpacaTradeUpdates`)."""

    async def run(self) -> None:
        """Read events until :meth:`close`; reconnecting is the feed's own business."""

    async def close(self) -> None:
        """Stop reading: the event being recorded finishes, then :meth:`run` returns."""


class OrderFeedSwitch:
    """Runs a fresh order feed each time the flag turns on and closes it when the flag turns off.

    :meth:`run` is the service's background loop in place of the feed's own. A feed that fails is
    left to fail the loop, so the runtime logs it and restarts it after a backoff, as it would the
    feed without flags.
    """

    def __init__(self, flags: FeatureFlags, connect: Callable[[], OrderFeed], *, close_timeout_s: float = 10.0) -> None:
        self.flags = flags
        self.connect = connect
        self.close_timeout_s = close_timeout_s
        """How long a closing feed may take to finish the event in hand before it is cancelled."""
        self.feed: OrderFeed | None = None
        """The feed running now, if any."""
        self.starts = 0
        self._flipped = asyncio.Event()
        flags.on_change(FLAG, lambda _value: self._flipped.set())

    @property
    def running(self) -> bool:
        return self.feed is not None

    async def run(self) -> None:
        while True:
            await self._until(on=True)
            feed = self.feed = self.connect()
            self.starts += 1
            log.info("order feed started", flag=FLAG.key, source=self.flags.source(FLAG))
            reading = asyncio.create_task(feed.run(), name="order-feed")
            try:
                await self._until_off_or_ended(reading)
            finally:
                await self._close(feed, reading)
                self.feed = None

    async def _until_off_or_ended(self, reading: asyncio.Task[None]) -> None:
        turned_off = asyncio.create_task(self._until(on=False), name="order-feed-flag")
        try:
            await asyncio.wait({reading, turned_off}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            turned_off.cancel()
        if reading.done():
            reading.result()  # a failure goes to the runtime, which restarts this loop
            raise RuntimeError("the order feed ended on its own while the flag is on")
        log.info("order feed stopping: the flag is off", flag=FLAG.key, source=self.flags.source(FLAG))

    async def _until(self, *, on: bool) -> None:
        while self.flags.value(FLAG) is not on:
            self._flipped.clear()
            await self._flipped.wait()

    async def _close(self, feed: OrderFeed, reading: asyncio.Task[None]) -> None:
        """Close the feed gently (the event being recorded finishes); cancel it if it does not end in time."""
        if not reading.done():
            try:
                await feed.close()
            except Exception:
                log.exception("order feed close failed; cancelling it")
            await asyncio.wait({reading}, timeout=self.close_timeout_s)
        if not reading.done():
            reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reading
        log.info("order feed stopped")
