"""OrderFeedSwitch with stand-in feeds, the flag served by the embedded flag server: a feed that will not
close is cancelled, one that fails or ends on its own fails the loop (the runtime restarts it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from torghut_embedded.flags_server import FlagsServer
from torghut_execution_router.adapters.order_feed import OrderFeedSwitch
from torghut_runtime.flags import FeatureFlags, Flag
from torghut_runtime.testing import eventually, flag_features, flag_settings

pytestmark = pytest.mark.timeout(60)
FEED = Flag.ORDER_FEED_ENABLED


class StubFeed:
    """``behaviour``: ``reads`` until closed, ``deaf`` (ignores close), ``fails`` or ``ends`` on its own."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.closed = asyncio.Event()
        self.cancelled = False

    async def run(self) -> None:
        if self.behaviour == "fails":
            raise ConnectionError("venue refused the socket")
        if self.behaviour == "ends":
            return
        try:
            await (self.closed.wait() if self.behaviour == "reads" else asyncio.Event().wait())
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    async def close(self) -> None:
        self.closed.set()




@pytest.fixture
async def flags(flags_server: FlagsServer) -> AsyncIterator[FeatureFlags]:
    flags_server.write(flag_features(**{FEED.key: True}))
    flags = FeatureFlags(flag_settings(flags_server.url), {FEED: True}, service="execution-router")
    await flags.start()
    yield flags
    await flags.stop()


async def test_off_closes_the_feed_and_a_feed_deaf_to_close_is_cancelled(
        flags: FeatureFlags, flags_server: FlagsServer) -> None:
    feeds = [StubFeed("reads"), StubFeed("deaf")]
    made: list[StubFeed] = []

    def connect() -> StubFeed:
        made.append(feeds[len(made)])
        return made[-1]

    switch = OrderFeedSwitch(flags, connect, close_timeout_s=0.05)
    loop = asyncio.create_task(switch.run())
    try:
        await eventually(lambda: switch.running and len(made) == 1, what="the first feed")
        flags_server.write(flag_features(**{FEED.key: False}))
        await eventually(lambda: not switch.running, what="the first feed to close")
        assert feeds[0].closed.is_set() and not feeds[0].cancelled, "closed gently, not cancelled"

        flags_server.write(flag_features(**{FEED.key: True}))
        await eventually(lambda: switch.running and len(made) == 2, what="a fresh feed")
        flags_server.write(flag_features(**{FEED.key: False}))
        await eventually(lambda: not switch.running, what="the deaf feed to stop")
        assert feeds[1].cancelled, "a feed that does not end on close is cancelled"
        assert not loop.done() and switch.starts == 2
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


@pytest.mark.parametrize(("behaviour", "error"), [("fails", ConnectionError), ("ends", RuntimeError)])
async def test_a_feed_that_fails_or_ends_while_on_fails_the_loop(flags: FeatureFlags, behaviour: str,
                                                                 error: type[Exception]) -> None:
    switch = OrderFeedSwitch(flags, lambda: StubFeed(behaviour))
    with pytest.raises(error):
        await switch.run()
    assert not switch.running


async def test_stopping_the_loop_closes_the_feed(flags: FeatureFlags) -> None:
    feed = StubFeed("reads")
    switch = OrderFeedSwitch(flags, lambda: feed)
    loop = asyncio.create_task(switch.run())
    await eventually(lambda: switch.running, what="the feed")
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert feed.closed.is_set() and not feed.cancelled and not switch.running
