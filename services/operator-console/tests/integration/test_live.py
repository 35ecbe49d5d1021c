"""Pages update themselves: the event stream carries a panel again when its data changed, and says when the
read model is away; the account is folded once per fill however often the fill arrives."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import pytest
from httpx_sse import aconnect_sse
from sqlalchemy.engine import make_url
from torghut_contracts import topics
from torghut_contracts.examples import example
from torghut_embedded.tcp_proxy import TcpProxy
from torghut_runtime.testing import eventually

from .conftest import ConsoleFactory


def signal_count(html: str) -> int:
    match = re.search(r'data-stage="signals">\s*<span class="name">signals</span>\s*<span class="count" '
                      r'data-count="(\d+)"', html)
    assert match, html
    return int(match.group(1))


async def test_a_new_signal_reaches_an_open_page_without_a_reload(console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        async with aconnect_sse(client, "GET", "/events?panels=pipeline") as stream:
            assert stream.response.status_code == 200
            events = stream.aiter_sse()
            first = await anext(events)
            assert first.event == "pipeline" and signal_count(first.data) == 0
            await running.send(topics.TA_SIGNALS, example(topics.TA_SIGNALS.name))
            async with asyncio.timeout(20):
                async for event in events:
                    if event.event == "pipeline" and signal_count(event.data) == 1:
                        break


async def test_the_page_says_when_the_read_model_is_away_and_catches_up_after(
        console: ConsoleFactory, fresh_database_url: str) -> None:
    url = make_url(fresh_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async with console(database_url=through_proxy, database_pool_timeout_s=2) as running, \
                running.client() as client:
            async with aconnect_sse(client, "GET", "/events?panels=status,pipeline") as stream:
                events = stream.aiter_sse()
                async with asyncio.timeout(30):
                    async for event in events:
                        if event.event == "status" and "read model up" in event.data:
                            break
                    await proxy.stop()
                    async for event in events:
                        if event.event == "status" and "read model unreachable" in event.data:
                            break
                    await running.send(topics.TA_SIGNALS, example(topics.TA_SIGNALS.name))  # read while away
                    await proxy.start()
                    async for event in events:
                        if event.event == "pipeline" and signal_count(event.data) == 1:
                            break
    finally:
        await proxy.stop()


@pytest.mark.parametrize("same_message_id", [True, False], ids=["redelivered", "republished"])
async def test_a_fill_that_arrives_twice_moves_the_book_once(console: ConsoleFactory, same_message_id: bool) -> None:
    fill = example(topics.TRADE_UPDATES.name)
    async with console() as running, running.client() as client:
        first = await running.send(topics.TRADE_UPDATES, fill)
        await running.send(topics.TRADE_UPDATES, fill, message_id=first.message_id if same_message_id else None)
        await running.send(topics.TA_SIGNALS, example(topics.TA_SIGNALS.name))  # marks NVDA at 160.25

        async def marked() -> bool:
            return "160.25" in (await client.get("/account")).text
        await eventually(marked, what="the position marked at the signal")
        page = (await client.get("/account")).text
        row = re.search(r'<th scope="row">NVDA</th>(.*?)</tr>', page, re.S)
        assert row, page
        cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row.group(1))
        assert cells[0] == "10"  # not 20
        assert cells[-1] == f"{Decimal('10') * (Decimal('160.25') - Decimal('160.27')):,.2f}"  # -0.20
