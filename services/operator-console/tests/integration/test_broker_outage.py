"""The broker going away and coming back, as the console sees it: a broker of the test's own behind a
TCP proxy, advertising the proxy's port, so every connection the console makes (the projection's
consumers, the watch, the producer) goes through the proxy and a stopped proxy is the broker gone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from httpx_sse import ServerSentEvent, aconnect_sse
from torghut_contracts import topics
from torghut_contracts.examples import example
from torghut_embedded import kafka
from torghut_embedded.processes import free_port, spawn, stop_processes
from torghut_embedded.tcp_proxy import TcpProxy
from torghut_runtime.testing import create_topics_for, eventually

from .conftest import READ, ConsoleFactory
from .test_live import signal_count

HOST = "127.0.0.1"


@pytest.fixture
async def broker_behind_proxy(tmp_path: Path) -> AsyncIterator[TcpProxy]:
    """A Tansu broker listening on a port nobody is told, advertising the proxy's: ``proxy.port``."""
    listen = free_port(HOST)
    proxy = TcpProxy(HOST, listen)
    argv = kafka.tansu_argv(kafka.tansu_binary(tmp_path / "bin"), HOST, listen)
    argv[argv.index("--advertised-listener-url") + 1] = f"tcp://{HOST}:{proxy.port}"
    process, record = spawn("kafka", argv, log_path=tmp_path / "tansu.log", env=kafka.tansu_env(),
                            tie_to_parent=True)
    await proxy.start()
    try:
        await kafka.wait_kafka(f"{HOST}:{proxy.port}", time.monotonic() + 30, lambda: process.poll() is None)
        yield proxy
    finally:
        await proxy.stop()
        stop_processes([record], grace_s=5, children={process.pid: process})


class Stream:
    """The open page's events, waited on stage by stage; a timeout names the stage that did not come."""

    def __init__(self, events: AsyncIterator[ServerSentEvent]) -> None:
        self.events = events
        self.status = self.pipeline = ""

    async def until(self, what: str, done: Callable[[Stream], bool], timeout_s: float = 45) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                while not done(self):
                    event = await anext(self.events)
                    if event.event in ("status", "pipeline"):
                        setattr(self, event.event, event.data)
        except TimeoutError:
            raise AssertionError(f"no {what} within {timeout_s} s; status: {self.status!r}") from None


def signals(count: int) -> Callable[[Stream], bool]:
    return lambda page: bool(page.pipeline) and signal_count(page.pipeline) == count


async def test_the_page_says_when_the_broker_is_away_and_projects_new_messages_after_it_returns(
        console: ConsoleFactory, broker_behind_proxy: TcpProxy, prefix: str) -> None:
    proxy, bootstrap = broker_behind_proxy, f"{HOST}:{broker_behind_proxy.port}"
    await create_topics_for(bootstrap, prefix, *READ)
    signal = example(topics.TA_SIGNALS.name)
    async with console(kafka_bootstrap=bootstrap) as running, running.client() as client:
        async with aconnect_sse(client, "GET", "/events?panels=status,pipeline") as sse:
            page = Stream(sse.aiter_sse())
            await running.send(topics.TA_SIGNALS, signal)
            await page.until("broker up", lambda p: "broker up" in p.status)
            await page.until("first signal projected", signals(1))
            await proxy.stop()
            try:
                await page.until("broker unreachable", lambda p: "broker unreachable" in p.status)
            finally:
                await proxy.start()  # back, also after a failure
            await page.until("broker up again", lambda p: "broker up" in p.status)
            await running.send(topics.TA_SIGNALS, signal.model_copy(update={"seq": signal.seq + 1}))
            await running.send(topics.DECISIONS, example(topics.DECISIONS.name), correlation_id="after-1")
            await page.until("signal produced after the return projected", signals(2))

        async def decision_shown() -> bool:
            return "/chain/after-1" in (await client.get("/decisions")).text
        await eventually(decision_shown, what="the decision produced after the broker's return on the page")
