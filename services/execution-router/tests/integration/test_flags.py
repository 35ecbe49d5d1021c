"""Feature flags: ``torghut_trading_lean_enabled`` flipped on the flag server moves the next order off or
onto the LEAN runner without a restart; a dead flag server restores the configured routing.
``torghut_trading_order_feed_enabled`` starts and stops the Alpaca trade-update stream without a restart."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from torghut_contracts import topics
from torghut_contracts.enums import Adapter, OrderStatus
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime.flags import FeatureFlagSettings, Flag
from torghut_runtime.testing import eventually, flag_features, flag_settings, flag_state, produce, read_records

pytestmark = pytest.mark.timeout(120)
LEAN = Flag.LEAN_ENABLED.key
FEED = Flag.ORDER_FEED_ENABLED.key




async def test_lean_routing_flag_flips_the_venue_live_and_falls_back_to_the_settings(
        offline_router: Any, fake_lean: Any, make_messages: Any, flags_server: FlagsServer) -> None:
    flags_server.write(flag_features(**{LEAN: True}))
    service = await offline_router(
        execution_primary_adapter="lean", lean_runner_url=fake_lean.base_url, execution_fallback_adapter="paper",
        execution_lean_symbols="NVDA", flag_settings=flag_settings(flags_server.url))
    registry = service.runtime.registry
    await service.store.save_control(make_messages["control"]())
    sent = 0

    async def venue_of_next_order() -> Adapter:
        nonlocal sent
        sent += 1
        approved = make_messages["approved"](f"coid-flag-{sent}")
        async with service.runtime.engine.begin() as conn:
            await service.intake(make_messages["inbound"](approved, topics.ORDERS_APPROVED.name), conn)
            await service.intake.flush(conn)
        execution = await service.store.get(approved.client_order_id)
        return Adapter(execution.venue)

    await service.flags.start()
    try:
        await eventually(lambda: flags_server.flags.requests > 0 and flag_state(registry, LEAN) is True,
                         what="first answer")
        assert await venue_of_next_order() is Adapter.LEAN

        flags_server.write(flag_features(**{LEAN: False}))  # no restart
        await eventually(lambda: flag_state(registry, LEAN) is False, what="the flag change")
        assert await venue_of_next_order() is Adapter.PAPER

        flags_server.stop()  # fallback: the configured value (EXECUTION_PRIMARY_ADAPTER=lean)
        await eventually(lambda: flag_state(registry, LEAN) is True, what="the fallback")
        assert await venue_of_next_order() is Adapter.LEAN
    finally:
        await service.flags.stop()


async def applied(service: Any, command_id: str) -> bool:
    return any(c.command_id == command_id for c in (await service.store.control_commands()).values())


def alpaca_settings(fake_alpaca: Any, **overrides: Any) -> dict[str, Any]:
    return {"execution_primary_adapter": "alpaca", "alpaca_api_key_id": fake_alpaca.key,
            "alpaca_api_secret_key": fake_alpaca.secret, "alpaca_base_url": fake_alpaca.base_url,
            "alpaca_stream_url": fake_alpaca.stream_url, **overrides}


async def test_order_feed_flag_starts_and_stops_the_alpaca_stream_live(
        live_router: Any, fake_alpaca: Any, flags_server: FlagsServer, kafka_bootstrap: str, router_prefix: str,
        make_messages: Any) -> None:
    m, prefix = make_messages, router_prefix
    flags_server.write(flag_features(**{FEED: False}))
    # ALPACA_STREAM_ENABLED is off: only the flag can turn the feed on, so the stream is built anyway.
    service = live_router(**alpaca_settings(fake_alpaca, alpaca_stream_enabled=False, reconcile_interval_s=3600),
                          flag_settings=flag_settings(flags_server.url))
    switch, registry = service.order_feed, service.runtime.registry
    assert switch is not None and service.stream is None

    def from_stream() -> float:
        return float(service.metrics.messages.labels(venue="alpaca", source="stream")._value.get())

    def reconnects() -> float:
        return float(service.metrics.reconciles.labels(venue="alpaca", trigger="reconnect")._value.get())

    async def updates(expect: int) -> list[Any]:
        records = await read_records(kafka_bootstrap, prefix + topics.TRADE_UPDATES.name, expect=expect)
        return [r.model(topics.TRADE_UPDATES) for r in records]

    async with service.runtime.running():
        await eventually(lambda: flags_server.flags.requests > 0 and flag_state(registry, FEED) is False,
                         what="first answer")
        assert fake_alpaca.connections == 0 and not switch.running
        command = m["control"]()
        await produce(kafka_bootstrap, prefix + topics.CONTROL.name, command, key=command.scope)
        await eventually(lambda: applied(service, command.command_id), what="the control command to be applied")
        order = m["approved"](qty="10")
        await produce(kafka_bootstrap, prefix + topics.ORDERS_APPROVED.name, order, key=order.account)
        await updates(expect=1)  # new: the submit's answer

        flags_server.write(flag_features(**{FEED: True}))  # no restart
        await eventually(lambda: len(fake_alpaca.sockets) == 1 and switch.running, what="the stream to connect")
        partial = fake_alpaca.set_fill(order.client_order_id, "4", "100")
        await fake_alpaca.push("partial_fill", partial, qty="4", price="100", position_qty="4")
        await eventually(lambda: from_stream() == 1, what="the partial fill to come in from the stream")

        flags_server.write(flag_features(**{FEED: False}))
        await eventually(lambda: not fake_alpaca.sockets and not switch.running, what="the stream to be closed")
        filled = fake_alpaca.set_fill(order.client_order_id, "10", "100.6")
        await fake_alpaca.push("fill", filled, qty="6", price="101", position_qty="10")  # nobody is listening

        before = reconnects()
        flags_server.write(flag_features(**{FEED: True}))
        await eventually(lambda: len(fake_alpaca.sockets) == 1 and reconnects() > before,
                         what="the stream back, reconciling")
        out = await updates(expect=3)
    await eventually(lambda: not fake_alpaca.sockets, what="the service's stop to close the stream")

    assert fake_alpaca.connections == 2 and switch.starts == 2
    assert from_stream() == 1, "the fill sent while the feed was off came from the reconciliation"
    assert [(u.event.value, u.order.status, u.fill_qty) for u in out] == [
        ("new", OrderStatus.NEW, None), ("partial_fill", OrderStatus.PARTIALLY_FILLED, D(4)),
        ("fill", OrderStatus.FILLED, D(6))]


async def test_with_flags_disabled_the_stream_is_the_settings_alone(offline_router: Any, fake_alpaca: Any) -> None:
    disabled = FeatureFlagSettings(enabled=False)
    on = await offline_router(**alpaca_settings(fake_alpaca, alpaca_stream_enabled=True), flag_settings=disabled)
    off = await offline_router(**alpaca_settings(fake_alpaca, alpaca_stream_enabled=False), flag_settings=disabled)
    assert on.stream is not None and on.order_feed is None
    assert off.stream is None and off.order_feed is None
