"""An approved order read before the control command produced ahead of it is judged on that command.

The router reads control and approved orders with separate consumers, so it can handle an order
first. Before refusing on the posture it waits for every command on the control topic to be applied
(bounded by ``EXECUTION_CONTROL_READ_THROUGH_S``), and only then, or when that runs out, decides.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from torghut_contracts import topics
from torghut_contracts.enums import OrderStatus, TradeEvent
from torghut_execution_router.handlers import ControlHandler
from torghut_runtime.testing import produce, read_records


@pytest.fixture
def slow_control(monkeypatch: pytest.MonkeyPatch) -> None:
    """The router applies a control command a second late, as a backed-up consumer would."""
    apply = ControlHandler.on_control

    async def late(self: ControlHandler, inbound: Any, conn: Any) -> Any:
        await asyncio.sleep(1.0)
        return await apply(self, inbound, conn)

    monkeypatch.setattr(ControlHandler, "on_control", late)


async def send_control_then_order(kafka_bootstrap: str, prefix: str, messages: Any) -> Any:
    command, order = messages["control"](), messages["approved"](limit="50")
    await produce(kafka_bootstrap, prefix + topics.CONTROL.name, command, key=command.scope)
    await produce(kafka_bootstrap, prefix + topics.ORDERS_APPROVED.name, order, key=order.account)
    return order


async def test_an_order_read_before_the_command_ahead_of_it_waits_for_that_command(
        slow_control: None, live_router: Any, kafka_bootstrap: str, router_prefix: str, make_messages: Any) -> None:
    service = live_router()
    async with service.runtime.running():
        order = await send_control_then_order(kafka_bootstrap, router_prefix, make_messages)
        records = await read_records(kafka_bootstrap, router_prefix + topics.TRADE_UPDATES.name, expect=1)
        row = await service.store.get(order.client_order_id)

    update = records[0].model(topics.TRADE_UPDATES)
    assert (update.order.client_order_id, update.event) == (order.client_order_id, TradeEvent.NEW)
    assert row is not None and row.reject_reason is None


async def test_a_command_not_applied_in_time_leaves_the_order_refused(
        slow_control: None, live_router: Any, kafka_bootstrap: str, router_prefix: str, make_messages: Any) -> None:
    service = live_router(execution_control_read_through_s=0.2)
    async with service.runtime.running():
        order = await send_control_then_order(kafka_bootstrap, router_prefix, make_messages)
        records = await read_records(kafka_bootstrap, router_prefix + topics.TRADE_UPDATES.name, expect=1)
        row = await service.store.get(order.client_order_id)

    update = records[0].model(topics.TRADE_UPDATES)
    assert (update.event, update.order.status) == (TradeEvent.REJECTED, OrderStatus.REJECTED)
    assert row is not None and row.reject_reason == "control_state_unknown"
