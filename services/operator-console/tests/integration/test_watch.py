"""The watch asks the services for their readiness and the broker for their consumer groups' lag."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer, TopicPartition
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from torghut_contracts import topics
from torghut_contracts.examples import example
from torghut_embedded.asgi import serve
from torghut_operator_console.adapters.watch import ServiceWatch
from torghut_runtime.testing import create_topics_for, eventually, produce


def probe(ready: bool) -> Starlette:
    async def readyz(_: Request) -> JSONResponse:
        return JSONResponse({"checks": {"database": True, "broker": ready}}, status_code=200 if ready else 503)
    return Starlette(routes=[Route("/readyz", readyz)])


async def test_readiness_and_lag_per_service(kafka_bootstrap: str, topic_namespace: str) -> None:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.DECISIONS)
    name = topic_namespace + topics.DECISIONS.name
    for _ in range(5):
        await produce(kafka_bootstrap, name, example(topics.DECISIONS.name), key="paper-main")
    group = AIOKafkaConsumer(name, bootstrap_servers=kafka_bootstrap, enable_auto_commit=False,
                             group_id=f"{topic_namespace}risk-firewall.records", auto_offset_reset="earliest")
    await group.start()
    try:
        await group.getmany(timeout_ms=2000)
        await group.commit({TopicPartition(name, 0): 2})  # handled two of five
    finally:
        await group.stop()
    async with serve(probe(True)) as ready_url, serve(probe(False)) as failing_url:
        watch = ServiceWatch({"risk-firewall": ready_url, "execution-router": failing_url,
                              "gone": "http://127.0.0.1:9"}, kafka_bootstrap, topic_namespace, 0.2)
        task = asyncio.create_task(watch.run())
        try:
            states = {s.name: s for s in watch.services()}
            await eventually(lambda: states["risk-firewall"].lag is not None, what="the lag read")
            assert watch.broker_up is True
            assert (states["risk-firewall"].ready, states["risk-firewall"].lag) == (True, 3)
            assert states["execution-router"].ready is False and "broker" in states["execution-router"].detail
            assert states["execution-router"].lag is None  # no group of its name
            assert states["gone"].ready is False and "unreachable" in states["gone"].detail
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await watch.close()
