"""Fixtures serving the local venue stand-ins (venues.py): ``fake_alpaca`` and ``fake_lean``, each in the
test's event loop under uvicorn on an ephemeral port; ``until``; and ``as_alpaca``, which reads a
published trade update with alpaca-py's own model and checks it says what ours says.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
import uvicorn
from alpaca.trading.models import TradeUpdate as AlpacaTradeUpdate
from starlette.applications import Starlette
from torghut_contracts import topics
from torghut_contracts.models import TradeUpdate
from torghut_runtime.testing import eventually

from .venues import FakeAlpaca, FakeLeanRunner


async def _serve(app: Starlette) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="test server start")
    return server, task, server.servers[0].sockets[0].getsockname()[1]


async def _stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    server.force_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture
async def fake_alpaca() -> AsyncIterator[FakeAlpaca]:
    fake = FakeAlpaca()
    server, task, port = await _serve(fake.app())
    fake.base_url = f"http://127.0.0.1:{port}"
    fake.stream_url = f"ws://127.0.0.1:{port}/stream"
    try:
        yield fake
    finally:
        await fake.drop_stream()
        await _stop(server, task)


@pytest.fixture
async def fake_lean() -> AsyncIterator[FakeLeanRunner]:
    fake = FakeLeanRunner()
    server, task, port = await _serve(fake.app())
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await _stop(server, task)


@pytest.fixture
def until() -> Callable[..., Awaitable[None]]:
    """``await until(condition, what=...)``: ``torghut_runtime.testing.eventually``, as a fixture."""
    return eventually


def _number(value: Any) -> Decimal | None:
    """alpaca-py keeps order quantities as the strings we sent and fill numbers as floats."""
    return None if value is None else Decimal(str(value))


def parse_as_alpaca(wire: bytes) -> tuple[TradeUpdate, AlpacaTradeUpdate]:
    """Parse a published trade update with alpaca-py's ``TradeUpdate`` and check it carries our facts."""
    ours = topics.TRADE_UPDATES.decode(wire)
    theirs = AlpacaTradeUpdate.model_validate(json.loads(wire))
    mine, alpaca = ours.order, theirs.order
    assert theirs.event == ours.event.value
    assert theirs.timestamp == ours.timestamp
    assert alpaca.id is not None and alpaca.id == mine.id
    assert (alpaca.client_order_id, alpaca.symbol) == (mine.client_order_id, mine.symbol)
    assert alpaca.side is not None and alpaca.side.value == mine.side.value
    assert (_number(alpaca.qty), _number(alpaca.filled_qty)) == (mine.qty, mine.filled_qty)
    assert _number(alpaca.filled_avg_price) == mine.filled_avg_price
    assert alpaca.status.value == mine.status.value
    assert alpaca.type is not None and alpaca.order_type == alpaca.type and alpaca.type.value == mine.order_type.value
    assert _number(alpaca.limit_price) == mine.limit_price
    assert alpaca.time_in_force.value == mine.time_in_force.value
    assert (alpaca.created_at, alpaca.submitted_at, alpaca.updated_at) == \
        (mine.created_at, mine.submitted_at, mine.updated_at)
    assert (alpaca.extended_hours, alpaca.order_class.value) == (mine.extended_hours, mine.order_class.value)
    # the fill, under Alpaca's names and ours
    assert (_number(theirs.qty), _number(theirs.price)) == (ours.fill_qty, ours.fill_price) == (ours.qty, ours.price)
    assert _number(theirs.position_qty) == ours.position_qty
    assert theirs.execution_id == ours.execution_id
    return ours, theirs


@pytest.fixture
def as_alpaca() -> Callable[[bytes], tuple[TradeUpdate, AlpacaTradeUpdate]]:
    """``as_alpaca(wire)`` -> (ours, alpaca-py's): parsed both ways, the same facts asserted."""
    return parse_as_alpaca
